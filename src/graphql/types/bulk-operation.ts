/** BulkOperation (a Node), its counts, progress figures, items and audit trail. */
import { OPERATION_STATUSES, type OperationRow } from "../../bulk/operation.ts";
import { type EventRow, type ItemRow, listEvents, listItems, MAX_CHILDREN } from "../../bulk/history.ts";
import { builder } from "../builder.ts";
import { encodeId, UUID_PATTERN } from "../ids.ts";
import { pageRequest, toConnection } from "../pagination.ts";
import { bulkActions, storedAction } from "./bulk-action.ts";
import { servedDomain } from "./bulk-domain.ts";
import { LEDGER_OUTCOMES, type TargetSummary } from "../../db/tables.ts";
import { UserRef } from "./users.ts";

export const BulkOperationStatusEnum = builder.enumType("BulkOperationStatus", {
  description: "SCHEDULED: waits for scheduledAt. QUEUED: waits for a free slot (2 running per user by default). " +
    "RUNNING: being worked. CANCELLING: cancel received, the chunk in flight finishes. " +
    "Terminal: COMPLETED, COMPLETED_WITH_ERRORS (some items failed), FAILED (every item failed), CANCELLED.",
  values: OPERATION_STATUSES,
});

export const BulkOperationKindEnum = builder.enumType("BulkOperationKind", {
  description: "STANDARD: started by a client. RETRY: re-runs a parent's failed items. ROLLBACK: undoes a parent.",
  values: ["STANDARD", "RETRY", "ROLLBACK"] as const,
});

export const BulkActionKindEnum = builder.enumType("BulkActionKind", {
  description: "What the items are. CHANGE: existing targets, changed (every action but these two). IMPORT: input " +
    "records that create or update targets (startBulkImport). EXPORT: existing targets rendered into a file " +
    "(startBulkExport).",
  values: ["CHANGE", "IMPORT", "EXPORT"] as const,
});

export const BulkItemOutcomeEnum = builder.enumType("BulkItemOutcome", { values: LEDGER_OUTCOMES });

export const BulkOperationRef = builder.objectRef<OperationRow>("BulkOperation");

const processedOf = (op: OperationRow) => op.succeeded + op.failed + op.skipped + op.cancelled;

/** Items per second since the first chunk started (until the end, or now). */
function throughput(op: OperationRow): number | null {
  if (!op.first_chunk_at) return null;
  const end = op.finished_at ? new Date(op.finished_at).getTime() : Date.now();
  const seconds = Math.max(0.001, (end - new Date(op.first_chunk_at).getTime()) / 1000);
  return (op.succeeded + op.failed + op.skipped) / seconds;
}

const CountsRef = builder.objectRef<OperationRow>("BulkOperationCounts").implement({
  description: "succeeded + failed + skipped + cancelled + pending = total, always.",
  fields: (t) => ({
    total: t.exposeInt("total"),
    processed: t.int({ resolve: processedOf }),
    succeeded: t.exposeInt("succeeded"),
    failed: t.exposeInt("failed"),
    skipped: t.exposeInt("skipped"),
    cancelled: t.exposeInt("cancelled"),
    pending: t.int({ resolve: (op) => op.total - processedOf(op) }),
  }),
});

const TargetSummaryRef = builder.objectRef<TargetSummary>("BulkTargetSummary").implement({
  fields: (t) => ({
    kind: t.string({
      description:
        "IDS, FILTER, RECORDS (imports: one item per row), or PARENT (retries and rollbacks: items of the parent).",
      resolve: (s) => s.kind.toUpperCase(),
    }),
    requestedIds: t.int({
      nullable: true,
      description: "Ids sent (before de-duplication).",
      resolve: (s) => (s.kind === "ids" ? s.given : null),
    }),
    filter: t.field({
      type: "JSON",
      nullable: true,
      description: "The filter frozen at start.",
      resolve: (s) => (s.kind === "filter" ? s.filter : null),
    }),
  }),
});

const ErrorCountRef = builder.objectRef<{ code: string; count: number }>("BulkErrorCount").implement({
  fields: (t) => ({
    code: t.field({ type: servedDomain().itemCodeEnum, resolve: (e) => servedDomain().itemCode(e.code) }),
    count: t.exposeInt("count"),
  }),
});

const ItemErrorRef = builder.objectRef<{ code: string; message: string | null }>("BulkItemError").implement({
  fields: (t) => ({
    code: t.field({ type: servedDomain().itemCodeEnum, resolve: (e) => servedDomain().itemCode(e.code) }),
    message: t.string({ resolve: (e) => e.message ?? "" }),
  }),
});

export const BulkItemRef = builder.objectRef<ItemRow>("BulkOperationItem").implement({
  description: "One target of an operation and what happened to it.",
  fields: (t) => ({
    position: t.exposeInt("position", { description: "0-based position in the input order." }),
    targetId: t.id({
      description: "The target ticket's id.",
      resolve: (i, _args, ctx) => encodeId(ctx.services.domain.target.nodeType, i.target_id),
    }),
    target: t.field({
      type: servedDomain().targetType,
      nullable: true,
      description: "The ticket now; null when it does not exist (or is another tenant's).",
      resolve: (i, _args, ctx) => servedDomain().target(ctx, String(i.target_id)),
    }),
    outcome: t.field({ type: BulkItemOutcomeEnum, resolve: (i) => i.outcome }),
    error: t.field({
      type: ItemErrorRef,
      nullable: true,
      description: "Why it failed or was skipped.",
      resolve: (i) => (i.error_code ? { code: i.error_code, message: i.error_message } : null),
    }),
    before: t.field({ type: "JSON", nullable: true, resolve: (i) => i.before ?? null }),
    after: t.field({ type: "JSON", nullable: true, resolve: (i) => i.after ?? null }),
    attempts: t.exposeInt("attempts"),
    processedAt: t.field({ type: "DateTime", nullable: true, resolve: (i) => i.processed_at }),
  }),
});

const EventRef = builder.objectRef<EventRow>("BulkOperationEvent").implement({
  description: "The audit trail: CREATED, STARTED, CANCEL_REQUESTED, CHUNK_FAILED, FINISHED, CANCELLED, ...",
  fields: (t) => ({
    id: t.id({ resolve: (e) => encodeId("BulkOperationEvent", e.id) }),
    type: t.exposeString("type"),
    actor: t.field({
      type: UserRef,
      nullable: true,
      resolve: (e, _a, ctx) => (e.actor_id ? ctx.loaders.user.load(e.actor_id) : null),
    }),
    data: t.field({ type: "JSON", resolve: (e) => e.data }),
    ip: t.exposeString("ip", { nullable: true, description: "The request's IP; null for the engine's own events." }),
    userAgent: t.exposeString("user_agent", { nullable: true, description: "The request's User-Agent." }),
    createdAt: t.field({ type: "DateTime", resolve: (e) => e.created_at }),
  }),
});

export const BulkItemFilterInput = builder.inputType("BulkItemFilter", {
  fields: (t) => ({
    outcome: t.field({ type: [BulkItemOutcomeEnum], required: false }),
    errorCode: t.field({ type: [servedDomain().itemCodeEnum], required: false }),
  }),
});

builder.node(BulkOperationRef, {
  description: "A change applied to many tickets, worked in chunks by the workers.",
  id: { resolve: (op) => op.id },
  loadMany: (ids, ctx) => Promise.all(ids.map((id) => UUID_PATTERN.test(id) ? ctx.loaders.operation.load(id) : null)),
  fields: (t) => ({
    status: t.field({ type: BulkOperationStatusEnum, resolve: (op) => op.status }),
    kind: t.field({ type: BulkOperationKindEnum, resolve: (op) => op.kind }),
    actionType: t.field({ type: bulkActions().typeEnum, resolve: (op) => op.action_type }),
    actionKind: t.field({
      type: BulkActionKindEnum,
      resolve: (op, _args, ctx) => ctx.services.domain.actions.get(op.action_type)?.kind ?? "CHANGE",
    }),
    action: t.field({ type: bulkActions().union, resolve: (op) => storedAction(op.action_type, op.action_params) }),
    description: t.exposeString("description", { nullable: true }),
    idempotencyKey: t.exposeString("idempotency_key", { nullable: true }),
    targets: t.field({ type: TargetSummaryRef, resolve: (op) => op.target_summary }),
    counts: t.field({ type: CountsRef, resolve: (op) => op }),
    percent: t.float({
      description: "Processed share of the items, 0-100.",
      resolve: (op) => (op.total === 0 ? 100 : Math.round((processedOf(op) / op.total) * 10000) / 100),
    }),
    throughput: t.float({
      nullable: true,
      description: "Items per second since the first chunk started; null before.",
      resolve: (op) => {
        const rate = throughput(op);
        return rate === null ? null : Math.round(rate * 10) / 10;
      },
    }),
    estimatedCompletionAt: t.field({
      type: "DateTime",
      nullable: true,
      description: "From the measured throughput; null when finished or not started.",
      resolve: (op) => {
        const rate = throughput(op);
        if (op.finished_at || !rate) return null;
        return new Date(Date.now() + ((op.total - processedOf(op)) / rate) * 1000);
      },
    }),
    errorSummary: t.field({
      type: [ErrorCountRef],
      extensions: { maxItems: servedDomain().itemCodes.length },
      description: "Count per item code (failed and skipped), most frequent first.",
      resolve: (op) =>
        Object.entries(op.error_counts ?? {}).map(([code, count]) => ({ code, count }))
          .sort((a, b) => b.count - a.count || a.code.localeCompare(b.code)),
    }),
    createdBy: t.field({
      type: UserRef,
      nullable: true,
      resolve: (op, _a, ctx) => ctx.loaders.user.load(op.created_by),
    }),
    createdAt: t.field({ type: "DateTime", resolve: (op) => op.created_at }),
    scheduledAt: t.field({ type: "DateTime", nullable: true, resolve: (op) => op.scheduled_at }),
    startedAt: t.field({
      type: "DateTime",
      nullable: true,
      description: "When it was admitted to run.",
      resolve: (op) => op.started_at,
    }),
    finishedAt: t.field({ type: "DateTime", nullable: true, resolve: (op) => op.finished_at }),
    cancelRequestedAt: t.field({ type: "DateTime", nullable: true, resolve: (op) => op.cancel_requested_at }),
    cancelledAt: t.field({
      type: "DateTime",
      nullable: true,
      resolve: (op) => (op.status === "CANCELLED" ? op.finished_at : null),
    }),
    parent: t.field({
      type: BulkOperationRef,
      nullable: true,
      description: "The operation this one retries or rolls back.",
      resolve: (op, _a, ctx) => (op.parent_id ? ctx.loaders.operation.load(op.parent_id) : null),
    }),
    children: t.field({
      type: [BulkOperationRef],
      extensions: { maxItems: MAX_CHILDREN },
      description: `Retries and rollbacks of this operation, oldest first (the first ${MAX_CHILDREN}).`,
      resolve: async (op, _a, ctx) => (await ctx.loaders.children.load(op.id)) ?? [],
    }),
    items: t.connection({
      type: BulkItemRef,
      description: "Every target in input order, keyset-paginated (fast at any depth of a million items).",
      args: { filter: t.arg({ type: BulkItemFilterInput, required: false }) },
      resolve: async (op, args, ctx) => {
        const request = pageRequest(args, ["position"]);
        const rows = await listItems(ctx.services.db, op.id, {
          outcome: args.filter?.outcome ?? undefined,
          errorCode: args.filter?.errorCode ?? undefined,
        }, { ...request, limit: request.limit + 1 });
        return toConnection(rows, request, (item) => [item.position]);
      },
    }),
    events: t.connection({
      type: EventRef,
      description: "The audit trail, oldest first.",
      resolve: async (op, args, ctx) => {
        const request = pageRequest(args, ["bigint"]);
        const rows = await listEvents(ctx.services.db, op.id, { ...request, limit: request.limit + 1 });
        return toConnection(rows, request, (event) => [String(event.id)]);
      },
    }),
  }),
});
