/**
 * Preview (dry run): what an operation would do, changing nothing. The targets are
 * resolved and frozen exactly as a start would, then every chunk goes through the
 * action's own apply() with dryRun (no writes, no locks) inside one REPEATABLE READ
 * READ ONLY transaction, so the prediction uses the same rules as a run and one
 * consistent snapshot. The frozen id list is kept (bulk_previews) behind the returned
 * token: startBulkOperation(previewToken) runs exactly those targets. Targets changed in
 * between are judged again when the run reaches them (the run's outcome is the truth: a
 * target the action refuses by then ends with the action's code, not what the preview
 * said), and targets created after the preview are not added. An IMPORT's records are
 * previewed with placeholder keys for new targets (importKeys with dryRun); its token only
 * proves that the same rows were previewed.
 */
import { sql } from "kysely";
import type { Viewer } from "../auth/tokens.ts";
import type { Db } from "../db/database.ts";
import type { BulkAction, BulkDomain, ChunkItem, ItemResult, LedgerSql, Tx } from "./action.ts";
import { type ChunkCounts, countResults } from "./finalize.ts";
import { LEDGER_CTE, ledgerStatement } from "./ledger-sql.ts";
import {
  parseParams,
  previewHash,
  StartError,
  type StartInput,
  type StartLimits,
  type Targets,
  uniqueIds,
  validateStart,
} from "./start.ts";

/** How long a previewToken can be used. */
export const PREVIEW_TTL_MS = 60 * 60 * 1000;
export const SAMPLE_SIZE = 50;
/** Used for the estimate until the tenant has finished operations to measure (below the 16-21k/s of docs/performance.md). */
const DEFAULT_ITEMS_PER_SECOND = 10_000;

export interface PreviewItem extends ItemResult {
  targetId: string;
}

export interface Preview {
  previewId: string;
  matched: number;
  succeeded: number;
  failed: number;
  skipped: number;
  /** Count per predicted code (failed and skipped). */
  codes: Record<string, number>;
  sample: PreviewItem[];
  itemsPerSecond: number;
  estimatedSeconds: number;
  expiresAt: Date;
}

function addCounts(total: ChunkCounts, chunk: ChunkCounts): void {
  total.succeeded += chunk.succeeded;
  total.failed += chunk.failed;
  total.skipped += chunk.skipped;
  for (const [code, n] of Object.entries(chunk.codes)) total.codes[code] = (total.codes[code] ?? 0) + n;
}

async function resolveTargets(tx: Tx, domain: BulkDomain, viewer: Viewer, targets: Targets, max: number) {
  if (targets.kind === "ids") return uniqueIds(targets.ids);
  if (targets.kind === "filter") {
    const matching = domain.filterTargets(tx, { tenantId: viewer.tenantId, filter: targets.filter, limit: max + 1 });
    const { rows } = await sql<{ id: string }>`${matching}`.execute(tx);
    return rows.map((row) => String(row.id));
  }
  throw new StartError("INVALID_INPUT", "Previews take ids or a filter.", ["input", "targets"]);
}

/**
 * The preview's chunks in order. Records are keyed and judged a batch at a time (importKeys with dryRun), so a staged
 * file of a million rows is never held whole: a preview keeps counts and a sample, not every result.
 */
async function* previewChunks(
  tx: Tx,
  args: { domain: BulkDomain; action: BulkAction; viewer: Viewer; targets: Targets; chunkSize: number; max: number },
): AsyncGenerator<ChunkItem[]> {
  const { domain, action, viewer, targets, chunkSize, max } = args;
  if (targets.kind !== "records") {
    const ids = await resolveTargets(tx, domain, viewer, targets, max);
    for (let first = 0; first < ids.length; first += chunkSize) {
      yield ids.slice(first, first + chunkSize).map((targetId, i) => ({ position: first + i, targetId }));
    }
    return;
  }
  const { records } = targets;
  let position = 0;
  for await (const batch of Array.isArray(records) ? [records] : records.batches) {
    const keys = await action.importKeys!(tx, { tenantId: viewer.tenantId, records: batch, dryRun: true });
    for (let first = 0; first < batch.length; first += chunkSize) {
      yield batch.slice(first, first + chunkSize).map((after, i) => ({
        position: position + first + i,
        targetId: keys[first + i],
        planned: { before: null, after },
      }));
    }
    position += batch.length;
  }
}

interface LedgerRow {
  position: number;
  outcome: ItemResult["outcome"];
  code: string | null;
  message: string | null;
  before: unknown;
  after: unknown;
}

/**
 * A chunk's predicted results from the action's ledger SQL built with dryRun: the statement a run
 * executes (queue/complete.ts) without the job's deletion and the ledger INSERT, its rows read back.
 * Absent values are left out, as apply() leaves them out.
 */
async function predictLedger(tx: Tx, first: number, ids: string[], ledger: LedgerSql): Promise<ItemResult[]> {
  const { rows } = await ledgerStatement<LedgerRow>({
    firstPosition: first,
    keys: ids,
    ledger,
    select: sql`SELECT position, outcome, code, message, before, after FROM ${sql.raw(LEDGER_CTE)} ORDER BY position`,
  }).execute(tx);
  return rows.map(({ position, outcome, code, message, before, after }) => ({
    position,
    outcome,
    ...(code !== null && { code }),
    ...(message !== null && { message }),
    ...(before !== null && { before }),
    ...(after !== null && { after }),
  }));
}

/** Items per second of the tenant's recent finished operations (their first chunk to their end). */
async function measuredThroughput(tx: Tx, tenantId: string): Promise<number> {
  const { rows } = await sql<{ rate: number | null }>`
    SELECT sum(succeeded + failed + skipped)::float8
         / nullif(sum(extract(epoch FROM finished_at - first_chunk_at)), 0) AS rate
    FROM (SELECT succeeded, failed, skipped, finished_at, first_chunk_at FROM bulk_operations
          WHERE tenant_id = ${tenantId} AND finished_at IS NOT NULL AND first_chunk_at IS NOT NULL
            AND status <> 'CANCELLED' AND total >= 100
          ORDER BY created_at DESC LIMIT 20) recent`.execute(tx);
  return rows[0]?.rate ?? DEFAULT_ITEMS_PER_SECOND;
}

export async function previewOperation(
  db: Db,
  domain: BulkDomain,
  viewer: Viewer,
  input: Pick<StartInput, "actionType" | "params" | "targets">,
  limits: StartLimits,
): Promise<Preview> {
  const action = validateStart(domain, viewer, input, limits);
  const prediction = await db.transaction().setIsolationLevel("repeatable read").setAccessMode("read only")
    .execute(async (tx) => {
      const params = await parseParams(tx, action, input.params, viewer);
      const ids: string[] = [];
      let matched = 0;
      const counts: ChunkCounts = { succeeded: 0, failed: 0, skipped: 0, cancelled: 0, codes: {} };
      const sample: PreviewItem[] = [];
      const chunks = previewChunks(tx, {
        domain,
        action,
        viewer,
        targets: input.targets,
        chunkSize: limits.chunkSize,
        max: limits.maxTargets,
      });
      for await (const items of chunks) {
        if (ids.length + items.length > limits.maxTargets) {
          throw new StartError("TOO_MANY_TARGETS", `More than ${limits.maxTargets} targets.`, ["input", "targets"]);
        }
        // Records' keys are placeholders (the start keys them itself): only other targets are frozen for the token.
        if (input.targets.kind !== "records") ids.push(...items.map((item) => item.targetId));
        const context = { tenantId: viewer.tenantId, actorId: viewer.userId, params, dryRun: true };
        const chunk = action.ledgerSql
          ? await predictLedger(tx, items[0].position, items.map((item) => item.targetId), action.ledgerSql(context))
          : await action.apply({
            ...context,
            tx,
            operationId: "00000000-0000-0000-0000-000000000000",
            items,
            output: action.kind === "EXPORT" ? [] : null,
          });
        addCounts(counts, countResults(chunk));
        matched += items.length;
        if (sample.length < SAMPLE_SIZE) {
          const targetOf = new Map(items.map((item) => [item.position, item.targetId]));
          const byPosition = chunk.sort((a, b) => a.position - b.position);
          for (const r of byPosition.slice(0, SAMPLE_SIZE - sample.length)) {
            sample.push({ ...r, targetId: targetOf.get(r.position)! });
          }
        }
      }
      if (matched === 0) throw new StartError("EMPTY_TARGETS", "No targets: nothing matches.", ["input", "targets"]);
      return { ids, matched, counts, sample, itemsPerSecond: await measuredThroughput(tx, viewer.tenantId) };
    });
  const stored = await db.insertInto("bulk_previews").values({
    tenant_id: viewer.tenantId,
    created_by: viewer.userId,
    input_hash: await previewHash(input.actionType, input.params, input.targets),
    // Records' keys are placeholders here: a start with the token keys the records itself.
    target_ids: input.targets.kind === "records" ? [] : prediction.ids,
    expires_at: new Date(Date.now() + PREVIEW_TTL_MS),
  }).returning(["id", "expires_at"]).executeTakeFirstOrThrow();
  // Old previews are dropped here rather than by a timer: cheap with bulk_previews_expiry_idx.
  await db.deleteFrom("bulk_previews").where("expires_at", "<", sql<Date>`now()`).execute();
  return {
    previewId: stored.id,
    matched: prediction.matched,
    ...prediction.counts,
    sample: prediction.sample,
    itemsPerSecond: prediction.itemsPerSecond,
    estimatedSeconds: prediction.matched / prediction.itemsPerSecond,
    expiresAt: stored.expires_at,
  };
}
