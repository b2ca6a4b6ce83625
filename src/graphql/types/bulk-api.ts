/** The bulk operations API: history queries, start / cancel, and the live subscriptions. */
import { admitUser } from "../../bulk/admit.ts";
import { cancelOperation } from "../../bulk/cancel.ts";
import { listOperations } from "../../bulk/history.ts";
import { findOperation, type OperationRow } from "../../bulk/operation.ts";
import { type Started, StartError, startOperation, type Targets } from "../../bulk/start.ts";
import { builder } from "../builder.ts";
import { type Context, viewerOf } from "../context.ts";
import { apiError, badInput, type UserError, userError } from "../errors.ts";
import { expectId } from "../ids.ts";
import { type Payload, runMutation } from "../mutation-result.ts";
import { pageRequest, toConnection } from "../pagination.ts";
import { operationProgress, tenantOperationChanges } from "../progress.ts";
import { bulkActions } from "./bulk-action.ts";
import { servedDomain } from "./bulk-domain.ts";
import { BulkOperationKindEnum, BulkOperationRef, BulkOperationStatusEnum } from "./bulk-operation.ts";
import { USER_ERRORS_LIST, UserErrorRef } from "./user-error.ts";
import { NotifyInput, notifyOptions } from "./webhooks.ts";

// ---- queries -------------------------------------------------------------------------

const BulkOperationFilterInput = builder.inputType("BulkOperationFilter", {
  fields: (t) => ({
    status: t.field({ type: [BulkOperationStatusEnum], required: false }),
    actionType: t.field({ type: [bulkActions().typeEnum], required: false }),
    kind: t.field({ type: [BulkOperationKindEnum], required: false }),
    createdBy: t.id({ required: false, description: "A user id." }),
    createdAfter: t.field({ type: "DateTime", required: false, description: "Inclusive." }),
    createdBefore: t.field({ type: "DateTime", required: false, description: "Exclusive." }),
  }),
});

builder.queryFields((t) => ({
  bulkOperation: t.field({
    type: BulkOperationRef,
    nullable: true,
    description: "An operation of your tenant; null when missing or another tenant's.",
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, args, ctx) =>
      findOperation(ctx.services.db, viewerOf(ctx).tenantId, expectId(args.id, "BulkOperation", "id")),
  }),
  bulkOperations: t.connection({
    type: BulkOperationRef,
    description: "The history, newest first, keyset-paginated (at most 100 per page).",
    args: { filter: t.arg({ type: BulkOperationFilterInput, required: false }) },
    resolve: async (_root, args, ctx) => {
      const request = pageRequest(args, ["timestamp", "uuid"]);
      const filter = args.filter ?? {};
      const rows = await listOperations(ctx.services.db, viewerOf(ctx).tenantId, {
        status: filter.status ?? undefined,
        actionType: filter.actionType ?? undefined,
        kind: filter.kind ?? undefined,
        createdBy: filter.createdBy ? expectId(filter.createdBy, "User", "createdBy") : undefined,
        createdAfter: filter.createdAfter ?? undefined,
        createdBefore: filter.createdBefore ?? undefined,
      }, { ...request, limit: request.limit + 1 });
      return toConnection(rows, request, (op) => [op.created_at_key, op.id]);
    },
  }),
}));

// ---- mutations -----------------------------------------------------------------------

export const BulkTargetsInput = builder.inputType("BulkTargetsInput", {
  description: "Exactly one (@oneOf): explicit ticket ids (de-duplicated, input order kept; unknown ones end " +
    "NOT_FOUND), or a filter frozen into a snapshot at start.",
  isOneOf: true,
  fields: (t) => ({
    ids: t.idList(),
    filter: t.field({ type: servedDomain().filterInput }),
  }),
});

export const StartBulkOperationInput = builder.inputType("StartBulkOperationInput", {
  fields: (t) => ({
    targets: t.field({ type: BulkTargetsInput, required: true }),
    action: t.field({ type: bulkActions().input, required: true }),
    scheduledAt: t.field({ type: "DateTime", required: false, description: "Run at this time instead of now." }),
    idempotencyKey: t.string({
      required: false,
      description: "Sending the same key again returns the first operation; with a different input it is refused.",
    }),
    description: t.string({ required: false, description: "At most 500 characters." }),
    notify: t.field({ type: NotifyInput, required: false }),
    previewToken: t.string({
      required: false,
      description: "From previewBulkOperation with the same targets and action: run exactly the previewed " +
        "target snapshot (tickets changed since are judged again when reached; new ones are not added).",
    }),
  }),
});

type StartArg = typeof StartBulkOperationInput.$inferInput;

export const BulkOperationPayload = builder.objectRef<Payload<{ bulkOperation: OperationRow; replayed: boolean }>>(
  "BulkOperationPayload",
).implement({
  fields: (t) => ({
    bulkOperation: t.field({ type: BulkOperationRef, nullable: true, resolve: (p) => p.bulkOperation ?? null }),
    replayed: t.boolean({
      description: "true when an earlier request with the same idempotencyKey created the operation.",
      resolve: (p) => p.replayed ?? false,
    }),
    userErrors: t.field({ type: [UserErrorRef], extensions: USER_ERRORS_LIST, resolve: (p) => p.userErrors }),
  }),
});

/**
 * The engine's targets. Too many ids is refused here, before decoding a possibly huge list,
 * with the engine's own StartError, so the client gets the same TOO_MANY_TARGETS as for a
 * filter matching too many (not a generic INVALID_INPUT): call it inside
 * refusalsAsUserErrors / startAsPayload.
 */
export function toTargets(input: StartArg["targets"], ctx: Context): Targets {
  const { maxTargets } = ctx.services.config;
  if (input.ids) {
    if (input.ids.length > maxTargets) {
      throw new StartError(
        "TOO_MANY_TARGETS",
        `At most ${maxTargets} targets per operation (got ${input.ids.length}).`,
        ["input", "targets", "ids"],
      );
    }
    const nodeType = ctx.services.domain.target.nodeType;
    return { kind: "ids", ids: input.ids.map((id) => expectId(id, nodeType, "targets")) };
  }
  if (input.filter) return { kind: "filter", filter: servedDomain().toFilter(input.filter) };
  throw badInput("Give targets.ids or targets.filter.", "targets");
}

/** The options every start input shares (startBulkOperation, startBulkExport). */
export const startOptionsOf = (
  input: Pick<StartArg, "scheduledAt" | "idempotencyKey" | "description" | "notify">,
  ctx: Context,
) => ({
  scheduledAt: input.scheduledAt ?? null,
  idempotencyKey: input.idempotencyKey ?? null,
  description: input.description ?? null,
  notify: notifyOptions(input.notify, ctx.services.config),
});

export const limitsOf = (ctx: Context) => ({
  maxTargets: ctx.services.config.maxTargets,
  chunkSize: ctx.services.config.chunkSize,
  exportChunkSize: ctx.services.config.exportChunkSize,
  maxActivePerUser: ctx.services.config.maxActivePerUser,
  maxStartsPerMinute: ctx.services.config.maxStartsPerMinute,
  maxWaitingPerUser: ctx.services.config.maxWaitingPerUser,
});

/** Engine refusals (StartError: nothing was written) become userErrors. */
export async function refusalsAsUserErrors<T>(run: () => Promise<T>): Promise<T | UserError[]> {
  try {
    return await run();
  } catch (error) {
    if (error instanceof StartError) return [userError(error.code, error.message, error.field, error.retryAt)];
    throw error;
  }
}

/** Runs an engine start into a BulkOperationPayload. */
export const startAsPayload = (run: () => Promise<Started>) =>
  refusalsAsUserErrors(async () => {
    const started = await run();
    return { bulkOperation: started.operation, replayed: !started.created, userErrors: [] };
  });

export const IdInput = builder.inputType("BulkOperationIdInput", {
  fields: (t) => ({ id: t.id({ required: true }) }),
});

builder.mutationFields((t) => ({
  startBulkOperation: t.field({
    type: BulkOperationPayload,
    description:
      "Validates and queues an operation; returns at once. Viewers cannot start; only admins delete or purge. " +
      "A purge over a filter needs the previewToken of a previewBulkOperation of it (PREVIEW_REQUIRED).",
    args: { input: t.arg({ type: StartBulkOperationInput, required: true }) },
    resolve: (_root, { input }, ctx) =>
      runMutation(() =>
        startAsPayload(async () => {
          const { actionType, params } = bulkActions().toEngineAction(input.action);
          const targets = toTargets(input.targets, ctx);
          if (
            targets.kind === "filter" && !input.previewToken &&
            ctx.services.domain.actions.get(actionType)?.filterNeedsPreview
          ) {
            throw new StartError(
              "PREVIEW_REQUIRED",
              `${actionType} over a filter needs a previewToken: preview it (previewBulkOperation) and start it ` +
                "with the token, or name the tickets by id.",
              ["input", "previewToken"],
            );
          }
          const viewer = viewerOf(ctx);
          return await startOperation(ctx.services.db, ctx.services.domain, viewer, {
            actionType,
            params,
            targets: input.previewToken
              ? {
                kind: "preview",
                previewId: expectId(input.previewToken, "BulkPreview", "previewToken"),
                given: targets,
              }
              : targets,
            ...startOptionsOf(input, ctx),
          }, limitsOf(ctx));
        })
      ),
  }),
  cancelBulkOperation: t.field({
    type: BulkOperationPayload,
    description: "No new chunk starts once this returns; the chunk in flight finishes; the rest ends CANCELLED. " +
      "Only a role that may run the operation's action may cancel it (DELETE, RESTORE and PURGE, and rollbacks of them: ADMIN).",
    args: { input: t.arg({ type: IdInput, required: true }) },
    resolve: (_root, { input }, ctx) =>
      runMutation(async () => {
        const viewer = viewerOf(ctx);
        if (viewer.role === "VIEWER") return [userError("FORBIDDEN", "Viewers cannot cancel operations.")];
        const id = expectId(input.id, "BulkOperation", "id");
        const result = await cancelOperation(ctx.services.db, ctx.services.domain, viewer, id);
        if (!result.ok) {
          return [userError(result.code, result.message, result.code === "FORBIDDEN" ? null : ["input", "id"])];
        }
        if (result.operation.finished_at) {
          await admitUser(ctx.services.db, result.operation.created_by, ctx.services.config.maxActivePerUser);
        }
        return { bulkOperation: result.operation, replayed: false, userErrors: [] };
      }),
  }),
}));

// ---- subscriptions -------------------------------------------------------------------

builder.subscriptionType({ authScopes: { authenticated: true } });

builder.subscriptionFields((t) => ({
  bulkOperationProgress: t.field({
    type: BulkOperationRef,
    description: "The operation now, then its progress (at most ~10 events/s, latest state wins), then its " +
      "terminal state; then the subscription completes. Works for finished operations too (one event).",
    args: { id: t.arg.id({ required: true }) },
    subscribe: async (_root, args, ctx) => {
      const tenantId = viewerOf(ctx).tenantId;
      const id = expectId(args.id, "BulkOperation", "id");
      if (!(await findOperation(ctx.services.db, tenantId, id))) {
        throw apiError("NOT_FOUND", "No bulk operation with this id.");
      }
      return operationProgress(ctx.services, tenantId, id);
    },
    resolve: (operation: OperationRow) => operation,
  }),
  bulkOperationsChanged: t.field({
    type: BulkOperationRef,
    description: "Every state change of your tenant's operations (created, progress, finished), coalesced per " +
      "operation to at most ~10 events/s. For dashboards.",
    subscribe: (_root, _args, ctx) => tenantOperationChanges(ctx.services, viewerOf(ctx).tenantId),
    resolve: (operation: OperationRow) => operation,
  }),
}));
