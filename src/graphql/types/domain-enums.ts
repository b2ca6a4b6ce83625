/**
 * The GraphQL enums of a domain's vocabulary (action-schema.ts EnumDescriptor), one type per
 * name: the ticket types and the bulk action types built from the same descriptor share it.
 */
import type { EnumRef } from "@pothos/core";
import type { EnumDescriptor } from "../../bulk/action-schema.ts";
import { builder, type Types } from "../builder.ts";

const built = new Map<string, { values: string; ref: EnumRef<Types, string, string> }>();

export function domainEnum(descriptor: EnumDescriptor): EnumRef<Types, string, string> {
  const values = descriptor.values.join(",");
  const known = built.get(descriptor.enum);
  if (known && known.values !== values) {
    throw new Error(`Enum ${descriptor.enum} is declared with values ${known.values} and ${values}.`);
  }
  if (known) return known.ref;
  const ref = builder.enumType(descriptor.enum, { description: descriptor.description, values: descriptor.values });
  built.set(descriptor.enum, { values, ref });
  return ref;
}
