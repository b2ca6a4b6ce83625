/**
 * IMPORT_TICKETS (kind IMPORT): creates tickets from import rows, or in UPSERT mode updates
 * the ticket with the row's externalId. Each record (src/imports/record.ts) is the item's
 * planned after-image; importKeys gives it its target key at start: the ticket of its
 * externalId when one exists, else an id reserved from the tickets' identity sequence. Per
 * chunk, whatever its size:
 *   1. SELECT ... FROM tickets WHERE tenant_id = $1 AND id = ANY($2) ORDER BY id FOR UPDATE
 *   2. SELECT id, email, role FROM users WHERE tenant_id = $1 AND (email = ANY(..) OR id = ANY(..))
 *   3. decide each row in memory: the values (INVALID_FIELD, TOO_LONG, UNKNOWN_ASSIGNEE) and,
 *      for an update, the same rules as the change actions (rules.ts: closed is read-only,
 *      the transition table)
 *   4. INSERT ... OVERRIDING SYSTEM VALUE SELECT FROM unnest(...) ON CONFLICT DO NOTHING RETURNING
 *   5. UPDATE tickets SET ... FROM unnest(...) RETURNING
 * A created ticket has the reserved id and the externalId, both unique: a chunk re-run after a
 * crash finds the ticket it made (its transaction committed with its ledger rows, or neither
 * did), so no row is imported twice. A FAILED item keeps its record as `after` (nothing was
 * written; the failed-rows download and a retry read it), with the field at fault.
 */
import { sql } from "kysely";
import { ActionParamsError, type BulkAction, type ChunkContext, type ItemResult, type Tx } from "../../bulk/action.ts";
import { UUID_PATTERN } from "../../graphql/ids.ts";
import {
  fieldValue,
  IMPORT_FIELDS,
  IMPORT_FORMATS,
  IMPORT_MODES,
  type ImportField,
  type ImportParams,
  type ImportRecord,
} from "../../imports/record.ts";
import type { Role } from "../../db/tables.ts";
import {
  canTransition,
  LIMITS,
  TICKET_CATEGORIES,
  TICKET_PRIORITIES,
  TICKET_STATUSES,
  type TicketItemCode,
} from "../model.ts";
import { assigneeRefusal, closedRefusal } from "../rules.ts";
import { IMPORTED_FIELDS, type ImportedRow, type ImportImage, importImage, lockImported } from "./import-image.ts";

/** What a FAILED import item keeps as `after`: the record, and the field at fault. */
export interface FailedImportRecord extends ImportRecord {
  failedField: ImportField | null;
}

/** A row's values once judged: what the ticket's fields become (undefined: not given). */
type Values = Partial<Omit<ImportImage, "deletedAt" | "version">>;

type Refusal = { code: TicketItemCode; field: ImportField | null; message: string };

const ENUMS = {
  status: TICKET_STATUSES,
  priority: TICKET_PRIORITIES,
  category: TICKET_CATEGORIES,
} as const satisfies Partial<Record<ImportField, readonly string[]>>;

interface Assignee {
  id: string;
  email: string;
  role: Role;
}

/** The users the chunk's rows name as assignee (by email or id), in one query. */
async function assigneesOf(tx: Tx, tenantId: string, wanted: string[]): Promise<Map<string, Assignee>> {
  if (wanted.length === 0) return new Map();
  const emails = wanted.filter((w) => !UUID_PATTERN.test(w)).map((w) => w.toLowerCase());
  const ids = wanted.filter((w) => UUID_PATTERN.test(w));
  const { rows } = await sql<Assignee>`SELECT id, email, role FROM users WHERE tenant_id = ${tenantId}
    AND (email = ANY(${emails}::text[]) OR id = ANY(${ids}::uuid[]))`.execute(tx);
  return new Map(rows.flatMap((user) => [[user.email, user], [user.id, user]]));
}

const tooLong = (field: ImportField, max: number): Refusal => ({
  code: "TOO_LONG",
  field,
  message: `${field} is limited to ${max} characters.`,
});

/** The row's values, checked; a refusal names the field. */
function judgeValues(
  record: ImportRecord,
  params: ImportParams,
  users: Map<string, Assignee>,
): Values | Refusal {
  const values: Values = {};
  const title = fieldValue(record, params, "title");
  if (title !== undefined) {
    if (title.trim() === "") return { code: "INVALID_FIELD", field: "title", message: "title must not be blank." };
    if (title.length > LIMITS.titleMax) return tooLong("title", LIMITS.titleMax);
    values.title = title;
  }
  const body = fieldValue(record, params, "body");
  if (body !== undefined) {
    if (body.length > LIMITS.bodyMax) return tooLong("body", LIMITS.bodyMax);
    values.body = body;
  }
  for (const field of ["status", "priority", "category"] as const) {
    const given = fieldValue(record, params, field);
    if (given === undefined) continue;
    const value = given.trim().toUpperCase();
    if (!(ENUMS[field] as readonly string[]).includes(value)) {
      return {
        code: "INVALID_FIELD",
        field,
        message: `${field} must be one of ${ENUMS[field].join(", ")} (got ${JSON.stringify(given.slice(0, 40))}).`,
      };
    }
    values[field] = value;
  }
  const assignee = fieldValue(record, params, "assignee");
  if (assignee !== undefined) {
    const user = users.get(assignee.trim().toLowerCase());
    if (!user) {
      return {
        code: "UNKNOWN_ASSIGNEE",
        field: "assignee",
        message: `No user ${JSON.stringify(assignee.slice(0, 80))} (an e-mail or user id) in your tenant.`,
      };
    }
    const refusal = assigneeRefusal(user.role);
    if (refusal) return { code: "INVALID_FIELD", field: "assignee", message: refusal };
    values.assigneeId = user.id;
  }
  if (record.externalId !== undefined) {
    if (record.externalId.length > 200) return tooLong("externalId", 200);
    values.externalId = record.externalId;
  }
  return values;
}

/** An existing ticket: what the row changes on it, judged by the change actions' rules. */
function judgeUpdate(current: ImportedRow, values: Values, mode: ImportParams["mode"]): ImportImage | Refusal | null {
  if (mode === "CREATE") {
    return {
      code: "ALREADY_EXISTS",
      field: "externalId",
      message: "A ticket with this externalId exists (mode CREATE).",
    };
  }
  if (current.deleted_at) return { code: "DELETED", field: null, message: "The ticket is deleted." };
  const before = importImage(current);
  const changed = IMPORTED_FIELDS.filter((f) => values[f] !== undefined && values[f] !== before[f]);
  if (changed.length === 0) return null;
  const changesStatus = changed.includes("status");
  const closed = closedRefusal(current.status, changesStatus);
  if (closed) return { code: "FORBIDDEN", field: null, message: closed };
  if (changesStatus && !canTransition(current.status, values.status!)) {
    return {
      code: "INVALID_TRANSITION",
      field: "status",
      message: `A ticket cannot go from ${current.status} to ${values.status}.`,
    };
  }
  return { ...before, ...Object.fromEntries(changed.map((f) => [f, values[f]])), version: before.version + 1 };
}

const isRefusal = (value: unknown): value is Refusal => typeof value === "object" && value !== null && "code" in value;

function failed(position: number, record: ImportRecord, refusal: Refusal): ItemResult {
  const after: FailedImportRecord = { ...record, failedField: refusal.field };
  return {
    position,
    outcome: "FAILED",
    code: refusal.code,
    message: refusal.message,
    after,
  };
}

interface Planned {
  position: number;
  id: string;
  record: ImportRecord;
  before: ImportImage | null;
  next: ImportImage;
}

const createdImage = (values: Values): ImportImage => ({
  title: values.title!,
  body: values.body ?? "",
  status: values.status ?? "OPEN",
  priority: values.priority ?? "NORMAL",
  category: values.category ?? "GENERAL",
  assigneeId: values.assigneeId ?? null,
  externalId: values.externalId ?? null,
  deletedAt: null,
  version: 1,
});

const column = (rows: Planned[], field: keyof ImportImage) => rows.map((r) => r.next[field]);

/**
 * One INSERT for the chunk's new tickets; a key taken meanwhile (externalId) returns no row. Only the ids come back:
 * a created ticket is what was sent (createdImage: the columns' defaults included, no trigger), so reading 2,000 rows
 * of title and body back per chunk only cost the worker thread time and garbage.
 */
async function insertTickets(chunk: ChunkContext<ImportParams>, rows: Planned[]): Promise<Map<string, ImportImage>> {
  const { rows: inserted } = await sql<{ id: string }>`
    INSERT INTO tickets (id, tenant_id, title, body, status, priority, category, assignee_id, external_id, created_by)
    OVERRIDING SYSTEM VALUE
    SELECT v.id, ${chunk.tenantId}::uuid, v.title, v.body, v.status, v.priority, v.category, v.assignee_id,
      v.external_id, ${chunk.actorId}::uuid
    FROM unnest(${rows.map((r) => r.id)}::bigint[], ${column(rows, "title")}::text[], ${column(rows, "body")}::text[],
      ${column(rows, "status")}::text[], ${column(rows, "priority")}::text[], ${column(rows, "category")}::text[],
      ${column(rows, "assigneeId")}::uuid[], ${column(rows, "externalId")}::text[])
      AS v(id, title, body, status, priority, category, assignee_id, external_id)
    ON CONFLICT DO NOTHING
    RETURNING id`.execute(chunk.tx);
  const planned = new Map(rows.map((row) => [row.id, row.next]));
  return new Map(inserted.map(({ id }) => [String(id), planned.get(String(id))!]));
}

/** One UPDATE for the chunk's changed tickets, each row its own values. */
async function updateTickets(chunk: ChunkContext<ImportParams>, rows: Planned[]): Promise<Map<string, ImportImage>> {
  const { rows: updated } = await sql<ImportedRow>`
    UPDATE tickets AS t SET title = v.title, body = v.body, status = v.status, priority = v.priority,
      category = v.category, assignee_id = v.assignee_id, version = t.version + 1, updated_at = now()
    FROM unnest(${rows.map((r) => r.id)}::bigint[], ${column(rows, "title")}::text[], ${column(rows, "body")}::text[],
      ${column(rows, "status")}::text[], ${column(rows, "priority")}::text[], ${column(rows, "category")}::text[],
      ${column(rows, "assigneeId")}::uuid[]) AS v(id, title, body, status, priority, category, assignee_id)
    WHERE t.id = v.id AND t.tenant_id = ${chunk.tenantId}
    RETURNING t.id, t.title, t.body, t.status, t.priority, t.category, t.assignee_id, t.external_id, t.deleted_at,
      t.version`.execute(chunk.tx);
  return new Map(updated.map((row) => [String(row.id), importImage(row)]));
}

async function applyImport(chunk: ChunkContext<ImportParams>): Promise<ItemResult[]> {
  const records = chunk.items.map((item) => item.planned!.after as ImportRecord);
  const tickets = await lockImported(chunk.tx, chunk.tenantId, chunk.items.map((i) => i.targetId), chunk.dryRun);
  const wanted = records.flatMap((r) => r.error ? [] : [fieldValue(r, chunk.params, "assignee")?.trim()])
    .filter((w): w is string => !!w);
  const users = await assigneesOf(chunk.tx, chunk.tenantId, [...new Set(wanted)]);
  const results: ItemResult[] = [];
  const creates: Planned[] = [];
  const updates: Planned[] = [];
  for (const [index, item] of chunk.items.entries()) {
    const record = records[index];
    if (record.error) {
      results.push(failed(item.position, record, record.error));
      continue;
    }
    const values = judgeValues(record, chunk.params, users);
    if (isRefusal(values)) {
      results.push(failed(item.position, record, values));
      continue;
    }
    const current = tickets.get(item.targetId);
    if (!current) {
      if (values.title === undefined) {
        results.push(failed(item.position, record, {
          code: "INVALID_FIELD",
          field: "title",
          message: "title is required for a new ticket.",
        }));
      } else {
        creates.push({ position: item.position, id: item.targetId, record, before: null, next: createdImage(values) });
      }
      continue;
    }
    const next = judgeUpdate(current, values, chunk.params.mode);
    if (next === null) {
      results.push({
        position: item.position,
        outcome: "SKIPPED",
        code: "NO_CHANGE",
        message: "The ticket already has these values.",
        before: importImage(current),
      });
    } else if (isRefusal(next)) {
      results.push({ ...failed(item.position, record, next), before: importImage(current) });
    } else {
      updates.push({ position: item.position, id: item.targetId, record, before: importImage(current), next });
    }
  }
  const predicted = (rows: Planned[]) => new Map(rows.map((r) => [r.id, r.next]));
  const created = creates.length === 0
    ? new Map()
    : chunk.dryRun
    ? predicted(creates)
    : await insertTickets(chunk, creates);
  const updated = updates.length === 0
    ? new Map()
    : chunk.dryRun
    ? predicted(updates)
    : await updateTickets(chunk, updates);
  for (const [planned, written] of [[creates, created], [updates, updated]] as const) {
    for (const row of planned) {
      const after = written.get(row.id);
      results.push(
        after
          ? { position: row.position, outcome: "SUCCEEDED", before: row.before, after }
          : failed(row.position, row.record, {
            code: "ALREADY_EXISTS",
            field: "externalId",
            message: "A ticket with this externalId was created since the import started.",
          }),
      );
    }
  }
  return results;
}

function parseImportParams(raw: unknown): Promise<ImportParams> {
  const value = raw as Partial<ImportParams> | null;
  if (!value || !(IMPORT_FORMATS as readonly unknown[]).includes(value.format)) {
    throw new ActionParamsError("format", `format must be one of ${IMPORT_FORMATS.join(", ")}.`);
  }
  if (!(IMPORT_MODES as readonly unknown[]).includes(value.mode)) {
    throw new ActionParamsError("mode", `mode must be one of ${IMPORT_MODES.join(", ")}.`);
  }
  const columns = value.columns ?? {};
  if (Object.keys(columns).some((field) => !(IMPORT_FIELDS as readonly string[]).includes(field))) {
    throw new ActionParamsError("mapping", `Fields must be among ${IMPORT_FIELDS.join(", ")}.`);
  }
  return Promise.resolve({ format: value.format!, mode: value.mode!, columns, header: value.header ?? null });
}

export const importTickets: BulkAction<ImportParams> = {
  type: "IMPORT_TICKETS",
  kind: "IMPORT",
  requiredRole: "AGENT",
  // Started by startBulkImport (src/graphql/types/tickets-import.ts), not through BulkActionInput.
  graphql: {
    output: {
      fields: {
        format: { type: "String", description: "CSV or JSONL (inline rows: JSONL)." },
        mode: { type: "String", description: "CREATE or UPSERT." },
      },
    },
  },
  parseParams: parseImportParams,
  /**
   * SELECT coalesce(t.id, nextval(<tickets id sequence>)) FROM unnest($externalIds) WITH ORDINALITY
   *   LEFT JOIN tickets t ON (tenant_id, external_id): the existing ticket or a reserved id. Rows
   * refused while reading (a repeated externalId among them) get a reserved id of their own. A
   * preview (dryRun) reserves nothing: -row number stands for a new ticket.
   */
  async importKeys(tx, { tenantId, records, dryRun }) {
    const given = records as ImportRecord[];
    const externalIds = given.map((r) => r.error ? null : r.externalId ?? null);
    // The sequence is looked up once (an InitPlan): pg_get_serial_sequence per row made 10,000 keys cost 64-109 ms
    // instead of 4-10 ms (measured on the shared machine). A preview's new rows are keyed -row below (a preview
    // keys a file batch by batch, so the call's ordinality would repeat).
    const fresh = dryRun ? sql`NULL` : sql`nextval((SELECT pg_get_serial_sequence('tickets', 'id'))::regclass)`;
    // The sort is below the nextval() projection, so new tickets get ids in row order.
    const { rows } = await sql<{ key: string | null }>`
      SELECT coalesce(f.id, ${fresh})::text AS key
      FROM (SELECT r.ord, t.id FROM unnest(${externalIds}::text[]) WITH ORDINALITY AS r(external_id, ord)
            LEFT JOIN tickets t ON t.tenant_id = ${tenantId} AND t.external_id = r.external_id
            ORDER BY r.ord) AS f`.execute(tx);
    return rows.map((row, i) => row.key ?? String(-given[i].row));
  },
  apply: applyImport,
};
