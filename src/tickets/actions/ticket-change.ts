/**
 * The shared chunk runner of the field-changing ticket actions (SET_STATUS, SET_PRIORITY,
 * SET_CATEGORY, ASSIGN, DELETE, RESTORE). A chunk is decided, changed and imaged in SQL
 * (a LedgerSql, src/bulk/action.ts), which the engine runs as one statement with the job's
 * deletion and the ledger INSERT:
 *   ticket_locked  AS (SELECT <decision columns> FROM tickets WHERE tenant_id = $1
 *                      AND id = ANY(ARRAY(SELECT target_id FROM chunk_items)) ORDER BY id FOR UPDATE),
 *   ticket_decided AS (chunk_items LEFT JOIN ticket_locked, and the first refusal that holds as
 *                      outcome, code, message: NOT_FOUND, DELETED, then the action's own, in order),
 *   ticket_changed AS (UPDATE tickets SET <patch>, version = version + 1, updated_at = now()
 *                      FROM ticket_decided WHERE not refused RETURNING <image columns>)
 *   SELECT position, target_id, outcome, code, message, <before image>, <after image>
 * A preview builds the same SQL with dryRun: no lock, and ticket_changed a SELECT predicting the
 * patched row instead of the UPDATE. Locking in id order means two operations over overlapping
 * tickets never deadlock. Why the lock pass stays although the UPDATE then writes each row again
 * (docs/performance.md, "Session 4: the engine's chunk"): the ledger peer pays the same one (2,000 WAL
 * records per chunk), and one `UPDATE ... RETURNING old.*, new.*` would lock in its plan's order (heap
 * order for a bitmap scan, (status, id) for a skip scan of tickets_status_idx) and could not read a
 * refused item consistently with its own re-check of a concurrently changed row. The UPDATE joins the
 * locked rows by id, not ctid: after waiting, FOR UPDATE returns the newest version's ctid, which the
 * UPDATE's snapshot does not see, so a TID join silently skipped that row (a two-session check).
 * Until this, a chunk SELECTed its 2,000 tickets into the worker thread, decided there, UPDATEd
 * with RETURNING, built the images in JavaScript and sent them back as seven arrays
 * (docs/performance.md, "The ledger in SQL", says what moving it bought).
 */
import { type RawBuilder, sql } from "kysely";
import { CHUNK_ITEMS, type LedgerContext, type LedgerSql, type Tx } from "../../bulk/action.ts";
import { TICKET_STATUSES, type TicketItemCode, type TicketRow } from "../model.ts";
import { closedRefusal } from "../rules.ts";
import { ticketImageSql } from "./ticket-image.ts";

/** A decision of the JavaScript actions that lock tickets themselves (add-comment.ts). */
export type Decision =
  | { change: true }
  | { change: false; outcome: "FAILED" | "SKIPPED"; code: TicketItemCode; message: string };

export const fail = (code: TicketItemCode, message: string): Decision => ({
  change: false,
  outcome: "FAILED",
  code,
  message,
});

/** Closed tickets are read-only except for reopening (and admin deletion): rules.ts closedRefusal. */
export const closedIsReadOnly = (ticket: LockedTicket): Decision | null => {
  const refusal = closedRefusal(ticket.status, false);
  return refusal ? fail("FORBIDDEN", refusal) : null;
};

export interface TicketPatchColumns {
  status?: string;
  priority?: string;
  category?: string;
  assignee_id?: string | null;
  /** "now" soft-deletes, null restores. */
  deleted_at?: "now" | null;
}

/** The columns actions decide on (not title or body: a chunk never carries 2000 bodies). */
const DECISION_COLUMNS = ["id", "status", "priority", "category", "assignee_id", "deleted_at", "version"] as const;
export type LockedTicket = Pick<TicketRow, typeof DECISION_COLUMNS[number]>;

/** The chunk's tickets of the tenant, row-locked in id order (a dry run reads without locking). */
export async function lockTickets(
  tx: Tx,
  tenantId: string,
  ids: string[],
  dryRun = false,
): Promise<Map<string, LockedTicket>> {
  const query = tx.selectFrom("tickets").select(DECISION_COLUMNS).where("tenant_id", "=", tenantId)
    .where(sql<boolean>`id = ANY(${ids}::bigint[])`).orderBy("id");
  const rows: LockedTicket[] = await (dryRun ? query : query.forUpdate()).execute();
  return new Map(rows.map((row) => [String(row.id), row]));
}

/**
 * A refusal of a change, in SQL: when `when` holds for the locked ticket (its columns as `t`:
 * id, status, priority, category, assignee_id, deleted_at, version), the item ends with
 * `outcome`, `code` and `message` (text, or an SQL text expression over `t`) and is not changed.
 */
export interface Refusal {
  when: RawBuilder<boolean>;
  outcome: "FAILED" | "SKIPPED";
  code: TicketItemCode;
  message: string | RawBuilder<string>;
}

export const noChangeWhen = (when: RawBuilder<boolean>, message: Refusal["message"]): Refusal => ({
  when,
  outcome: "SKIPPED",
  code: "NO_CHANGE",
  message,
});
export const failWhen = (code: TicketItemCode, when: RawBuilder<boolean>, message: Refusal["message"]): Refusal => ({
  when,
  outcome: "FAILED",
  code,
  message,
});

/** closedIsReadOnly in SQL: the statuses rules.ts closedRefusal makes read-only, with its message. */
const READ_ONLY_STATUSES = TICKET_STATUSES.filter((status) => closedRefusal(status, false) !== null);
export const closedIsReadOnlySql: Refusal = failWhen(
  "FORBIDDEN",
  sql<boolean>`t.status = ANY(${READ_ONLY_STATUSES}::text[])`,
  closedRefusal(READ_ONLY_STATUSES[0], false)!,
);

export interface ChangeOptions {
  /** Whether a soft-deleted ticket can be acted on (restore and delete handle it themselves). */
  acceptsDeleted?: boolean;
}

/** The columns a patch may set besides deleted_at, with their SQL types: a preview's predicted values need one (parameters are untyped). */
const PATCHABLE = ["status", "priority", "category", "assignee_id"] as const;
const PATCH_TYPES: Record<typeof PATCHABLE[number], string> = {
  status: "text",
  priority: "text",
  category: "text",
  assignee_id: "uuid",
};

const textOf = (message: Refusal["message"]) => typeof message === "string" ? sql`${message}::text` : message;

/** CASE WHEN <refusal 1> THEN <part 1> WHEN ... END: NULL when no refusal holds (the item changes). */
function firstRefusal(refusals: readonly Refusal[], part: (refusal: Refusal) => RawBuilder<unknown>) {
  return sql`CASE ${sql.join(refusals.map((r) => sql`WHEN ${r.when} THEN ${part(r)}`), sql` `)} END`;
}

/** Runs a uniform patch over a chunk; an item changes unless one of `refusals` holds for it. */
export function ticketChangeLedger(
  chunk: LedgerContext<unknown>,
  patch: TicketPatchColumns,
  refusals: readonly Refusal[],
  options: ChangeOptions = {},
): LedgerSql {
  const all: Refusal[] = [
    failWhen("NOT_FOUND", sql<boolean>`t.id IS NULL`, "No such ticket."),
    ...(options.acceptsDeleted
      ? []
      : [failWhen("DELETED", sql<boolean>`t.deleted_at IS NOT NULL`, "The ticket is deleted.")]),
    ...refusals,
  ];
  const items = sql.raw(CHUNK_ITEMS);
  const { deleted_at, ...columns } = patch;
  const fields = PATCHABLE.filter((column) => column in columns);
  const deletedAt = deleted_at === undefined ? null : deleted_at === "now" ? sql`now()` : sql`NULL::timestamptz`;
  const changed = chunk.dryRun
    ? sql`SELECT d.id, ${
      sql.join(
        PATCHABLE.map((column) =>
          fields.includes(column)
            ? sql`${columns[column]}::${sql.raw(PATCH_TYPES[column])} AS ${sql.id(column)}`
            : sql`d.${sql.id(column)}`
        ),
      )
    }, ${deletedAt ?? sql`d.deleted_at`} AS deleted_at, d.version + 1 AS version
      FROM ticket_decided AS d WHERE d.outcome IS NULL`
    : sql`UPDATE tickets AS u SET ${
      sql.join([
        ...fields.map((column) => sql`${sql.id(column)} = ${columns[column]}`),
        ...(deletedAt ? [sql`deleted_at = ${deletedAt}`] : []),
        sql`version = u.version + 1`,
        sql`updated_at = now()`,
      ])
    }
      FROM ticket_decided AS d WHERE u.id = d.target_id AND u.tenant_id = ${chunk.tenantId} AND d.outcome IS NULL
      RETURNING ${sql.join(DECISION_COLUMNS.map((column) => sql.ref(`u.${column}`)))}`;
  return {
    ctes: [
      [
        "ticket_locked",
        sql`SELECT ${
          sql.join(DECISION_COLUMNS.map((column) => sql.id(column)))
        } FROM tickets WHERE tenant_id = ${chunk.tenantId}
          AND id = ANY(ARRAY(SELECT target_id FROM ${items})) ORDER BY id ${chunk.dryRun ? sql`` : sql`FOR UPDATE`}`,
      ],
      [
        "ticket_decided",
        sql`SELECT i.position, i.target_id, t.id, t.status, t.priority, t.category, t.assignee_id, t.deleted_at,
            t.version, ${firstRefusal(all, (r) => sql`${r.outcome}::text`)} AS outcome,
            ${firstRefusal(all, (r) => sql`${r.code}::text`)} AS code,
            ${firstRefusal(all, (r) => textOf(r.message))} AS message
          FROM ${items} AS i LEFT JOIN ticket_locked AS t ON t.id = i.target_id`,
      ],
      ["ticket_changed", changed],
    ],
    select: sql`SELECT d.position, d.target_id, coalesce(d.outcome, 'SUCCEEDED') AS outcome, d.code, d.message,
        CASE WHEN d.id IS NULL THEN NULL ELSE ${ticketImageSql("d")} END AS before,
        CASE WHEN c.id IS NULL THEN NULL ELSE ${ticketImageSql("c")} END AS after
      FROM ticket_decided AS d LEFT JOIN ticket_changed AS c ON c.id = d.target_id`,
  };
}
