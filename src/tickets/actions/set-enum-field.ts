/**
 * SET_PRIORITY and SET_CATEGORY: set one enum column to one value. Closed tickets are
 * read-only (FORBIDDEN); a ticket already at the value is NO_CHANGE.
 */
import type { BulkAction } from "../../bulk/action.ts";
import type { EnumDescriptor } from "../../bulk/action-schema.ts";
import { TICKET_CATEGORY_ENUM, TICKET_PRIORITY_ENUM } from "../model.ts";
import { enumParam } from "./params.ts";
import { sql } from "kysely";
import { closedIsReadOnlySql, noChangeWhen, ticketChangeLedger } from "./ticket-change.ts";

function setEnumField<F extends "priority" | "category">(
  type: string,
  field: F,
  values: EnumDescriptor,
): BulkAction<Record<F, string>> {
  return {
    type,
    requiredRole: "AGENT",
    graphql: {
      input: { type: { fields: { [field]: { type: values, required: true } } } },
      output: { fields: { [field]: { type: values } } },
    },
    // A cast kept: an object with a computed key of a generic F types as { [x: string]: string }, not Record<F, string>.
    parseParams: (raw) => Promise.resolve({ [field]: enumParam(raw, field, values.values) } as Record<F, string>),
    ledgerSql: (chunk) => {
      const value = chunk.params[field];
      return ticketChangeLedger(chunk, { [field]: value }, [
        closedIsReadOnlySql,
        noChangeWhen(sql`${sql.ref(`t.${field}`)} = ${value}`, `Already ${value}.`),
      ]);
    },
  };
}

export const setPriority = setEnumField("SET_PRIORITY", "priority", TICKET_PRIORITY_ENUM);
export const setCategory = setEnumField("SET_CATEGORY", "category", TICKET_CATEGORY_ENUM);
