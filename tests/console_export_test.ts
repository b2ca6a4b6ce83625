/**
 * The console's export flow in Chromium against the real server: "all N matching" a filter (sent as the filter,
 * not as ids), the form (format, fields, comments, gzip), the live view to the end, the operation page's file
 * facts, and the download (fetched with the bearer token, saved through a Blob URL) parsed with csv-parse and
 * compared with the database. A viewer gets neither the Import nor the Export button. WORKERS=0: the test
 * applies the chunks itself (runChunks).
 */
import { parse } from "csv-parse/sync";
import { expect } from "expect";
import { ConsoleOperationDocument } from "../src/clients/generated/graphql.ts";
import { runChunks } from "./helpers/bulk.ts";
import { browserSuite, expectFocusRing, expectLabelled, openConsole, screenshot } from "./helpers/browser.ts";
import { expectRecord, ticketsInOrder } from "./helpers/exports.ts";
import { gql } from "./helpers/graphql.ts";
import { startTestServer } from "./helpers/server.ts";

const FLOWS = ".action-bar button[data-flow]";

browserSuite("console: export", async (suite) => {
  await using server = await startTestServer({
    tickets: 90,
    env: { WORKERS: "0", BULK_CHUNK_SIZE: "20", BULK_EXPORT_CHUNK_SIZE: "20" },
  });
  await suite.step(
    "all matching a filter -> CSV without body -> live view -> download = the database",
    async (flow) => {
      const page = await flow.page();
      await openConsole(page, server, server.tenant.agent);
      await expect(page.locator(FLOWS).evaluateAll((nodes) => nodes.map((n) => n.textContent))).resolves.toEqual([
        "Import",
        "Export",
      ]);
      // Export needs a selection; import does not.
      await expect(page.locator(`${FLOWS}[data-flow=startBulkExport]`).isDisabled()).resolves.toBe(true);
      await page.selectOption("select[name=pageSize]", "25");
      await page.selectOption("select[name=status]", ["OPEN", "PENDING"]);
      await page.waitForFunction(() =>
        [...document.querySelectorAll("table.tickets tbody tr td:nth-child(3)")].every((td) =>
          td.textContent === "open" || td.textContent === "pending"
        )
      );
      await page.check("table.tickets thead input[type=checkbox]");
      await page.click("[data-role=select-all]");
      const matching = await server.db.selectFrom("tickets").select("id").where("tenant_id", "=", server.tenant.id)
        .where("status", "in", ["OPEN", "PENDING"]).where("deleted_at", "is", null).orderBy("id", "desc").execute();
      expect(matching.length).toBeGreaterThan(25); // more than a page: the target is the filter, not the ticks
      await page.waitForSelector(`.selected-count[data-count="${matching.length}"]`);

      await page.click(`${FLOWS}[data-flow=startBulkExport]`);
      const dialog = page.locator("dialog.start-flow[open][data-flow=export]");
      await dialog.waitFor();
      await expectLabelled(page);
      // Every field ticked by default.
      const boxes = dialog.locator("input[name=field]");
      await expect(boxes.count()).resolves.toBe(12);
      await expect(boxes.evaluateAll((n) => n.every((b) => (b as HTMLInputElement).checked))).resolves.toBe(true);
      // By keyboard: the form starts focused on the format, Tab walks the fields with a visible ring, inside the dialog.
      await expect(page.evaluate(() => document.activeElement?.getAttribute("name"))).resolves.toBe("format");
      await page.keyboard.press("Tab");
      await expectFocusRing(page);
      await expect(page.evaluate(() => (document.activeElement as HTMLInputElement).value)).resolves.toBe("id");
      await dialog.locator("select[name=format]").selectOption("CSV");
      await dialog.locator("input[name=field][value=body]").uncheck();
      await dialog.locator("button:text('Start export')").click();
      await page.waitForURL(/#\/operations\//);
      const id = decodeURIComponent(new URL(page.url()).hash.replace("#/operations/", ""));
      const { data } = await gql(server.graphqlUrl, server.tenant.admin.token, ConsoleOperationDocument, { id });
      expect(data!.bulkOperation!.targets).toMatchObject({ kind: "FILTER", filter: { status: ["OPEN", "PENDING"] } });
      expect(data!.bulkOperation!.counts.total).toBe(matching.length);
      await page.waitForSelector(".export-file[data-state=PENDING]");

      await runChunks(server);
      await page.waitForSelector(".live-panel[data-status=COMPLETED]");
      await page.waitForSelector(".export-file[data-state=READY]");
      await expect(page.locator(".op-header h2").textContent()).resolves.toBe("Export to CSV");
      // An export changed nothing: no Roll back (the server would refuse it).
      await expect(page.locator("[data-command=rollback]").count()).resolves.toBe(0);
      await expect(page.locator(".export-file dd[data-fact=Rows]").textContent()).resolves.toBe(
        String(matching.length),
      );
      await expect(page.locator(".export-file dd[data-fact='Kept until']").textContent()).resolves.not.toBe("");

      const [download] = await Promise.all([page.waitForEvent("download"), page.click("[data-download=export]")]);
      expect(download.suggestedFilename()).toMatch(/^tickets-.+\.csv$/);
      const bytes = await Deno.readFile((await download.path())!);
      const size = await page.locator(".export-file dd[data-fact=Bytes]").textContent();
      expect(size!.replace(/\D/g, "")).toBe(String(bytes.length));
      const records = parse(new TextDecoder().decode(bytes), { columns: true }) as Record<string, string>[];
      expect(Object.keys(records[0])).toEqual([
        "id",
        "title",
        "status",
        "priority",
        "category",
        "assigneeId",
        "createdBy",
        "version",
        "createdAt",
        "updatedAt",
        "deletedAt",
      ]);
      const expected = await ticketsInOrder(server.db, matching.map((m) => String(m.id)));
      expect(records.map((r) => r.id)).toEqual(expected.map((t) => t.id));
      for (const [i, record] of records.entries()) expectRecord({ ...record, body: expected[i].body }, expected[i]);
      await screenshot(page, "console-export");
    },
  );

  await suite.step("a viewer sees neither Import nor Export", async (flow) => {
    const page = await flow.page();
    await openConsole(page, server, server.tenant.viewer);
    await page.waitForSelector("table.tickets tbody tr");
    await expect(page.locator("button[data-flow]").count()).resolves.toBe(0);
    await expect(page.getByRole("button", { name: /^(Import|Export)$/ }).count()).resolves.toBe(0);
    await screenshot(page, "console-export-viewer");
  });
});
