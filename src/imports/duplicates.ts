/**
 * DUPLICATE_IN_FILE for a file's rows, found by the database as the batches pass: a temp table of
 * each externalId's first row, on a connection of its own held while the file is read (a
 * transaction that is rolled back at the end, so the table goes with it). Per batch ONE statement:
 *   WITH g AS (unnest($externalIds, $rows)), firsts AS (min(row) per externalId in the batch),
 *     kept AS (INSERT INTO import_first_rows the firsts not seen before)
 *   SELECT the rows of g whose externalId has an earlier first row (the table or the batch)
 * It replaced a map of every externalId held in the API's heap while staging (1,000,000 keys:
 * tens of MB live, which V8 grew its heap by a multiple of; docs/performance.md, "Import memory").
 * Not in importKeys, inside the start's transaction: that would cost inline rows the temp table
 * too (10,000 keys: 92-122 ms against 32-55 ms for the key query alone, shared machine), and an
 * inline input's duplicates are marked while reading (parse.ts inlineRecords), before it is hashed.
 * Here the statement overlaps the start's ledger writes (source.ts reads ahead).
 */
import { sql } from "kysely";
import type { Db } from "../db/database.ts";
import { duplicateInFile, type ImportRecord } from "./record.ts";

export async function* markDuplicates(db: Db, batches: AsyncIterable<ImportRecord[]>): AsyncGenerator<ImportRecord[]> {
  const session = await db.startTransaction().execute();
  try {
    await sql`CREATE TEMP TABLE import_first_rows (external_id text NOT NULL, row int NOT NULL) ON COMMIT DROP`
      .execute(session);
    // Each batch probes every earlier first row: an index, or a scan of them all per batch.
    await sql`CREATE INDEX ON import_first_rows USING hash (external_id)`.execute(session);
    for await (const batch of batches) {
      const keyed = batch.filter((record) => record.externalId !== undefined && !record.error);
      if (keyed.length > 0) {
        const { rows } = await sql<{ ord: number; first_row: number }>`
          WITH g AS (SELECT * FROM unnest(${keyed.map((r) => r.externalId)}::text[], ${keyed.map((r) => r.row)}::int[])
                       WITH ORDINALITY AS g(external_id, row, ord)),
            firsts AS (SELECT external_id, min(row) AS row FROM g GROUP BY external_id),
            seen AS (SELECT x.external_id, x.row AS batch_row, e.row AS earlier_row FROM firsts x
                     LEFT JOIN LATERAL (SELECT s.row FROM import_first_rows s WHERE s.external_id = x.external_id
                                        LIMIT 1) e ON true),
            kept AS (INSERT INTO import_first_rows SELECT external_id, batch_row FROM seen WHERE earlier_row IS NULL)
          SELECT g.ord::int AS ord, least(seen.earlier_row, seen.batch_row) AS first_row
          FROM g JOIN seen USING (external_id)
          WHERE least(seen.earlier_row, seen.batch_row) < g.row`.execute(session);
        for (const { ord, first_row } of rows) keyed[ord - 1].error = duplicateInFile(first_row);
      }
      yield batch;
    }
  } finally {
    await session.rollback().execute();
  }
}
