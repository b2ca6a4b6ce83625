/**
 * The audit trail for ADMINs: token mints and revocations and every single-ticket mutation
 * (src/audit/record.ts), newest first. Bulk operations have their own history
 * (BulkOperation.events), which carries the same origin.
 */
import { type AuditRow, listAuditEvents } from "../../audit/queries.ts";
import { recordAudit } from "../../audit/record.ts";
import { builder } from "../builder.ts";
import { type Context, viewerOf } from "../context.ts";
import { pageRequest, toConnection } from "../pagination.ts";
import { UserRef } from "./users.ts";

const AuditEventRef = builder.objectRef<AuditRow>("AuditEvent").implement({
  description: "One recorded act: who, what, when and from where.",
  fields: (t) => ({
    id: t.exposeID("id"),
    action: t.exposeString("action", {
      description: "TOKEN_MINTED, TOKEN_REVOKED, TICKET_CREATED, TICKET_UPDATED or COMMENT_ADDED.",
    }),
    subject: t.exposeString("subject", { description: "The token id or the ticket's global id." }),
    actor: t.field({
      type: UserRef,
      nullable: true,
      description: "Null for the operator's CLI (deno task token).",
      resolve: (row, _args, ctx) => row.actor_id ? ctx.loaders.user.load(row.actor_id) : null,
    }),
    data: t.field({ type: "JSON", resolve: (row) => row.data }),
    ip: t.exposeString("ip", { nullable: true }),
    userAgent: t.exposeString("user_agent", { nullable: true }),
    createdAt: t.field({ type: "DateTime", resolve: (row) => row.created_at }),
  }),
});

builder.queryFields((t) => ({
  auditEvents: t.connection({
    type: AuditEventRef,
    authScopes: { admin: true },
    description: "ADMIN only: your tenant's audit trail, newest first (at most 100 per page).",
    resolve: async (_root, args, ctx) => {
      const request = pageRequest(args, ["bigint"]);
      const rows = await listAuditEvents(ctx.services.db, viewerOf(ctx).tenantId, {
        ...request,
        limit: request.limit + 1,
      });
      return toConnection(rows, request, (row) => [row.id]);
    },
  }),
}));

/** Records a mutation of the caller (after it committed) with the request's origin and token. */
export async function auditMutation(
  ctx: Context,
  action: string,
  subject: string,
  data: Record<string, unknown>,
): Promise<void> {
  const viewer = viewerOf(ctx);
  await recordAudit(ctx.services.db, {
    tenantId: viewer.tenantId,
    actorId: viewer.userId,
    action,
    subject,
    data: { ...data, tokenId: viewer.token?.id ?? null },
    origin: ctx.origin,
  });
}
