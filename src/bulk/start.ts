/**
 * Starting an operation. In ONE transaction: the operation row and its jobs, one per chunk,
 * each holding its chunk's target keys (and planned images) in input order, written by ONE
 * INSERT ... SELECT grouped per chunk (queue/insert-jobs.ts) from the targets:
 *   ids:         unnest($ids::int8[]) WITH ORDINALITY
 *   filter:      the domain's filterTargets query, numbered in its order
 *   records:     unnest($keys::int8[], $records::jsonb[]) WITH ORDINALITY (IMPORT)
 *   parentItems: the parent's ledger (retry, rollback)
 * No item row is written at start: each item's ledger row is INSERTed once, by the chunk that
 * settles it (migrations/0012). Then NOTIFY wakes the workers at commit.
 */
import { sha256OfJson } from "../encoding.ts";
import { sql } from "kysely";
import type { Viewer } from "../auth/tokens.ts";
import type { Db } from "../db/database.ts";
import type { StoredItemOutcome } from "../db/tables.ts";
import { ActionParamsError, type BulkAction, type BulkDomain, roleAllows, type Tx } from "./action.ts";
import { admissionStatus } from "./admit.ts";
import { notifyJobs, notifyProgress } from "./notify.ts";
import { startCapRefusal, type StartCaps } from "./start-caps.ts";
import { type NotifyOptions, startEventOf } from "../notify/events.ts";
import { enqueueOperationEvent } from "../notify/outbox.ts";
import { type OperationRow, recordEvent } from "./operation.ts";
import { countStarted } from "../metrics/engine.ts";
import { log } from "../log.ts";
import { insertJobs, type JobTargets } from "./queue/insert-jobs.ts";
import { sqlState } from "../guards.ts";

export type Targets =
  | { kind: "ids"; ids: string[] }
  | { kind: "filter"; filter: unknown }
  /** The input records of an IMPORT action, in order (BulkAction.importKeys keys them). */
  | { kind: "records"; records: unknown[] | RecordStream }
  /**
   * Items of a parent operation, in the parent's order (retry: FAILED ones; rollback:
   * SUCCEEDED ones). With `swapImages` the new items carry the parent's images swapped as
   * their plan: before = the state the parent left, after = the state to restore.
   */
  | ParentItems
  /**
   * The frozen targets of a preview (startBulkOperation with previewToken); `given` are the
   * targets as the client sent them, which the preview must have been made for. Resolved
   * inside the creating transaction, after the idempotency check, so a replay never needs
   * the preview any more.
   */
  | { kind: "preview"; previewId: string; given: Targets };

/**
 * Records too many to hold (a file of a million rows): read batch by batch while the ledger is
 * written, in the creating transaction, so the start holds one batch. `digest` stands for them in
 * the input hash (idempotency, previewToken), e.g. the file's SHA-256. Can be read once. The
 * counts are checked as the batches come (EMPTY_TARGETS, TOO_MANY_TARGETS); an error thrown by
 * the source (a file found bad halfway) rolls the start back like a refusal.
 */
export interface RecordStream {
  digest: string;
  batches: AsyncIterable<unknown[]>;
}

export interface ParentItems {
  kind: "parentItems";
  operationId: string;
  outcome: "FAILED" | "SUCCEEDED";
  codes?: string[];
  swapImages?: boolean;
  /**
   * Retry of an IMPORT: the new items plan the parent's after-image (the record a FAILED import item
   * keeps) as their `after`, as records do at start.
   */
  carryRecords?: boolean;
  /** Leave out targets that an earlier child of the parent of this kind settled with one of these outcomes. */
  excludeSettledBy?: { kind: "RETRY" | "ROLLBACK"; outcomes: readonly StoredItemOutcome[] };
}

export interface StartInput {
  actionType: string;
  params: unknown;
  targets: Targets;
  scheduledAt?: Date | null;
  idempotencyKey?: string | null;
  description?: string | null;
  /** RETRY and ROLLBACK operations name their parent. */
  kind?: "STANDARD" | "RETRY" | "ROLLBACK";
  parentId?: string | null;
  /**
   * Runs first inside the creating transaction (e.g. locks the parent and checks that no
   * rollback of it is running); a StartError thrown here refuses the start.
   */
  guard?: (tx: Tx) => Promise<void>;
  /** Notifications the creator asked for (e-mail); stored in options.notify. */
  notify?: NotifyOptions | null;
}

export interface StartLimits extends StartCaps {
  maxTargets: number;
  chunkSize: number;
  /** Items per chunk of the actions that ask for it (BulkAction.chunkSize; BULK_EXPORT_CHUNK_SIZE); else chunkSize. */
  exportChunkSize?: number;
  maxActivePerUser: number;
}

export type StartErrorCode =
  | "UNKNOWN_ACTION"
  | "INVALID_PARAMS"
  | "FORBIDDEN"
  | "EMPTY_TARGETS"
  | "TOO_MANY_TARGETS"
  | "INVALID_INPUT"
  | "IDEMPOTENCY_CONFLICT"
  | "NOT_FOUND"
  | "OPERATION_ACTIVE"
  | "NOTHING_TO_RETRY"
  | "NOT_RETRYABLE"
  | "ALREADY_RETRIED"
  | "NOTHING_TO_ROLL_BACK"
  | "ROLLBACK_OF_ROLLBACK"
  | "ROLLBACK_WINDOW_EXPIRED"
  | "ROLLBACK_IN_PROGRESS"
  | "ALREADY_ROLLED_BACK"
  | "PREVIEW_EXPIRED"
  | "PREVIEW_MISMATCH"
  | "PREVIEW_REQUIRED"
  | "RATE_LIMITED"
  | "TOO_MANY_WAITING"
  | "EMAIL_NOT_CONFIGURED";

/**
 * A refusal to start: nothing was written. `field` names the input field at fault; `retryAt` says when
 * trying again can succeed (RATE_LIMITED, TOO_MANY_WAITING).
 */
export class StartError extends Error {
  constructor(
    readonly code: StartErrorCode,
    message: string,
    readonly field: string[] | null = null,
    readonly retryAt: Date | null = null,
  ) {
    super(message);
    this.name = "StartError";
  }
}

export interface Started {
  operation: OperationRow;
  /** false when an earlier request with the same idempotency key created it. */
  created: boolean;
}

export const DESCRIPTION_MAX = 500;
/** A NUL as JSON.stringify writes it (\u0000), not an escaped backslash followed by "u0000". */
const NUL_IN_JSON = /(?<!\\)(?:\\\\)*\\u0000/;
export const IDEMPOTENCY_KEY_MAX = 200;

async function inputHash(input: StartInput): Promise<string> {
  return await sha256OfJson([
    input.actionType,
    input.params,
    input.targets,
    input.scheduledAt?.toISOString() ?? null,
    input.description ?? null,
    input.kind ?? "STANDARD",
    input.parentId ?? null,
  ]);
}

/** Ids de-duplicated, first occurrence wins, input order kept. */
export function uniqueIds(ids: string[]): string[] {
  return [...new Set(ids)];
}

async function existingForKey(db: Db | Tx, viewer: Viewer, key: string, hash: string): Promise<Started | null> {
  const existing = await db.selectFrom("bulk_operations").selectAll().where("created_by", "=", viewer.userId)
    .where("idempotency_key", "=", key).executeTakeFirst();
  if (!existing) return null;
  if (existing.input_hash !== hash) {
    throw new StartError(
      "IDEMPOTENCY_CONFLICT",
      "This idempotency key was already used with a different input.",
      ["input", "idempotencyKey"],
    );
  }
  return { operation: existing, created: false };
}

/** The hash binding a previewToken to the action and targets it was made for. */
export function previewHash(actionType: string, params: unknown, targets: Targets): Promise<string> {
  return sha256OfJson([actionType, params, targets]);
}

/**
 * The frozen targets of a preview. Refused when the token is unknown, expired, someone
 * else's, or made for another action or target input.
 */
async function previewTargets(
  tx: Tx,
  viewer: Viewer,
  input: Pick<StartInput, "actionType" | "params">,
  targets: { previewId: string; given: Targets },
): Promise<Targets> {
  const preview = await tx.selectFrom("bulk_previews").selectAll().where("id", "=", targets.previewId)
    .where("created_by", "=", viewer.userId).executeTakeFirst();
  if (!preview || new Date(preview.expires_at).getTime() < Date.now()) {
    throw new StartError("PREVIEW_EXPIRED", "Unknown or expired previewToken; preview again.", [
      "input",
      "previewToken",
    ]);
  }
  if (preview.input_hash !== await previewHash(input.actionType, input.params, targets.given)) {
    throw new StartError(
      "PREVIEW_MISMATCH",
      "The previewToken was made for another action or other targets.",
      ["input", "previewToken"],
    );
  }
  // A preview of records checked the rows; the start keys them itself (new targets get their keys then).
  if (targets.given.kind === "records") return targets.given;
  return { kind: "ids", ids: preview.target_ids.map(String) };
}

function checkInput(domain: BulkDomain, input: StartInput, limits: StartLimits): void {
  for (const field of ["description", "idempotencyKey"] as const) {
    // PostgreSQL text cannot hold NUL; refused here rather than failing in the INSERT.
    if (input[field]?.includes("\u0000")) {
      throw new StartError("INVALID_INPUT", `${field} must not contain NUL characters.`, ["input", field]);
    }
  }
  if (input.description && input.description.length > DESCRIPTION_MAX) {
    throw new StartError("INVALID_INPUT", `description is limited to ${DESCRIPTION_MAX} characters.`, [
      "input",
      "description",
    ]);
  }
  if (input.idempotencyKey !== undefined && input.idempotencyKey !== null) {
    if (input.idempotencyKey.length < 1 || input.idempotencyKey.length > IDEMPOTENCY_KEY_MAX) {
      throw new StartError("INVALID_INPUT", `idempotencyKey must be 1 to ${IDEMPOTENCY_KEY_MAX} characters.`, [
        "input",
        "idempotencyKey",
      ]);
    }
  }
  const targets = input.targets.kind === "preview" ? input.targets.given : input.targets;
  if (targets.kind === "records" && Array.isArray(targets.records)) {
    // A preview refuses what its start would (the start checks each batch's JSON again, a stream's too).
    checkRecordsJson(JSON.stringify(targets.records));
    if (targets.records.length === 0) {
      throw new StartError("EMPTY_TARGETS", "There are no records.", ["input", "targets", "records"]);
    }
    if (targets.records.length > limits.maxTargets) {
      throw new StartError(
        "TOO_MANY_TARGETS",
        `At most ${limits.maxTargets} records per operation (got ${targets.records.length}).`,
        ["input", "targets", "records"],
      );
    }
  }
  if (targets.kind === "ids") {
    if (targets.ids.length === 0) {
      throw new StartError("EMPTY_TARGETS", "The target list is empty.", ["input", "targets", "ids"]);
    }
    const malformed = targets.ids.find((id) => !domain.target.keyPattern.test(id));
    if (malformed !== undefined) {
      throw new StartError("INVALID_INPUT", `Malformed target id ${JSON.stringify(malformed.slice(0, 40))}.`, [
        "input",
        "targets",
        "ids",
      ]);
    }
    if (targets.ids.length > limits.maxTargets) {
      throw new StartError(
        "TOO_MANY_TARGETS",
        `At most ${limits.maxTargets} targets per operation (got ${targets.ids.length}).`,
        ["input", "targets", "ids"],
      );
    }
  }
}

/** PostgreSQL jsonb cannot hold NUL; refused here rather than failing in the INSERT. */
function checkRecordsJson(json: string): void {
  if (NUL_IN_JSON.test(json)) {
    throw new StartError("INVALID_INPUT", "Records must not contain NUL characters.", ["input", "targets", "records"]);
  }
}

/** The checks that need no database: the action exists, the role may run it, input bounds. */
export function validateStart(domain: BulkDomain, viewer: Viewer, input: StartInput, limits: StartLimits): BulkAction {
  const action = domain.actions.get(input.actionType);
  if (!action) throw new StartError("UNKNOWN_ACTION", `Unknown action ${input.actionType}.`, ["input", "action"]);
  if (!roleAllows(viewer.role, action.requiredRole)) {
    throw new StartError(
      "FORBIDDEN",
      `${input.actionType} needs the ${action.requiredRole} role; you are ${viewer.role}.`,
    );
  }
  const given = input.targets.kind === "preview" ? input.targets.given : input.targets;
  const importing = given.kind === "records" || (given.kind === "parentItems" && given.carryRecords === true);
  if (importing !== (action.kind === "IMPORT")) {
    throw new StartError(
      "INVALID_INPUT",
      importing ? `${action.type} does not take records.` : `${action.type} takes records, not targets.`,
      ["input", "targets"],
    );
  }
  checkInput(domain, input, limits);
  return action;
}

/** The action's own parameter checks (some read the database, e.g. the assignee). */
export async function parseParams(tx: Tx, action: BulkAction, raw: unknown, viewer: Viewer): Promise<unknown> {
  try {
    return await action.parseParams(raw, { tx, tenantId: viewer.tenantId, actorId: viewer.userId });
  } catch (error) {
    if (error instanceof ActionParamsError) {
      throw new StartError("INVALID_PARAMS", error.message, ["input", "action", error.field]);
    }
    throw error;
  }
}

/**
 * Validates and creates an operation; throws StartError (nothing written) on refusal.
 * Targets given as ids that do not exist (or are another tenant's) are not refused:
 * they become per-item NOT_FOUND outcomes.
 */
export async function startOperation(
  db: Db,
  domain: BulkDomain,
  viewer: Viewer,
  input: StartInput,
  limits: StartLimits,
): Promise<Started> {
  validateStart(domain, viewer, input, limits);
  const hash = await inputHash(input);
  if (input.idempotencyKey) {
    const existing = await existingForKey(db, viewer, input.idempotencyKey, hash);
    if (existing) return existing;
  }
  try {
    const started = await db.transaction().execute((tx) => create(tx, domain, viewer, input, limits, hash));
    countStarted(started.operation);
    const { id, tenant_id, status, total } = started.operation;
    log.info("bulk", `operation created: ${status}, ${total} items`, { tenant: tenant_id, operation: id });
    return started;
  } catch (error) {
    // Two concurrent requests with one key: the loser of the unique index returns the winner's.
    if (input.idempotencyKey && sqlState(error) === "23505") {
      const existing = await existingForKey(db, viewer, input.idempotencyKey, hash);
      if (existing) return existing;
    }
    throw error;
  }
}

async function create(
  tx: Tx,
  domain: BulkDomain,
  viewer: Viewer,
  input: StartInput,
  limits: StartLimits,
  hash: string,
): Promise<Started> {
  const action = domain.actions.get(input.actionType)!;
  await input.guard?.(tx);
  const targets = input.targets.kind === "preview"
    ? await previewTargets(tx, viewer, input, input.targets)
    : input.targets;
  const params = await parseParams(tx, action, input.params, viewer);
  // The status depends on the creator's running operations: admissionStatus locks the
  // user row, so concurrent starts and admissions of one user are serialised.
  const status = await admissionStatus(tx, viewer.userId, input.scheduledAt ?? null, limits.maxActivePerUser);
  const capped = await startCapRefusal(tx, viewer.userId, status, limits);
  if (capped) throw new StartError(capped.code, capped.message, null, capped.retryAt);
  const targetSummary = summarize(input.targets);
  const operation = await tx.insertInto("bulk_operations").values({
    tenant_id: viewer.tenantId,
    created_by: viewer.userId,
    kind: input.kind ?? "STANDARD",
    parent_id: input.parentId ?? null,
    action_type: action.type,
    action_params: JSON.stringify(params),
    target_summary: JSON.stringify(targetSummary),
    description: input.description ?? null,
    idempotency_key: input.idempotencyKey ?? null,
    input_hash: hash,
    status,
    total: 0,
    scheduled_at: input.scheduledAt ?? null,
    options: JSON.stringify(input.notify ? { notify: input.notify } : {}),
    started_at: status === "RUNNING" ? sql<Date>`now()` : null,
  }).returning("id").executeTakeFirstOrThrow();

  const runnable = status === "RUNNING";
  const chunkSize = action.chunkSize?.(limits) ?? limits.chunkSize;
  const total = targets.kind === "records"
    ? await insertRecordJobs(tx, action, {
      operationId: operation.id,
      tenantId: viewer.tenantId,
      records: targets.records,
      chunkSize,
      maxTargets: limits.maxTargets,
      runnable,
    })
    : await insertJobs(tx, {
      operationId: operation.id,
      chunkSize,
      runnable,
      targets: jobTargetsOf(tx, domain, viewer.tenantId, targets, limits.maxTargets),
    });
  if (total === 0) {
    throw new StartError("EMPTY_TARGETS", `No ${domain.target.noun} match the filter.`, ["input", "targets"]);
  }
  if (total > limits.maxTargets) {
    throw new StartError("TOO_MANY_TARGETS", `The filter matches more than ${limits.maxTargets} targets.`, [
      "input",
      "targets",
    ]);
  }
  // A stream's count is known once its jobs are written (summarize could not count it).
  const streamed = targets.kind === "records" && !Array.isArray(targets.records);
  const row = await tx.updateTable("bulk_operations")
    .set({ total, ...(streamed && { target_summary: JSON.stringify({ kind: "records", count: total }) }) })
    .where("id", "=", operation.id)
    .returningAll().executeTakeFirstOrThrow();
  await recordEvent(
    tx,
    operation.id,
    "CREATED",
    { total, status, actionType: action.type },
    viewer.userId,
    viewer.origin,
  );
  if (status === "RUNNING") {
    await recordEvent(tx, operation.id, "STARTED");
    await notifyJobs(tx);
  }
  await enqueueOperationEvent(tx, operation.id, startEventOf(status));
  await notifyProgress(tx, viewer.tenantId, operation.id);
  return { operation: row, created: true };
}

function summarize(targets: Targets): Record<string, unknown> {
  switch (targets.kind) {
    case "preview":
      return summarize(targets.given);
    case "ids":
      return { kind: "ids", count: new Set(targets.ids).size, given: targets.ids.length };
    case "records":
      // A stream's count is known once it is written (create() stores it with the total).
      return { kind: "records", count: Array.isArray(targets.records) ? targets.records.length : null };
    case "filter":
      return { kind: "filter", filter: targets.filter };
    case "parentItems":
      return { kind: "parent", operationId: targets.operationId, outcome: targets.outcome, codes: targets.codes };
  }
}

/**
 * The parent's items a retry or rollback covers, in the parent's order:
 *   SELECT position, target_id, before, after FROM bulk_operation_items p
 *   WHERE operation_id = $parent AND outcome = $outcome [AND error_code = ANY($codes)]
 *     [AND NOT EXISTS (an item of an earlier child of that kind, same target, settled outcome)]
 * The NOT EXISTS is planned as a hash anti-join over the children's items; it reads the ledger view, so
 * a child's items stored as runs (a compactLedger action's SUCCEEDED ones, migrations/0017) count too.
 */
export function parentItemsQuery(tx: Tx, targets: ParentItems) {
  const exclude = targets.excludeSettledBy;
  return tx.selectFrom("bulk_operation_items as p").select(["p.position", "p.target_id", "p.before", "p.after"])
    .where("p.operation_id", "=", targets.operationId).where("p.outcome", "=", targets.outcome)
    .$if(!!targets.codes?.length, (q) => q.where("p.error_code", "in", targets.codes!))
    .$if(!!exclude, (q) =>
      q.where(({ not, exists, selectFrom }) =>
        not(exists(
          selectFrom("bulk_operation_ledger as c").innerJoin("bulk_operations as o", "o.id", "c.operation_id")
            .select("c.position").where("o.parent_id", "=", targets.operationId)
            .where("o.kind", "=", exclude!.kind).where("c.outcome", "in", exclude!.outcomes)
            .whereRef("c.target_id", "=", "p.target_id"),
        ))
      ))
    .orderBy("p.position");
}

/**
 * The jobs of an IMPORT: one item per record, keyed by the action's importKeys, the record as
 * its planned after-image, written a batch at a time (a RecordStream's batches, or the records
 * as one batch):
 *   SELECT $first + ord - 1 AS pos, key AS target_id, NULL AS before, record::jsonb AS after
 *   FROM unnest($keys::int8[], $records::text[]) WITH ORDINALITY
 * insertJobs groups rows by pos / chunkSize, so the records of one chunk must reach it in one
 * call: batches are re-cut at chunk boundaries (only the last flush ends with a partial chunk),
 * and at most one batch plus a chunk is held. Then one check that no two records got the same
 * target (a hash aggregate over the jobs' keys).
 */
async function insertRecordJobs(
  tx: Tx,
  action: BulkAction,
  args: {
    operationId: string;
    tenantId: string;
    records: unknown[] | RecordStream;
    chunkSize: number;
    maxTargets: number;
    runnable: boolean;
  },
): Promise<number> {
  const { operationId, tenantId, records, chunkSize, maxTargets, runnable } = args;
  let total = 0;
  const flush = async (batch: unknown[]) => {
    // One JSON text for the batch, split by json_array_elements: JSON.stringify once (the NUL check reads the same
    // text), and one string parameter instead of a text[] whose every element pg escapes (quotes, backslashes) and
    // measures again. 10,000 records on the shared machine (load 9, 7 runs each): the statement 891 ms -> 424 ms median.
    const json = JSON.stringify(batch);
    checkRecordsJson(json);
    const keys = await action.importKeys!(tx, { tenantId, records: batch });
    if (keys.length !== batch.length) throw new Error(`${action.type}.importKeys keyed ${keys.length} records`);
    const first = total;
    total += await insertJobs(tx, {
      operationId,
      chunkSize,
      runnable,
      targets: {
        planned: true,
        rows: sql`SELECT (${first}::int + ord - 1)::int AS pos, key AS target_id, NULL::jsonb AS before,
            record::jsonb AS after
          FROM ROWS FROM (unnest(${keys}::int8[]), json_array_elements(${json}::json)) WITH ORDINALITY
            AS t(key, record, ord)`,
      },
    });
  };
  let held: unknown[] = [];
  for await (const batch of Array.isArray(records) ? [records] : records.batches) {
    if (batch.length === 0) continue;
    if (total + held.length + batch.length > maxTargets) {
      throw new StartError("TOO_MANY_TARGETS", `At most ${maxTargets} records per operation.`, [
        "input",
        "targets",
        "records",
      ]);
    }
    held = held.length === 0 ? batch : held.concat(batch);
    const whole = held.length - held.length % chunkSize;
    if (whole > 0) {
      await flush(held.slice(0, whole));
      held = held.slice(whole);
    }
  }
  if (held.length > 0) await flush(held);
  if (total === 0) throw new StartError("EMPTY_TARGETS", "There are no records.", ["input", "targets", "records"]);
  const { rows: [twice] } = await sql<{ first: number; second: number }>`
    SELECT min(s.pos) AS first, max(s.pos) AS second
    FROM (SELECT j.first_position + (t.ord - 1)::int AS pos, t.key
      FROM bulk_jobs AS j, unnest(j.target_ids) WITH ORDINALITY AS t(key, ord)
      WHERE j.operation_id = ${operationId}) AS s
    GROUP BY s.key HAVING count(*) > 1 LIMIT 1`.execute(tx);
  if (twice) {
    throw new StartError("INVALID_INPUT", `Records ${twice.first} and ${twice.second} are the same target.`, [
      "input",
      "targets",
      "records",
    ]);
  }
  return total;
}

/**
 * The targets as rows (pos, target_id [, before, after]) for insertJobs, at most maxTargets + 1
 * (one more means "too many").
 */
function jobTargetsOf(
  tx: Tx,
  domain: BulkDomain,
  tenantId: string,
  targets: Exclude<Targets, { kind: "records" }>,
  maxTargets: number,
): JobTargets {
  if (targets.kind === "filter") {
    const matching = domain.filterTargets(tx, { tenantId, filter: targets.filter, limit: maxTargets + 1 });
    // row_number() OVER () numbers the rows in the order the subquery returns them: its ORDER BY
    // (a LIMITed subquery is never flattened or reordered by the planner).
    return {
      planned: false,
      rows: sql`SELECT (row_number() OVER () - 1)::int AS pos, m.id AS target_id
      FROM (${matching}) AS m`,
    };
  }
  if (targets.kind === "parentItems") {
    // Rollback: the parent's images swapped; retry of an IMPORT: the record (the parent's after) planned again.
    const images = targets.swapImages
      ? sql`, p.after AS before, p.before AS after`
      : targets.carryRecords
      ? sql`, NULL::jsonb AS before, p.after AS after`
      : sql``;
    return {
      planned: !!targets.swapImages || !!targets.carryRecords,
      rows: sql`SELECT (row_number() OVER (ORDER BY p.position) - 1)::int AS pos, p.target_id ${images}
        FROM (${parentItemsQuery(tx, targets).limit(maxTargets + 1)}) AS p`,
    };
  }
  if (targets.kind === "preview") throw new Error("preview targets are resolved before the jobs are written");
  // int8: the ledger's key type for every domain (BulkTarget.keyPattern).
  return {
    planned: false,
    rows: sql`SELECT (ord - 1)::int AS pos, id AS target_id
      FROM unnest(${uniqueIds(targets.ids)}::int8[]) WITH ORDINALITY AS t(id, ord)`,
  };
}
