/**
 * What the engine needs from a domain: its actions and how to snapshot filter targets.
 * The engine (src/bulk) never names a domain table; a new action or a new domain touches
 * only its own folder (the tickets domain: src/tickets/actions/).
 */
import type { Transaction } from "kysely";
import type { Database, Role } from "../db/tables.ts";

export type Tx = Transaction<Database>;

export type ItemOutcome = "SUCCEEDED" | "FAILED" | "SKIPPED";

/** Per-item outcome codes. FAILED: NOT_FOUND, DELETED, INVALID_TRANSITION, FORBIDDEN, INTERNAL. SKIPPED: NO_CHANGE. */
export type ItemCode =
  | "NOT_FOUND"
  | "DELETED"
  | "INVALID_TRANSITION"
  | "FORBIDDEN"
  | "NO_CHANGE"
  | "CONFLICT"
  | "INTERNAL";

export interface ItemResult {
  position: number;
  outcome: ItemOutcome;
  code?: ItemCode;
  message?: string;
  /** The target's state before the change (what rollback restores). */
  before?: unknown;
  /** The target's state after the change (what rollback compares with). */
  after?: unknown;
}

export interface ChunkItem {
  position: number;
  targetId: string;
  /** Images planned at start (rollback: before = the parent's after, after = the parent's before). */
  planned?: { before: unknown; after: unknown };
}

export interface ChunkContext<P> {
  tx: Tx;
  operationId: string;
  tenantId: string;
  /** The user who started the operation; changes are made in their name. */
  actorId: string;
  params: P;
  items: ChunkItem[];
  /**
   * Preview: decide every item and predict its after-image, but write nothing and take no
   * locks. The same decision code serves runs and previews, so a preview predicts what a
   * run on unchanged data does.
   */
  dryRun: boolean;
}

export interface ValidateContext {
  tx: Tx;
  tenantId: string;
  actorId: string;
}

/** A parameter problem found while validating; becomes a userError on `field`. */
export class ActionParamsError extends Error {
  constructor(readonly field: string, message: string) {
    super(message);
    this.name = "ActionParamsError";
  }
}

export interface BulkAction<P = unknown> {
  /** Stored in bulk_operations.action_type, e.g. "SET_STATUS". */
  type: string;
  /** The least role that may run it (ADMIN > AGENT > VIEWER). */
  requiredRole: Exclude<Role, "VIEWER">;
  /** Checks and normalises the parameters; throws ActionParamsError. */
  parseParams(raw: unknown, ctx: ValidateContext): Promise<P>;
  /** Applies the action to one chunk set-based (a few statements, never one per item). */
  apply(chunk: ChunkContext<P>): Promise<ItemResult[]>;
}

export interface BulkDomain {
  actions: ReadonlyMap<string, BulkAction>;
  /**
   * Freezes the targets matching `filter` into the operation's ledger (positions 0..n-1),
   * at most `limit` rows; returns how many it wrote. One INSERT ... SELECT.
   */
  snapshotFilter(
    tx: Tx,
    args: { operationId: string; tenantId: string; filter: unknown; limit: number },
  ): Promise<number>;
  /** The ids matching `filter` in snapshot order, at most `limit` (previews). */
  matchFilter(tx: Tx, args: { tenantId: string; filter: unknown; limit: number }): Promise<string[]>;
}

const RANK: Record<Role, number> = { VIEWER: 0, AGENT: 1, ADMIN: 2 };

export function roleAllows(role: Role, required: Role): boolean {
  return RANK[role] >= RANK[required];
}
