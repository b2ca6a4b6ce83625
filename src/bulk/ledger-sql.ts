/**
 * Runs an action's LedgerSql (action.ts) inside the statement the engine wraps around it:
 *   WITH [RECURSIVE <engine CTEs reading bulk_ledger, written first>,] chunk_items AS (<the chunk's items>),
 *        <the action's CTEs>, bulk_ledger AS (<the action's SELECT>), <engine CTEs reading it>
 *   <the engine's final SELECT>
 * A data-modifying CTE (the action's UPDATE, the engine's DELETE of the job and INSERT of the
 * ledger) must sit at the top level of a statement, so the parts are joined here rather than
 * nested. Used by a run (queue/complete.ts) and a preview (preview.ts) alike: both judge the
 * items with the same SQL.
 */
import { type RawBuilder, sql } from "kysely";
import { CHUNK_ITEMS, type LedgerSql, type SqlCte } from "./action.ts";

/** The CTE the action's SELECT becomes: position, target_id, outcome, code, message, before, after. */
export const LEDGER_CTE = "bulk_ledger";

export interface LedgerStatement {
  /** The chunk's position of its first key and its keys, in order. */
  firstPosition: number;
  keys: readonly string[];
  ledger: LedgerSql;
  /**
   * Engine CTEs written FIRST though they read bulk_ledger (the job's deletion): WITH RECURSIVE lets a
   * CTE name a later one, and pg_stat_activity shows a statement's first 1,024 bytes
   * (track_activity_query_size), so the statement reads as what it is (the job's completion) there.
   */
  head?: readonly SqlCte[];
  /** Engine CTEs reading bulk_ledger (the ledger INSERT). */
  tail?: readonly SqlCte[];
  /** The statement's result. */
  select: RawBuilder<unknown>;
}

/** A CTE's name as written (unquoted, so the statement reads as one in pg_stat_activity): a plain identifier. */
function cteName(name: string): string {
  if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`CTE name ${JSON.stringify(name)} is not a plain identifier`);
  return name;
}

export function ledgerStatement<R>(parts: LedgerStatement): RawBuilder<R> {
  const items = sql`SELECT (${parts.firstPosition}::int + u.ord - 1)::int AS position, u.target_id
    FROM unnest(${parts.keys}::int8[]) WITH ORDINALITY AS u(target_id, ord)`;
  const ctes: SqlCte[] = [
    ...(parts.head ?? []),
    [CHUNK_ITEMS, items],
    ...parts.ledger.ctes,
    [LEDGER_CTE, parts.ledger.select],
    ...(parts.tail ?? []),
  ];
  const clauses = ctes.map(([name, query]) => sql`${sql.raw(cteName(name))} AS (${query})`);
  return sql<R>`WITH ${parts.head ? sql`RECURSIVE ` : sql``}${sql.join(clauses, sql`, `)} ${parts.select}`;
}
