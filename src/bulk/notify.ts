/**
 * NOTIFY helpers. Sent inside the transaction, so PostgreSQL delivers them at commit and
 * never for a rolled-back change. One per chunk, never per item: a NOTIFY-ing commit
 * takes a global lock (../shared/STACK.md).
 */
import { sql } from "kysely";
import type { Tx } from "./action.ts";
import { PROGRESS_CHANNEL, progressPayload } from "./events.ts";

/** Wakes idle workers in every process: new claimable jobs exist. */
export const JOBS_CHANNEL = "bulk_jobs";

export async function notifyProgress(tx: Tx, tenantId: string, operationId: string): Promise<void> {
  await sql`SELECT pg_notify(${PROGRESS_CHANNEL}, ${progressPayload({ tenantId, operationId })})`.execute(tx);
}

export async function notifyJobs(tx: Tx): Promise<void> {
  await sql`SELECT pg_notify(${JOBS_CHANNEL}, '')`.execute(tx);
}
