/** retryFailedItems, rollbackBulkOperation and previewBulkOperation: the safety features. */
import { retryFailedItems, rollbackOperation } from "../../bulk/lineage.ts";
import { type Preview, type PreviewItem, previewOperation, SAMPLE_SIZE } from "../../bulk/preview.ts";
import { builder } from "../builder.ts";
import { viewerOf } from "../context.ts";
import { encodeId, expectId } from "../ids.ts";
import { type Payload, runMutation } from "../mutation-result.ts";
import { bulkActions } from "./bulk-action.ts";
import {
  BulkOperationPayload,
  limitsOf,
  refusalsAsUserErrors,
  startAsPayload,
  StartBulkOperationInput,
  toTargets,
} from "./bulk-api.ts";
import { servedDomain } from "./bulk-domain.ts";
import { BulkItemOutcomeEnum } from "./bulk-operation.ts";
import { USER_ERRORS_LIST, UserErrorRef } from "./user-error.ts";
import { NotifyInput, notifyOptions } from "./webhooks.ts";

const operationKey = (id: string) => expectId(id, "BulkOperation", "id");

const RetryFailedItemsInput = builder.inputType("RetryFailedItemsInput", {
  fields: (t) => ({
    id: t.id({ required: true, description: "The operation whose FAILED items to retry." }),
    errorCodes: t.field({
      type: [servedDomain().itemCodeEnum],
      required: false,
      description: "Only items that failed with these codes (default: all failed items).",
    }),
    notify: t.field({ type: NotifyInput, required: false }),
  }),
});

const RollbackBulkOperationInput = builder.inputType("RollbackBulkOperationInput", {
  fields: (t) => ({
    id: t.id({ required: true, description: "The operation to undo." }),
    force: t.boolean({
      required: false,
      defaultValue: false,
      description: "Overwrite tickets changed since the operation (default: skip them as CONFLICT).",
    }),
    notify: t.field({ type: NotifyInput, required: false }),
  }),
});

const PreviewItemRef = builder.objectRef<PreviewItem>("BulkPreviewItem").implement({
  fields: (t) => ({
    position: t.exposeInt("position"),
    targetId: t.id({ resolve: (i, _a, ctx) => encodeId(ctx.services.domain.target.nodeType, i.targetId) }),
    target: t.field({
      type: servedDomain().targetType,
      nullable: true,
      resolve: (i, _a, ctx) => servedDomain().target(ctx, i.targetId),
    }),
    outcome: t.field({ type: BulkItemOutcomeEnum, resolve: (i) => i.outcome }),
    code: t.field({
      type: servedDomain().itemCodeEnum,
      nullable: true,
      resolve: (i) => (i.code ? servedDomain().itemCode(i.code) : null),
    }),
    message: t.string({ nullable: true, resolve: (i) => i.message ?? null }),
    before: t.field({ type: "JSON", nullable: true, resolve: (i) => i.before ?? null }),
    after: t.field({ type: "JSON", nullable: true, description: "Predicted.", resolve: (i) => i.after ?? null }),
  }),
});

const CodeCountRef = builder.objectRef<{ code: string; count: number }>("BulkPredictedCount").implement({
  fields: (t) => ({
    code: t.field({ type: servedDomain().itemCodeEnum, resolve: (c) => servedDomain().itemCode(c.code) }),
    count: t.exposeInt("count"),
  }),
});

const PreviewRef = builder.objectRef<Preview>("BulkOperationPreview").implement({
  description: "What the operation would do now. Nothing was changed.",
  fields: (t) => ({
    previewToken: t.string({
      description: "Pass to startBulkOperation (with the same targets and action) to run exactly these targets.",
      resolve: (p) => encodeId("BulkPreview", p.previewId),
    }),
    expiresAt: t.field({ type: "DateTime", resolve: (p) => p.expiresAt }),
    matchedCount: t.int({ resolve: (p) => p.matched }),
    wouldChange: t.int({ description: "Items predicted to succeed.", resolve: (p) => p.succeeded }),
    wouldSkip: t.int({ description: "Items already in the target state (NO_CHANGE).", resolve: (p) => p.skipped }),
    wouldFail: t.int({ resolve: (p) => p.failed }),
    predictedByCode: t.field({
      type: [CodeCountRef],
      extensions: { maxItems: servedDomain().itemCodes.length },
      description: "Predicted failures and skips per code.",
      resolve: (p) => Object.entries(p.codes).map(([code, count]) => ({ code, count })),
    }),
    sample: t.field({
      type: [PreviewItemRef],
      extensions: { maxItems: SAMPLE_SIZE },
      description: "The first (up to) 50 targets with their predicted outcome and before/after.",
      resolve: (p) => p.sample,
    }),
    estimatedDurationSeconds: t.float({
      description: "matchedCount / the throughput measured on your recent operations.",
      resolve: (p) => Math.round(p.estimatedSeconds * 10) / 10,
    }),
  }),
});

export const PreviewPayload = builder.objectRef<Payload<{ preview: Preview }>>("PreviewBulkOperationPayload").implement(
  {
    fields: (t) => ({
      preview: t.field({ type: PreviewRef, nullable: true, resolve: (p) => p.preview ?? null }),
      userErrors: t.field({ type: [UserErrorRef], extensions: USER_ERRORS_LIST, resolve: (p) => p.userErrors }),
    }),
  },
);

builder.mutationFields((t) => ({
  retryFailedItems: t.field({
    type: BulkOperationPayload,
    description: "A new RETRY operation over the parent's FAILED items (same action); the parent is unchanged. " +
      "Once per parent (ALREADY_RETRIED), unless the earlier retry was CANCELLED: then over the items it did not " +
      "process.",
    args: { input: t.arg({ type: RetryFailedItemsInput, required: true }) },
    resolve: (_root, { input }, ctx) =>
      runMutation(() =>
        startAsPayload(() =>
          retryFailedItems(ctx.services.db, ctx.services.domain, viewerOf(ctx), operationKey(input.id), {
            errorCodes: input.errorCodes ?? undefined,
            limits: limitsOf(ctx),
            notify: notifyOptions(input.notify, ctx.services.config),
          })
        )
      ),
  }),
  rollbackBulkOperation: t.field({
    type: BulkOperationPayload,
    description: "A new ROLLBACK operation restoring, on the parent's SUCCEEDED items, the fields the parent " +
      "changed (no other field). Items whose changed fields were changed since end CONFLICT (skipped) unless force. " +
      "Within the rollback window (24 h by default); one at a time; not of a rollback; once one has restored " +
      "something, only a forced one over what it left (ALREADY_ROLLED_BACK).",
    args: { input: t.arg({ type: RollbackBulkOperationInput, required: true }) },
    resolve: (_root, { input }, ctx) =>
      runMutation(() =>
        startAsPayload(() =>
          rollbackOperation(ctx.services.db, ctx.services.domain, viewerOf(ctx), operationKey(input.id), {
            force: input.force ?? false,
            windowHours: ctx.services.config.rollbackWindowHours,
            limits: limitsOf(ctx),
            notify: notifyOptions(input.notify, ctx.services.config),
          })
        )
      ),
  }),
  previewBulkOperation: t.field({
    type: PreviewPayload,
    description: "Dry run of startBulkOperation's input: predicted outcomes, a sample and an estimate. " +
      "Changes nothing. scheduledAt, idempotencyKey and description are ignored.",
    args: { input: t.arg({ type: StartBulkOperationInput, required: true }) },
    resolve: (_root, { input }, ctx) =>
      runMutation(() =>
        refusalsAsUserErrors(async () => {
          const { actionType, params } = bulkActions().toEngineAction(input.action);
          const targets = toTargets(input.targets, ctx); // may refuse: StartError
          return {
            preview: await previewOperation(ctx.services.db, ctx.services.domain, viewerOf(ctx), {
              actionType,
              params,
              targets,
            }, limitsOf(ctx)),
            userErrors: [],
          };
        })
      ),
  }),
}));
