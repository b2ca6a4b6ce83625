/** Reading the audit trail: one tenant's events newest first, keyset-paginated on (tenant_id, id). */
import type { Selectable } from "kysely";
import type { Db } from "../db/database.ts";
import type { AuditEventsTable } from "../db/tables.ts";
import type { PageRequest } from "../graphql/pagination.ts";

/** An audit_events row as Kysely selects it. */
export type AuditRow = Selectable<AuditEventsTable>;

/** limit rows past `seek` (an id) in the request's direction: one range scan of audit_events_tenant_idx. */
export async function listAuditEvents(
  db: Db,
  tenantId: string,
  request: PageRequest<[id: string]>,
): Promise<AuditRow[]> {
  const forward = request.direction === "forward"; // forward = newest first
  let query = db.selectFrom("audit_events").selectAll().where("tenant_id", "=", tenantId);
  if (request.seek) query = query.where("id", forward ? "<" : ">", request.seek[0]);
  return await query.orderBy("id", forward ? "desc" : "asc").limit(request.limit).execute();
}
