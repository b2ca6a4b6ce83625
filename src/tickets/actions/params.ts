/** Parameter checks shared by the ticket actions. */
import { ActionParamsError } from "../../bulk/action.ts";
import { fieldOf, isOneOf } from "../../guards.ts";

export function enumParam<T extends string>(raw: unknown, field: string, values: readonly T[]): T {
  const value = fieldOf(raw, field);
  if (typeof value !== "string" || !isOneOf(values, value)) {
    throw new ActionParamsError(field, `${field} must be one of ${values.join(", ")}.`);
  }
  return value;
}
