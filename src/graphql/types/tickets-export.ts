/**
 * The tickets' export API (as tickets-import.ts is their import API): startBulkExport (an operation of action EXPORT, src/tickets/actions/
 * export.ts), deleteBulkExport, and BulkOperation.export (its file: state, size, download url,
 * expiry). The file itself is served by GET /bulk-operations/{id}/export
 * (src/http/export-download.ts).
 */
import { findOperation, type OperationRow, recordEvent } from "../../bulk/operation.ts";
import { StartError, startOperation } from "../../bulk/start.ts";
import { planFile } from "../../exports/file.ts";
import {
  EXPORT_ACTION_TYPE,
  type ExportView,
  exportView,
  isExport,
  type Removal,
  removalsOf,
  removeParts,
} from "../../exports/state.ts";
import { TICKET_EXPORT_FIELDS } from "../../tickets/model.ts";
import { builder } from "../builder.ts";
import { type Context, viewerOf } from "../context.ts";
import { userError } from "../errors.ts";
import { encodeId, expectId } from "../ids.ts";
import { BatchLoader } from "../loader.ts";
import { runMutation } from "../mutation-result.ts";
import { domainEnum } from "./domain-enums.ts";
import { EXPORT_COMPRESSION_ENUM, EXPORT_FORMAT_ENUM } from "../../exports/format.ts";
import {
  BulkOperationPayload,
  BulkTargetsInput,
  IdInput,
  limitsOf,
  startAsPayload,
  startOptionsOf,
  toTargets,
} from "./bulk-api.ts";
import { BulkOperationRef } from "./bulk-operation.ts";
import { NotifyInput } from "./webhooks.ts";

const BulkExportFormatEnum = domainEnum(EXPORT_FORMAT_ENUM);
const BulkExportCompressionEnum = domainEnum(EXPORT_COMPRESSION_ENUM);

const BulkExportStateEnum = builder.enumType("BulkExportState", {
  description: "PENDING: the export runs. READY: the file can be downloaded. CANCELLED: cancelled before it " +
    "finished (no file). FAILED: some tickets could not be read (no complete file). EXPIRED: deleted after " +
    "EXPORT_RETENTION_DAYS. DELETED: deleted by deleteBulkExport.",
  values: ["PENDING", "READY", "CANCELLED", "FAILED", "EXPIRED", "DELETED"] as const,
});

type ExportOf = { operation: OperationRow; view: ExportView };

/** The request's removals loader: a page of exports reads its removals in one query. */
const removalLoaders = new WeakMap<Context, BatchLoader<Removal>>();
function removalLoader(ctx: Context): BatchLoader<Removal> {
  let loader = removalLoaders.get(ctx);
  if (!loader) removalLoaders.set(ctx, loader = new BatchLoader((ids) => removalsOf(ctx.services.db, ids)));
  return loader;
}

const BulkExportRef = builder.objectRef<ExportOf>("BulkExport").implement({
  description: "An EXPORT operation's file.",
  fields: (t) => ({
    format: t.field({ type: BulkExportFormatEnum, resolve: (e) => e.view.params.format }),
    compression: t.field({ type: BulkExportCompressionEnum, resolve: (e) => e.view.params.compression }),
    fields: t.stringList({
      description: "The exported ticket fields, in file order.",
      extensions: { maxItems: TICKET_EXPORT_FIELDS.length },
      resolve: (e) => e.view.params.fields,
    }),
    includeComments: t.boolean({ resolve: (e) => e.view.params.includeComments }),
    state: t.field({ type: BulkExportStateEnum, resolve: (e) => e.view.state }),
    rows: t.int({
      nullable: true,
      description: "Tickets in the file (tickets that vanished since the start are not); null until READY.",
      resolve: (e) => e.view.state === "READY" ? e.operation.succeeded : null,
    }),
    bytes: t.float({
      nullable: true,
      description: "The file's exact size in bytes (as downloaded, compressed when GZIP); null unless READY.",
      resolve: async (e, _args, ctx) =>
        e.view.state === "READY"
          ? (await planFile(ctx.services.db, e.operation.id, e.view.params, ctx.services.domain.target.noun)).length
          : null,
    }),
    url: t.string({
      nullable: true,
      description: "GET it with the same bearer token (Range requests resume a download); null unless READY.",
      resolve: (e, _args, ctx) =>
        e.view.state === "READY"
          ? `${ctx.services.config.publicUrl}/bulk-operations/${encodeId("BulkOperation", e.operation.id)}/export`
          : null,
    }),
    expiresAt: t.field({
      type: "DateTime",
      nullable: true,
      description: "When the file is deleted (finishedAt + EXPORT_RETENTION_DAYS); null while the export runs.",
      resolve: (e) => e.view.expiresAt,
    }),
    removedAt: t.field({
      type: "DateTime",
      nullable: true,
      description: "When the file was deleted (EXPIRED or DELETED).",
      resolve: (e) => e.view.removal?.removedAt ?? null,
    }),
  }),
});

builder.objectField(BulkOperationRef, "export", (t) =>
  t.field({
    type: BulkExportRef,
    nullable: true,
    description: "The file of an EXPORT operation; null for the other actions.",
    resolve: async (operation, _args, ctx) => {
      if (!isExport(operation)) return null;
      const removal = await removalLoader(ctx).load(operation.id);
      return { operation, view: exportView(operation, removal, ctx.services.config.exportRetentionDays) };
    },
  }));

const StartBulkExportInput = builder.inputType("StartBulkExportInput", {
  fields: (t) => ({
    targets: t.field({ type: BulkTargetsInput, required: true }),
    format: t.field({ type: BulkExportFormatEnum, required: true }),
    fields: t.stringList({
      required: false,
      description: `Ticket fields in file order; default every field: ${TICKET_EXPORT_FIELDS.join(", ")}.`,
    }),
    includeComments: t.boolean({ required: false, description: "Default false." }),
    compression: t.field({ type: BulkExportCompressionEnum, required: false, description: "Default NONE." }),
    scheduledAt: t.field({ type: "DateTime", required: false, description: "Run at this time instead of now." }),
    idempotencyKey: t.string({
      required: false,
      description: "Sending the same key again returns the first operation; with a different input it is refused.",
    }),
    description: t.string({ required: false, description: "At most 500 characters." }),
    notify: t.field({ type: NotifyInput, required: false }),
  }),
});

/**
 * The export's parameters as the action takes them (src/tickets/actions/export.ts checks them
 * in the engine's start, before anything is written). Its refusals name the action's field,
 * ["input", "action", "fields"]; this input has them at the top: ["input", "fields"].
 */
const exportParams = (input: typeof StartBulkExportInput.$inferInput) => ({
  format: input.format,
  compression: input.compression ?? undefined,
  fields: input.fields ?? undefined,
  includeComments: input.includeComments ?? undefined,
});

async function withExportFields<T>(start: () => Promise<T>): Promise<T> {
  try {
    return await start();
  } catch (error) {
    if (error instanceof StartError && error.code === "INVALID_PARAMS" && error.field?.[1] === "action") {
      throw new StartError(error.code, error.message, ["input", ...error.field.slice(2)], error.retryAt);
    }
    throw error;
  }
}

builder.mutationFields((t) => ({
  startBulkExport: t.field({
    type: BulkOperationPayload,
    description: "Starts an export of tickets to a file (an operation of action EXPORT); returns at once. " +
      "Download the file from `export.url` once the operation has finished. Viewers cannot start.",
    args: { input: t.arg({ type: StartBulkExportInput, required: true }) },
    resolve: (_root, { input }, ctx) =>
      runMutation(() =>
        startAsPayload(() =>
          withExportFields(() =>
            startOperation(ctx.services.db, ctx.services.domain, viewerOf(ctx), {
              actionType: EXPORT_ACTION_TYPE,
              params: exportParams(input),
              targets: toTargets(input.targets, ctx),
              ...startOptionsOf(input, ctx),
            }, limitsOf(ctx))
          )
        )
      ),
  }),
  deleteBulkExport: t.field({
    type: BulkOperationPayload,
    description: "Deletes a finished export's file now (it would expire at export.expiresAt); the operation and " +
      "its items stay. Its creator or an admin. Deleting a deleted or expired file changes nothing.",
    args: { input: t.arg({ type: IdInput, required: true }) },
    resolve: (_root, { input }, ctx) =>
      runMutation(async () => {
        const viewer = viewerOf(ctx);
        if (viewer.role === "VIEWER") return [userError("FORBIDDEN", "Viewers cannot delete exports.")];
        const id = expectId(input.id, "BulkOperation", "id");
        return await ctx.services.db.transaction().execute(async (tx) => {
          const operation = await findOperation(tx, viewer.tenantId, id);
          if (!operation) return [userError("NOT_FOUND", "No bulk operation with this id.", ["input", "id"])];
          if (!isExport(operation)) {
            return [userError("NOT_AN_EXPORT", "This bulk operation is not an export.", ["input", "id"])];
          }
          if (operation.created_by !== viewer.userId && viewer.role !== "ADMIN") {
            return [userError("FORBIDDEN", "Only the export's creator or an admin may delete it.")];
          }
          if (!operation.finished_at) {
            return [userError("EXPORT_NOT_READY", "The export is still running: cancel it instead.", ["input", "id"])];
          }
          if (await removeParts(tx, operation.id, "DELETED", viewer.userId, new Date())) {
            await recordEvent(tx, operation.id, "EXPORT_DELETED", {}, viewer.userId, viewer.origin);
          }
          return { bulkOperation: operation, replayed: false, userErrors: [] };
        });
      }),
  }),
}));
