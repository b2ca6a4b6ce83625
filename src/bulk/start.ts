/**
 * Starting an operation. In ONE transaction: the operation row, its item ledger (one row
 * per target, in input order) and its jobs (one per chunk), all set-based:
 *   INSERT INTO bulk_operation_items SELECT $op, ord - 1, id FROM unnest($ids::bigint[]) WITH ORDINALITY
 *   INSERT INTO bulk_jobs SELECT ... FROM generate_series(0, $chunks - 1)
 * then NOTIFY wakes the workers at commit. Nothing heavy runs in the request.
 */
import { sha256OfJson } from "../encoding.ts";
import { sql } from "kysely";
import type { Viewer } from "../auth/tokens.ts";
import type { Db } from "../db/database.ts";
import { ActionParamsError, type BulkAction, type BulkDomain, roleAllows, type Tx } from "./action.ts";
import { admissionStatus } from "./admit.ts";
import { notifyJobs, notifyProgress } from "./notify.ts";
import { type OperationRow, recordEvent } from "./operation.ts";

export type Targets =
  | { kind: "ids"; ids: string[] }
  | { kind: "filter"; filter: unknown }
  /**
   * Items of a parent operation, in the parent's order (retry: FAILED ones; rollback:
   * SUCCEEDED ones). With `swapImages` the new items carry the parent's images swapped as
   * their plan: before = the state the parent left, after = the state to restore.
   */
  | {
    kind: "parentItems";
    operationId: string;
    outcome: "FAILED" | "SUCCEEDED";
    codes?: string[];
    swapImages?: boolean;
  };

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
}

export interface StartLimits {
  maxTargets: number;
  chunkSize: number;
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
  | "PREVIEW_EXPIRED"
  | "PREVIEW_MISMATCH";

/** A refusal to start: nothing was written. `field` names the input field at fault. */
export class StartError extends Error {
  constructor(readonly code: StartErrorCode, message: string, readonly field: string[] | null = null) {
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
/** Target keys are positive int8 values (18 digits at most, so they always fit). */
const TARGET_ID = /^[1-9]\d{0,17}$/;
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
    .where("idempotency_key", "=", key).executeTakeFirst() as OperationRow | undefined;
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

function checkInput(input: StartInput, limits: StartLimits): void {
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
  if (input.targets.kind === "ids") {
    if (input.targets.ids.length === 0) {
      throw new StartError("EMPTY_TARGETS", "The target list is empty.", ["input", "targets", "ids"]);
    }
    const malformed = input.targets.ids.find((id) => !TARGET_ID.test(id));
    if (malformed !== undefined) {
      throw new StartError("INVALID_INPUT", `Malformed target id ${JSON.stringify(malformed.slice(0, 40))}.`, [
        "input",
        "targets",
        "ids",
      ]);
    }
    if (input.targets.ids.length > limits.maxTargets) {
      throw new StartError(
        "TOO_MANY_TARGETS",
        `At most ${limits.maxTargets} targets per operation (got ${input.targets.ids.length}).`,
        ["input", "targets", "ids"],
      );
    }
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
  checkInput(input, limits);
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
    return await db.transaction().execute((tx) => create(tx, domain, viewer, input, limits, hash));
  } catch (error) {
    // Two concurrent requests with one key: the loser of the unique index returns the winner's.
    if (input.idempotencyKey && (error as { code?: string }).code === "23505") {
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
  const params = await parseParams(tx, action, input.params, viewer);
  // The status depends on the creator's running operations: admissionStatus locks the
  // user row, so concurrent starts and admissions of one user are serialised.
  const status = await admissionStatus(tx, viewer.userId, input.scheduledAt ?? null, limits.maxActivePerUser);
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
    started_at: status === "RUNNING" ? sql`now()` as never : null,
  }).returning("id").executeTakeFirstOrThrow();

  const total = await writeLedger(tx, domain, operation.id, viewer.tenantId, input.targets, limits.maxTargets);
  if (total === 0) throw new StartError("EMPTY_TARGETS", "No tickets match the filter.", ["input", "targets"]);
  if (total > limits.maxTargets) {
    throw new StartError("TOO_MANY_TARGETS", `The filter matches more than ${limits.maxTargets} targets.`, [
      "input",
      "targets",
    ]);
  }
  await sql`
    INSERT INTO bulk_jobs (operation_id, chunk_index, first_position, last_position, run_at)
    SELECT ${operation.id}, g, g * ${limits.chunkSize}, least((g + 1) * ${limits.chunkSize}, ${total}) - 1,
      CASE WHEN ${status} = 'RUNNING' THEN now() ELSE 'infinity'::timestamptz END
    FROM generate_series(0, ${Math.ceil(total / limits.chunkSize) - 1}::int) AS g`.execute(tx);
  const row = await tx.updateTable("bulk_operations").set({ total }).where("id", "=", operation.id)
    .returningAll().executeTakeFirstOrThrow() as OperationRow;
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
  await notifyProgress(tx, viewer.tenantId, operation.id);
  return { operation: row, created: true };
}

function summarize(targets: Targets): Record<string, unknown> {
  switch (targets.kind) {
    case "ids":
      return { kind: "ids", count: uniqueIds(targets.ids).length, given: targets.ids.length };
    case "filter":
      return { kind: "filter", filter: targets.filter };
    case "parentItems":
      return { kind: "parent", operationId: targets.operationId, outcome: targets.outcome, codes: targets.codes };
  }
}

/** Writes the item ledger; returns the number of items (maxTargets + 1 means "too many"). */
async function writeLedger(
  tx: Tx,
  domain: BulkDomain,
  operationId: string,
  tenantId: string,
  targets: Targets,
  maxTargets: number,
): Promise<number> {
  if (targets.kind === "filter") {
    return await domain.snapshotFilter(tx, { operationId, tenantId, filter: targets.filter, limit: maxTargets + 1 });
  }
  if (targets.kind === "parentItems") {
    const { rows } = await sql<{ n: number }>`
      WITH inserted AS (
        INSERT INTO bulk_operation_items (operation_id, position, target_id, before, after)
        SELECT ${operationId}, (row_number() OVER (ORDER BY position) - 1)::int, target_id,
          ${targets.swapImages ? sql`after, before` : sql`NULL::jsonb, NULL::jsonb`}
        FROM bulk_operation_items
        WHERE operation_id = ${targets.operationId} AND outcome = ${targets.outcome}
          ${targets.codes?.length ? sql`AND error_code = ANY(${targets.codes}::text[])` : sql``}
        ORDER BY position
        LIMIT ${maxTargets + 1}
        RETURNING 1)
      SELECT count(*)::int AS n FROM inserted`.execute(tx);
    return rows[0].n;
  }
  const ids = uniqueIds(targets.ids);
  await sql`
    INSERT INTO bulk_operation_items (operation_id, position, target_id)
    SELECT ${operationId}, (ord - 1)::int, id FROM unnest(${ids}::bigint[]) WITH ORDINALITY AS t(id, ord)`
    .execute(tx);
  return ids.length;
}
