/** Parameter checks shared by the ticket actions. */
import { ActionParamsError } from "../../bulk/action.ts";

export function enumParam<T extends string>(raw: unknown, field: string, values: readonly T[]): T {
  const value = (raw as Record<string, unknown> | null)?.[field];
  if (typeof value !== "string" || !values.includes(value as T)) {
    throw new ActionParamsError(field, `${field} must be one of ${values.join(", ")}.`);
  }
  return value as T;
}
