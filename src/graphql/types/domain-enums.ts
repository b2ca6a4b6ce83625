/**
 * The GraphQL enums of a domain's vocabulary (action-schema.ts EnumDescriptor), one type per
 * name: the ticket types and the bulk action types built from the same descriptor share it.
 * The domain's GraphQL module defines its enums first (defineDomainEnum: typed by their values,
 * so e.g. a TicketFilter's statuses are TicketStatus[]); the action types built later reuse them.
 */
import type { EnumRef } from "@pothos/core";
import type { EnumDescriptor } from "../../bulk/action-schema.ts";
import { builder, type Types } from "../builder.ts";

const built = new Map<string, { values: string; ref: EnumRef<Types, string, string> }>();

/** The first definition of a domain enum, typed by its values; refused when the name is taken. */
export function defineDomainEnum<V extends string>(descriptor: EnumDescriptor<V>): EnumRef<Types, V, V> {
  if (built.has(descriptor.enum)) throw new Error(`Enum ${descriptor.enum} is already defined.`);
  const ref = builder.enumType(descriptor.enum, { description: descriptor.description, values: descriptor.values });
  built.set(descriptor.enum, { values: descriptor.values.join(","), ref });
  return ref;
}

/** A domain enum by its descriptor: the one defined already, or a new one. */
export function domainEnum(descriptor: EnumDescriptor): EnumRef<Types, string, string> {
  const values = descriptor.values.join(",");
  const known = built.get(descriptor.enum);
  if (known && known.values !== values) {
    throw new Error(`Enum ${descriptor.enum} is declared with values ${known.values} and ${values}.`);
  }
  return known ? known.ref : defineDomainEnum(descriptor);
}
