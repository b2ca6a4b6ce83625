/** Reading the audit trail: one tenant's events newest first, keyset-paginated on (tenant_id, id). */
import type { Db } from "../db/database.ts";
import type { PageRequest } from "../graphql/pagination.ts";

export interface AuditRow {
  id: string;
  tenant_id: string;
  actor_id: string | null;
  action: string;
  subject: string;
  data: unknown;
  ip: string | null;
  user_agent: string | null;
  created_at: Date;
}

/** limit rows past `seek` (an id) in the request's direction: one range scan of audit_events_tenant_idx. */
export async function listAuditEvents(db: Db, tenantId: string, request: PageRequest): Promise<AuditRow[]> {
  const forward = request.direction === "forward"; // forward = newest first
  let query = db.selectFrom("audit_events").selectAll().where("tenant_id", "=", tenantId);
  if (request.seek) query = query.where("id", forward ? "<" : ">", String(request.seek[0]));
  return await query.orderBy("id", forward ? "desc" : "asc").limit(request.limit).execute() as AuditRow[];
}
