/**
 * What the engine needs from a domain (BulkDomain): its target node type and key format,
 * its item codes, its actions, which targets a filter selects (frozen at start) and which action
 * restores a rollback. The engine (src/bulk) never names a domain or its tables; a new
 * action or a new domain touches only its own folder (docs/architecture.md, "The domain
 * seam", lists the domains and where each lives).
 */
import type { Expression, RawBuilder, Transaction } from "kysely";
import type { Database, Role } from "../db/tables.ts";
import type { ActionGraphQL } from "./action-schema.ts";

export type Tx = Transaction<Database>;

export type ItemOutcome = "SUCCEEDED" | "FAILED" | "SKIPPED";

/**
 * The item codes the engine itself writes, whatever the domain: INTERNAL when a chunk
 * used up its attempts (run-chunk.ts). Every other code comes from the domain's actions
 * and is listed in BulkDomain.itemCodes.
 */
export const ENGINE_ITEM_CODES = ["INTERNAL"] as const;

/** A per-item outcome code: one of ENGINE_ITEM_CODES or of the domain's itemCodes. */
export type ItemCode = string;

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
  /** The target's key (BulkTarget.keyPattern), as text. */
  targetId: string;
  /**
   * Images planned at start. Rollback: before = the parent's after, after = the parent's
   * before. IMPORT: before = null, after = the input record to create or upsert.
   */
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
  /**
   * EXPORT: the chunk's output; what apply pushes here commits, joined by newlines, as the
   * chunk's part (bulk_operation_parts, keyed by chunk index) in the chunk's transaction,
   * so a part exists exactly when its items are settled. null for the other kinds.
   */
  output: string[] | null;
}

/**
 * The name of the CTE holding a chunk's items where an action's LedgerSql reads them: columns
 * `position int` and `target_id int8`, one row per item (the job's keys, or a preview's frozen
 * ids). The engine's own CTEs are chunk_items, bulk_ledger, taken and written; an action names
 * its own otherwise.
 */
export const CHUNK_ITEMS = "chunk_items";

/** What a LedgerSql is built from: the chunk's context without a transaction (nothing runs yet). */
export interface LedgerContext<P> {
  tenantId: string;
  /** The user who started the operation; changes are made in their name. */
  actorId: string;
  params: P;
  /** Preview: the same decisions and predicted after-images, no write, no lock (a READ ONLY transaction). */
  dryRun: boolean;
}

/** One `name AS (query)` of a WITH clause. */
export type SqlCte = readonly [name: string, query: RawBuilder<unknown>];

/**
 * A chunk's ledger as SQL: CTEs (they may change targets: UPDATE ... RETURNING) and a SELECT over
 * them of one row per item of CHUNK_ITEMS with the columns
 *   position int, target_id int8, outcome text, code text, message text, before jsonb, after jsonb.
 * The engine runs it as ONE statement with the job's deletion and the ledger INSERT around it
 * (queue/complete.ts), and counts the outcomes in that statement; a preview runs the same SQL built
 * with dryRun and reads the rows (preview.ts).
 */
export interface LedgerSql {
  ctes: readonly SqlCte[];
  select: RawBuilder<unknown>;
}

/**
 * An EXPORT chunk's part and its items' outcomes in SQL (BulkAction.partSql): CTEs and a SELECT over
 * CHUNK_ITEMS of ONE row with the columns
 *   part text (the chunk's part, its records in position order; NULL: empty),
 *   failed int[] (the positions that did not succeed, each ending FAILED with `failure`; NULL: none).
 * The engine runs it as ONE statement with the part's INSERT (bulk_operation_parts), the job's
 * deletion and the compact ledger (queue/complete-runs.ts), so the part never crosses into the process.
 */
export interface PartSql {
  ctes: readonly SqlCte[];
  select: RawBuilder<unknown>;
  failure: { code: ItemCode; message: string };
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

/**
 * What an operation does with its items (docs/architecture.md, "Operation kinds"); the
 * bulk import and export build on IMPORT and EXPORT:
 * - CHANGE: each item is an existing target; apply changes it and returns its images.
 * - IMPORT: each item is an input record (Targets kind "records"). At start the action's
 *   importKeys gives every record its target key (an existing one for an upsert, a newly
 *   reserved one for a create), so the ledger is keyed like any other; the record is the
 *   item's planned `after`, and apply creates or updates the target from it.
 * - EXPORT: each item is an existing target; apply reads it and writes the chunk's part
 *   to ChunkContext.output.
 */
export type BulkActionKind = "CHANGE" | "IMPORT" | "EXPORT";

interface BulkActionBase<P> {
  /** Stored in bulk_operations.action_type, e.g. "SET_STATUS". */
  type: string;
  /** Default CHANGE. */
  kind?: BulkActionKind;
  /** The least role that may run it (ADMIN > AGENT > VIEWER). */
  requiredRole: Exclude<Role, "VIEWER">;
  /**
   * Its GraphQL input and union member (action-schema.ts). A domain the API serves needs it
   * on every action; without it an action runs only through the engine (startOperation).
   */
  graphql?: ActionGraphQL;
  /**
   * A start over a filter must name a previewToken (StartError PREVIEW_REQUIRED otherwise):
   * what a filter matches is seen before it is acted on, for actions that cannot be undone
   * by editing (a permanent delete). Starts by id name each target and need no preview.
   */
  filterNeedsPreview?: boolean;
  /**
   * Items per chunk for this action's operations, instead of StartLimits.chunkSize (BULK_CHUNK_SIZE):
   * a function of the start's limits, so a deployment's setting reaches it (an export: exportChunkSize,
   * BULK_EXPORT_CHUNK_SIZE).
   */
  chunkSize?(limits: { chunkSize: number; exportChunkSize?: number }): number;
  /**
   * Its plain SUCCEEDED items (no code, message or image) are stored compactly: one bulk_item_runs row
   * per stretch of consecutive positions of a chunk instead of a bulk_operation_items row each
   * (migrations/0017); its other items are ordinary rows. Every read of the ledger sees them as
   * before (history.ts listItems, the bulk_operation_ledger view, retention). For actions that keep
   * no images, whose items are nearly all alike: an export.
   */
  compactLedger?: boolean;
  /** Checks and normalises the parameters; throws ActionParamsError. */
  parseParams(raw: unknown, ctx: ValidateContext): Promise<P>;
  /**
   * IMPORT only: the target key of each record, in order, in one statement (e.g. an upsert
   * by natural key that returns existing keys, and nextval() of the domain's sequence for
   * new ones). Nothing else is written at start: apply creates the targets. With `dryRun` (previews, a
   * READ ONLY transaction) nothing may be reserved: new records get distinct placeholder keys that no
   * target has (e.g. negative numbers).
   */
  importKeys?(tx: Tx, args: { tenantId: string; records: readonly unknown[]; dryRun?: boolean }): Promise<string[]>;
}

/**
 * How an action works a chunk, one of:
 * - apply: set-based statements of its own (a few, never one per item), deciding in TypeScript,
 *   returning each item's result; the engine then INSERTs the results it sends back.
 * - ledgerSql: the decisions, the changes and the images in SQL (LedgerSql), so the chunk is one
 *   statement and no item travels to the process and back. For CHANGE actions whose rules SQL can
 *   say (docs/performance.md, "The ledger in SQL", measures it against apply).
 */
export type BulkAction<P = unknown> =
  & BulkActionBase<P>
  & (
    | {
      apply(chunk: ChunkContext<P>): Promise<ItemResult[]>;
      /**
       * EXPORT with compactLedger: the chunk's part and outcomes in SQL (PartSql) when these parameters
       * allow it, else null and the chunk runs apply (e.g. a format rendered in the process, or GZIP).
       */
      partSql?(chunk: LedgerContext<P>): PartSql | null;
      ledgerSql?: undefined;
    }
    | { ledgerSql(chunk: LedgerContext<P>): LedgerSql; apply?: undefined; partSql?: undefined }
  );

/** The parameters the engine gives a domain's rollback action (lineage.ts rollbackOperation). */
export interface RollbackParams {
  /** The action of the operation being undone. */
  parentActionType: string;
  /** Overwrite targets changed since the parent (else they end CONFLICT). */
  force: boolean;
}

/** The domain's targets as the engine and the API name them. */
export interface BulkTarget {
  /** The GraphQL node type of a target (its global ids, downloads). */
  nodeType: string;
  /** The targets in messages, plural ("No <noun> match the filter."). */
  noun: string;
  /**
   * The format of a target key. The ledger stores keys as int8 (bulk_operation_items.target_id,
   * bulk_previews.target_ids: 8 bytes, no length header, the cheapest key for a million-row
   * ledger), so a pattern must accept only positive values that fit int8.
   */
  keyPattern: RegExp;
}

export interface BulkDomain {
  /**
   * Where worker threads load this domain from: `(await import(module.url))[module.name]`
   * is this object (threads cannot receive functions, so they import the domain themselves).
   */
  module: { url: string; name: string };
  target: BulkTarget;
  /** The item codes its actions write (ENGINE_ITEM_CODES come on top). */
  itemCodes: readonly string[];
  /** Every action by type, the rollback action included. */
  actions: ReadonlyMap<string, BulkAction>;
  /**
   * The action ROLLBACK operations run: it restores each item from the images planned at
   * start (before = the state the parent left, after = the state to restore).
   */
  rollback: BulkAction<RollbackParams>;
  /**
   * The targets matching `filter`, in snapshot order, at most `limit`: a query selecting one
   * column `id`, ordered (e.g. SELECT id FROM <its table> WHERE ... ORDER BY id DESC LIMIT $limit).
   * The engine freezes it at start inside one INSERT ... SELECT of the operation's jobs
   * (queue/insert-jobs.ts; the ids never travel to the process) and reads it for previews.
   */
  filterTargets(tx: Tx, args: { tenantId: string; filter: unknown; limit: number }): Expression<{ id: string }>;
}

/** A domain from its parts: `actions` are what clients start; the rollback action joins them. */
export function defineDomain(
  parts: Omit<BulkDomain, "actions"> & { actions: readonly BulkAction[] },
): BulkDomain {
  // A cast kept: each action is a BulkAction of its own parameters, which apply / ledgerSql take (a contravariant
  // position), so no BulkAction<P> is a BulkAction<unknown>; the engine gives an action only what its parseParams made.
  const all = [...parts.actions, parts.rollback as BulkAction];
  const keyless = all.find((action) => action.kind === "IMPORT" && !action.importKeys);
  if (keyless) throw new Error(`IMPORT action ${keyless.type} has no importKeys`);
  const loose = all.find((action) => action.partSql && (action.kind !== "EXPORT" || !action.compactLedger));
  if (loose) throw new Error(`action ${loose.type} has partSql but is not a compactLedger EXPORT`);
  return { ...parts, actions: new Map(all.map((action) => [action.type, action])) };
}

const RANK: Record<Role, number> = { VIEWER: 0, AGENT: 1, ADMIN: 2 };

export function roleAllows(role: Role, required: Role): boolean {
  return RANK[role] >= RANK[required];
}
