/**
 * The tickets' bulk import: createUpload (staged uploads), startBulkImport and previewBulkImport.
 * The tickets domain's own API (its fields, its IMPORT_TICKETS action), so it lives beside
 * tickets.ts rather than among the generic bulk-*.ts types. The rows,
 * whatever way they come (src/imports/source.ts), become the records of an IMPORT_TICKETS
 * operation (src/tickets/actions/import.ts) started through the engine like any other, so
 * items, errorSummary, progress, cancel, history, retry and rollback work unchanged.
 */
import { previewOperation } from "../../bulk/preview.ts";
import { type StartInput, startOperation } from "../../bulk/start.ts";
import { IMPORT_FIELDS, IMPORT_FORMATS, IMPORT_MODES, ImportFileError } from "../../imports/record.ts";
import { type ImportSource, readImport } from "../../imports/source.ts";
import { consumeUpload, createUpload, UPLOADS_PER_USER } from "../../imports/uploads.ts";
import { builder } from "../builder.ts";
import { type Context, viewerOf } from "../context.ts";
import { badInput, type UserError, userError } from "../errors.ts";
import { encodeId, expectId } from "../ids.ts";
import { type Payload, runMutation } from "../mutation-result.ts";
import { BulkOperationPayload, limitsOf, refusalsAsUserErrors, startAsPayload } from "./bulk-api.ts";
import { PreviewPayload } from "./bulk-safety.ts";
import { TicketCategoryEnum, TicketPriorityEnum, TicketRef, TicketStatusEnum } from "./tickets.ts";
import { USER_ERRORS_LIST, UserErrorRef } from "./user-error.ts";
import { NotifyInput, notifyOptions } from "./webhooks.ts";

const IMPORT_ACTION = "IMPORT_TICKETS";
/** Column mappings per import: one per field is all that can apply. */
const MAPPING_MAX = IMPORT_FIELDS.length;

builder.scalarType("File", {
  description: "A file of a GraphQL multipart request (https://github.com/jaydenseric/graphql-multipart-request-spec).",
  serialize: () => {
    throw new Error("File is an input-only scalar");
  },
  parseValue: (value) => {
    if (value instanceof File) return value;
    throw badInput("Expected a file of the multipart request.");
  },
});

builder.objectField(TicketRef, "externalId", (t) =>
  t.string({
    nullable: true,
    description: "Your own key of the ticket (imports), unique per tenant.",
    resolve: (ticket) => ticket.external_id ?? null,
  }));

const BulkImportFormatEnum = builder.enumType("BulkImportFormat", { values: IMPORT_FORMATS });
const BulkImportModeEnum = builder.enumType("BulkImportMode", {
  description: "CREATE: every row creates a ticket (a row whose externalId exists fails ALREADY_EXISTS). " +
    "UPSERT: a row whose externalId exists updates that ticket (same rules as the change actions), others create.",
  values: IMPORT_MODES,
});

/** GraphQL enum values are upper case; the engine's field names are the ticket's. */
const FIELD_VALUES = Object.fromEntries(
  IMPORT_FIELDS.map((field) => [field.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase(), { value: field }]),
);
const BulkImportFieldEnum = builder.enumType("BulkImportField", { values: FIELD_VALUES });

const ColumnMappingInput = builder.inputType("BulkImportColumnMapping", {
  fields: (t) => ({
    column: t.string({ required: true, description: "A CSV header name or a JSONL key." }),
    field: t.field({ type: BulkImportFieldEnum, required: true }),
  }),
});

const ImportRowInput = builder.inputType("BulkImportRowInput", {
  fields: (t) => ({
    title: t.string({ required: false, description: "Required for a new ticket; 1 to 200 characters." }),
    body: t.string({ required: false }),
    status: t.field({ type: TicketStatusEnum, required: false }),
    priority: t.field({ type: TicketPriorityEnum, required: false }),
    category: t.field({ type: TicketCategoryEnum, required: false }),
    assignee: t.string({ required: false, description: "The assignee's e-mail or user id (uuid)." }),
    externalId: t.string({ required: false, description: "Your key of the ticket; UPSERT updates by it." }),
  }),
});

const ImportSourceInput = builder.inputType("BulkImportSourceInput", {
  description: "Exactly one (@oneOf): inline rows (at most 10,000), a multipart file (up to MAX_BODY_BYTES), " +
    "or a staged upload (createUpload, then PUT the file to its url).",
  isOneOf: true,
  fields: (t) => ({
    rows: t.field({ type: [ImportRowInput], extensions: { maxItems: 10_000 } }),
    file: t.field({ type: "File" }),
    upload: t.id({ description: "A BulkUpload id." }),
  }),
});

const StartBulkImportInput = builder.inputType("StartBulkImportInput", {
  fields: (t) => ({
    source: t.field({ type: ImportSourceInput, required: true }),
    format: t.field({ type: BulkImportFormatEnum, required: false, description: "Required for file and upload." }),
    mapping: t.field({
      type: [ColumnMappingInput],
      required: false,
      extensions: { maxItems: MAPPING_MAX },
      description: "File column -> ticket field; fields left out are found by name (title, body, status, " +
        "priority, category, assignee, externalId, case-insensitive).",
    }),
    mode: t.field({ type: BulkImportModeEnum, required: false, defaultValue: "CREATE" }),
    scheduledAt: t.field({ type: "DateTime", required: false, description: "Run at this time instead of now." }),
    idempotencyKey: t.string({ required: false }),
    description: t.string({ required: false, description: "At most 500 characters." }),
    notify: t.field({ type: NotifyInput, required: false }),
    previewToken: t.string({
      required: false,
      description: "From previewBulkImport with the same input: start only what was previewed.",
    }),
  }),
});

type ImportArg = typeof StartBulkImportInput.$inferInput;

function sourceOf(input: ImportArg["source"]): ImportSource {
  if (input.rows) return { kind: "rows", rows: input.rows };
  if (input.file) return { kind: "file", file: input.file };
  if (input.upload) return { kind: "upload", uploadId: expectId(input.upload, "BulkUpload", "source") };
  throw badInput("Give source.rows, source.file or source.upload.", "source");
}

/** The engine's start input for an import (reads and parses the whole input). */
async function importStart(input: ImportArg, ctx: Context): Promise<Omit<StartInput, "scheduledAt">> {
  const viewer = viewerOf(ctx);
  const { params, records } = await readImport(ctx.services.db, viewer.tenantId, {
    source: sourceOf(input.source),
    format: input.format ?? null,
    mode: input.mode ?? "CREATE",
    mapping: input.mapping ?? null,
  }, ctx.services.config.maxTargets);
  return { actionType: IMPORT_ACTION, params, targets: { kind: "records", records } };
}

/** A staged upload is deleted by the start that stages it, unless a retry may need it (src/imports/uploads.ts). */
function uploadConsumer(input: ImportArg, tenantId: string): StartInput["guard"] {
  const upload = input.source.upload;
  if (!upload || input.idempotencyKey) return undefined;
  const uploadId = expectId(upload, "BulkUpload", "source");
  return (tx) => consumeUpload(tx, tenantId, uploadId);
}

/** Refusals of the input as a whole (ImportFileError: nothing was written) become userErrors. */
async function fileRefusalsAsUserErrors<T>(run: () => Promise<T>): Promise<T | UserError[]> {
  try {
    return await run();
  } catch (error) {
    if (error instanceof ImportFileError) return [userError(error.code, error.message, error.field)];
    throw error;
  }
}

interface UploadView {
  id: string;
  url: string;
  expiresAt: Date;
  maxBytes: number;
}

const BulkUploadRef = builder.objectRef<UploadView>("BulkUpload").implement({
  description: "A staged upload: PUT the file to `url` (Authorization: Bearer <token>), then startBulkImport " +
    "with source.upload = id.",
  fields: (t) => ({
    id: t.id({ resolve: (u) => encodeId("BulkUpload", u.id) }),
    url: t.exposeString("url"),
    expiresAt: t.field({ type: "DateTime", resolve: (u) => u.expiresAt }),
    maxBytes: t.float({ description: "UPLOAD_MAX_BYTES: a larger file is refused (413).", resolve: (u) => u.maxBytes }),
  }),
});

const CreateUploadPayload = builder.objectRef<Payload<{ upload: UploadView }>>("CreateUploadPayload").implement({
  fields: (t) => ({
    upload: t.field({ type: BulkUploadRef, nullable: true, resolve: (p) => p.upload ?? null }),
    userErrors: t.field({ type: [UserErrorRef], extensions: USER_ERRORS_LIST, resolve: (p) => p.userErrors }),
  }),
});

builder.mutationFields((t) => ({
  createUpload: t.field({
    type: CreateUploadPayload,
    authScopes: { agent: true },
    description: "A staged upload for a file larger than a request body; valid 24 hours.",
    resolve: (_root, _args, ctx) =>
      runMutation(async () => {
        const upload = await createUpload(ctx.services.db, viewerOf(ctx));
        if (!upload) {
          return [userError(
            "TOO_MANY_UPLOADS",
            `At most ${UPLOADS_PER_USER} uploads at once; import or let the older ones expire (24 hours).`,
          )];
        }
        const { publicUrl, uploadMaxBytes } = ctx.services.config;
        return {
          upload: { ...upload, url: `${publicUrl}/uploads/${upload.id}`, maxBytes: uploadMaxBytes },
          userErrors: [],
        };
      }),
  }),
  startBulkImport: t.field({
    type: BulkOperationPayload,
    description: "Validates the whole input (a refused input writes nothing) and queues an IMPORT_TICKETS " +
      "operation: one item per row (position = row - 1), FAILED rows with a code and the field at fault.",
    args: { input: t.arg({ type: StartBulkImportInput, required: true }) },
    resolve: (_root, { input }, ctx) =>
      runMutation(() =>
        fileRefusalsAsUserErrors(() =>
          startAsPayload(async () => {
            const start = await importStart(input, ctx);
            return await startOperation(ctx.services.db, ctx.services.domain, viewerOf(ctx), {
              ...start,
              targets: input.previewToken
                ? {
                  kind: "preview",
                  previewId: expectId(input.previewToken, "BulkPreview", "previewToken"),
                  given: start.targets,
                }
                : start.targets,
              scheduledAt: input.scheduledAt ?? null,
              idempotencyKey: input.idempotencyKey ?? null,
              description: input.description ?? null,
              notify: notifyOptions(input.notify, ctx.services.config),
              guard: uploadConsumer(input, viewerOf(ctx).tenantId),
            }, limitsOf(ctx));
          })
        )
      ),
  }),
  previewBulkImport: t.field({
    type: PreviewPayload,
    description: "Reads and judges every row of startBulkImport's input without writing: counts per predicted " +
      "outcome and code, a sample, and a previewToken. scheduledAt, idempotencyKey and description are ignored.",
    args: { input: t.arg({ type: StartBulkImportInput, required: true }) },
    resolve: (_root, { input }, ctx) =>
      runMutation(() =>
        fileRefusalsAsUserErrors(() =>
          refusalsAsUserErrors(async () => ({
            preview: await previewOperation(
              ctx.services.db,
              ctx.services.domain,
              viewerOf(ctx),
              await importStart(input, ctx),
              limitsOf(ctx),
            ),
            userErrors: [],
          }))
        )
      ),
  }),
}));
