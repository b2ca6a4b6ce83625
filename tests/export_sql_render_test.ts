/**
 * The CSV, JSONL and JSON parts PostgreSQL renders (src/exports/sql-render.ts, csv_cell of
 * migrations/0016) are byte for byte the parts the JavaScript renderers (csv-stringify,
 * JSON.stringify) write from the same rows, on values built to tell them apart: every
 * formula start, quotes, commas, lone CR and LF, control characters, backslashes, non-ASCII,
 * empty strings, NULLs and comments, in an input order that is not the table's, with a
 * vanished ticket among them.
 */
import { expect } from "expect";
import { EXPORT_FORMATS, type ExportParams } from "../src/exports/format.ts";
import { renderedPart, renderInJs } from "../src/tickets/actions/export.ts";
import { TICKET_EXPORT_FIELDS } from "../src/tickets/model.ts";
import { idsNewestFirst } from "./helpers/exports.ts";
import { startTestServer } from "./helpers/server.ts";

const HOSTILE = [
  '=HYPERLINK("http://x","y")',
  "+1",
  "-2, minus",
  "@SUM(A1)",
  "\tTab first",
  "\rCR first",
  "lone\rcr",
  "lone\nlf",
  'say "hi"',
  "",
  "back\\slash \u0001\u0008\u000c\u001f\u007f",
  "Ünïcødé ✓ 漢字 😀 \u2028",
  "'already quoted",
  "a,b",
  " spaces ",
];

Deno.test("export: the parts PostgreSQL renders equal the JavaScript renderers' on hostile values", async () => {
  await using server = await startTestServer({ tickets: HOSTILE.length });
  const { db, tenant } = server;
  const ids = await idsNewestFirst(db, tenant.id);
  for (const [index, id] of ids.entries()) {
    const title = HOSTILE[index] || "empty body below"; // a title may not be empty (tickets_title_check)
    const body = HOSTILE[(index + 7) % HOSTILE.length];
    await db.updateTable("tickets").set({
      title,
      body,
      assignee_id: index % 2 === 0 ? tenant.agent.id : null,
      deleted_at: index % 3 === 0 ? new Date("2026-11-30T10:11:12.345678Z") : null,
    }).where("id", "=", id).execute();
  }
  await db.insertInto("ticket_comments").values([
    { tenant_id: tenant.id, ticket_id: ids[0], author_id: tenant.agent.id, body: HOSTILE[0] },
    { tenant_id: tenant.id, ticket_id: ids[0], author_id: tenant.admin.id, body: HOSTILE[10] },
    { tenant_id: tenant.id, ticket_id: ids[3], author_id: tenant.agent.id, body: HOSTILE[7] },
  ]).execute();
  // Input order differs from the table's, and one key has no ticket (a vanished one).
  const keys = [...ids.slice(5), "999999999", ...ids.slice(0, 5).reverse()];
  const fieldLists = [[...TICKET_EXPORT_FIELDS], ["version", "title", "deletedAt"]];
  let compared = 0;
  for (const format of EXPORT_FORMATS.filter((f) => f !== "MARKDOWN")) {
    for (const fields of fieldLists) {
      for (const includeComments of [false, true]) {
        const params: ExportParams = { format, compression: "NONE", fields, includeComments };
        await db.transaction().execute(async (tx) => {
          const inSql = await renderedPart(tx, tenant.id, params, keys);
          const inJs = await renderInJs(tx, tenant.id, params, keys);
          expect({ params, body: inSql.body }).toEqual({ params, body: inJs.body });
          expect([...inSql.found].sort()).toEqual([...ids].sort());
          expect(inSql.body.length).toBeGreaterThan(0);
        });
        compared++;
      }
    }
  }
  expect(compared).toBe(12);
  // A chunk whose tickets all vanished renders an empty part, as in JavaScript.
  await db.transaction().execute(async (tx) => {
    const params: ExportParams = { format: "JSON", compression: "NONE", fields: ["id"], includeComments: false };
    expect(await renderedPart(tx, tenant.id, params, ["999999998"])).toEqual({ body: "", found: new Set() });
  });
});
