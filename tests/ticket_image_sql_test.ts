/**
 * The ledger images the field-changing ticket actions build in SQL (ticket-image.ts ticketImageSql,
 * used by ticket-change.ts) are exactly ticketImage() of the same row: a rollback compares a stored
 * image with ticketImage() of the current row, so any difference (a key, a type, deletedAt's format or
 * precision) would end items CONFLICT that nobody changed.
 */
import { expect } from "expect";
import { sql } from "kysely";
import type { TicketRow } from "../src/tickets/model.ts";
import { ticketImage, ticketImageSql } from "../src/tickets/actions/ticket-image.ts";
import { startTestServer } from "./helpers/server.ts";

Deno.test("the SQL ledger image is ticketImage() of the same row, deletedAt to the driver's millisecond", async () => {
  await using server = await startTestServer({ tickets: 6 });
  const { db, tenant } = server;
  // Microseconds the driver's Date drops (truncating), ones that round up, none, and now().
  const deletedAt = ["2026-12-01T13:45:01.123987Z", "2026-12-01T13:45:01.999999Z", "2026-12-01T13:45:01Z", "now"];
  const { rows: ids } = await sql<{ id: string }>`SELECT id FROM tickets WHERE tenant_id = ${tenant.id} ORDER BY id`
    .execute(db);
  for (const [k, value] of deletedAt.entries()) {
    await sql`UPDATE tickets SET deleted_at = ${value === "now" ? sql`now()` : sql`${value}::timestamptz`},
      status = 'CLOSED' WHERE id = ${ids[k].id}`.execute(db);
  }
  const { rows } = await sql<TicketRow & { image: unknown }>`
    SELECT t.*, ${ticketImageSql("t")} AS image FROM tickets AS t WHERE t.tenant_id = ${tenant.id} ORDER BY t.id`
    .execute(db);
  expect(rows.length).toBe(6);
  for (const row of rows) expect(row.image).toEqual(ticketImage(row));
  expect(rows.map((row) => (row.image as { deletedAt: string | null }).deletedAt).slice(0, 3))
    .toEqual(["2026-12-01T13:45:01.123Z", "2026-12-01T13:45:01.999Z", "2026-12-01T13:45:01.000Z"]);
});
