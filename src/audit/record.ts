/**
 * The audit trail (migrations/0008 audit_events): token mints and revocations and every
 * single-ticket mutation, with who, what, when and the request's IP and User-Agent. Bulk
 * operations keep their own ledger (bulk_operation_events), which carries the same origin.
 */
import type { Kysely, Transaction } from "kysely";
import type { Database } from "../db/tables.ts";

/** Where a request came from; null fields for the operator's CLI or the engine. */
export interface RequestOrigin {
  ip: string | null;
  userAgent: string | null;
}

export const CLI_ORIGIN: RequestOrigin = { ip: null, userAgent: "deno task token" };

export interface AuditEvent {
  tenantId: string;
  actorId: string | null;
  /** What happened, e.g. TOKEN_MINTED, TICKET_UPDATED. */
  action: string;
  /** What it happened to: a token id, a ticket id. */
  subject: string;
  data?: Record<string, unknown>;
  origin: RequestOrigin;
}

/** The User-Agent as stored: at most 500 characters (the column's CHECK). */
export function storedUserAgent(userAgent: string | null): string | null {
  return userAgent === null ? null : userAgent.slice(0, 500);
}

/** Records one event; pass the mutation's transaction so the act and its record commit together. */
export async function recordAudit(db: Kysely<Database> | Transaction<Database>, event: AuditEvent): Promise<void> {
  await db.insertInto("audit_events").values({
    tenant_id: event.tenantId,
    actor_id: event.actorId,
    action: event.action,
    subject: event.subject,
    data: JSON.stringify(event.data ?? {}),
    ip: event.origin.ip,
    user_agent: storedUserAgent(event.origin.userAgent),
  }).execute();
}
