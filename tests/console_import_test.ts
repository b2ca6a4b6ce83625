/**
 * The console's import flow in Chromium against the real server, at 390 px wide: a CSV with bad rows dropped on
 * the drop zone, its header row read in the page (defaults as the server's), one column's mapping changed, the
 * file staged through createUpload + PUT /uploads/{id}, previewBulkImport's counts per outcome and code, the start
 * with the previewToken, the live view to the end, the tickets it created read from the database, and the failed
 * rows downloaded. WORKERS=0: the test applies the chunks itself (runChunks).
 */
import { parse } from "csv-parse/sync";
import { expect } from "expect";
import { runChunks } from "./helpers/bulk.ts";
import { browserSuite, expectLabelled, expectNoSideways, openConsole, PHONE, screenshot } from "./helpers/browser.ts";
import { importedTickets, itemOutcomes } from "./helpers/imports.ts";
import { startTestServer } from "./helpers/server.ts";

browserSuite("console: import", async (suite) => {
  await using server = await startTestServer({ env: { WORKERS: "0", BULK_CHUNK_SIZE: "4" } });
  await suite.step(
    "drop a CSV, remap a column, preview, start, watch it end, download the failed rows",
    async (flow) => {
      const agent = server.tenant.agent;
      // "Subject" is no field name: by default it is not imported, and without it there is no title.
      const csv = [
        "Subject,priority,assignee,external_id",
        `Printer jammed,HIGH,${agent.email},ext-1`,
        "VPN down,URGENT,,ext-2",
        "Bad priority,SUPERHIGH,,ext-3",
        "Nobody home,NORMAL,nobody@nowhere.example,ext-4",
        "Same key again,LOW,,ext-1",
        '"Quoted, with a comma",LOW,,ext-6',
      ].join("\n") + "\n";
      const page = await flow.page(PHONE);
      const puts: string[] = [];
      const starts: Record<string, unknown>[] = [];
      page.on("request", (r) => {
        if (r.method() === "PUT") puts.push(new URL(r.url()).pathname);
        const body = r.method() === "POST" && r.url().endsWith("/graphql") ? r.postData() : null;
        // The start is the request that carries a previewToken (the preview itself carries none).
        const input = body ? JSON.parse(body).variables?.input : null;
        if (input?.previewToken) starts.push(input);
      });
      await openConsole(page, server, agent);
      await page.click(".action-bar button[data-flow=startBulkImport]");
      const dialog = page.locator("dialog.start-flow[open][data-flow=import]");
      await dialog.waitFor();

      // A drop of a file on the zone, as a desktop's file manager makes it.
      const drop = await page.evaluateHandle((text) => {
        const transfer = new DataTransfer();
        transfer.items.add(new File([text], "tickets.csv", { type: "text/csv" }));
        return transfer;
      }, csv);
      await dialog.locator("[data-role=drop-zone]").dispatchEvent("drop", { dataTransfer: drop });
      await dialog.locator(".mapping tbody tr").nth(3).waitFor();
      await expect(dialog.locator("select[name=format]").inputValue()).resolves.toBe("CSV");
      // The defaults the server would apply, read from the header row in the page.
      const mapped = async () =>
        await dialog.locator(".mapping tbody select").evaluateAll((selects) =>
          (selects as HTMLSelectElement[]).map((s) => [s.dataset.column, s.value])
        );
      expect(await mapped()).toEqual([
        ["Subject", ""],
        ["priority", "PRIORITY"],
        ["assignee", "ASSIGNEE"],
        ["external_id", "EXTERNAL_ID"],
      ]);
      // Without a title column the page says so before anything is sent.
      await dialog.locator("button:text('Upload and preview')").click();
      await dialog.locator(".problem", { hasText: "Map a column to title" }).waitFor();
      expect(puts).toEqual([]);
      await dialog.locator("select[data-column=Subject]").selectOption("TITLE");
      await expectLabelled(page);
      await expectNoSideways(page);
      await dialog.locator("button:text('Upload and preview')").click();
      await page.waitForSelector("dialog[data-step='1']");

      // Every row judged on the server: 3 good, 3 bad, one code each.
      const figure = (label: string) => dialog.locator(`dd[data-outcome='${label}']`).textContent();
      await expect(figure("Rows")).resolves.toBe("6");
      await expect(figure("Would import")).resolves.toBe("3");
      await expect(figure("Would fail")).resolves.toBe("3");
      expect((await dialog.locator(".codes li").allTextContents()).sort()).toEqual([
        "DUPLICATE_IN_FILE 1",
        "INVALID_FIELD 1",
        "UNKNOWN_ASSIGNEE 1",
      ]);
      await expect(dialog.locator(".sample tbody tr").count()).resolves.toBe(6);
      expect(puts).toHaveLength(1);
      expect(puts[0]).toMatch(/^\/uploads\//);
      await screenshot(page, "console-import-preview");

      await dialog.locator("button:text('Continue')").click();
      await page.waitForSelector("dialog[data-step='2']");
      await dialog.locator("button:text('Start import')").click();
      await page.waitForURL(/#\/operations\//);
      // The start named the same upload and mapping, with the preview's token.
      expect(starts).toHaveLength(1);
      expect(starts[0]).toMatchObject({
        format: "CSV",
        mode: "CREATE",
        source: { upload: expect.any(String) },
        mapping: [
          { column: "Subject", field: "TITLE" },
          { column: "priority", field: "PRIORITY" },
          { column: "assignee", field: "ASSIGNEE" },
          { column: "external_id", field: "EXTERNAL_ID" },
        ],
        previewToken: expect.any(String),
        idempotencyKey: expect.any(String),
      });
      expect(puts).toHaveLength(1); // no second upload

      await page.waitForSelector(".live-panel[data-status=RUNNING]");
      await runChunks(server);
      await page.waitForSelector(".live-panel[data-status=COMPLETED_WITH_ERRORS]");
      await expect(page.locator(".op-header h2").textContent()).resolves.toBe("Import tickets (create, CSV)");
      // An import can be rolled back (it deletes the tickets it created).
      await expect(page.locator("[data-command=rollback]").count()).resolves.toBe(1);
      const value = (name: string) => page.locator(`[data-figure=${name}] .value`).textContent();
      await expect(value("succeeded")).resolves.toBe("3");
      await expect(value("failed")).resolves.toBe("3");

      const tickets = await importedTickets(server.db, server.tenant.id);
      expect(tickets.map((t) => [t.title, t.priority, t.assignee_id, t.external_id])).toEqual([
        ["Printer jammed", "HIGH", agent.id, "ext-1"],
        ["VPN down", "URGENT", null, "ext-2"],
        ["Quoted, with a comma", "LOW", null, "ext-6"],
      ]);
      const op = decodeURIComponent(new URL(page.url()).hash.replace("#/operations/", ""));
      const items = await itemOutcomes(server.db, atob(op).split(":")[1]);
      expect(items.map((i) => [i.position, i.outcome, i.error_code])).toEqual([
        [0, "SUCCEEDED", null],
        [1, "SUCCEEDED", null],
        [2, "FAILED", "INVALID_FIELD"],
        [3, "FAILED", "UNKNOWN_ASSIGNEE"],
        [4, "FAILED", "DUPLICATE_IN_FILE"],
        [5, "SUCCEEDED", null],
      ]);

      // The failed rows as given, plus the error column: the file to fix and import again.
      const button = page.locator(".import-file [data-download=failed-rows]");
      await expect(button.textContent()).resolves.toBe("Download the 3 failed rows (CSV)");
      const [download] = await Promise.all([page.waitForEvent("download"), button.click()]);
      expect(download.suggestedFilename()).toMatch(/^failed-rows-.+\.csv$/);
      const rows = parse(await Deno.readTextFile((await download.path())!), { columns: true }) as Record<
        string,
        string
      >[];
      expect(rows.map((r) => [r.Subject, r.priority, r.external_id, r.error.split(":")[0]])).toEqual([
        ["Bad priority", "SUPERHIGH", "ext-3", "INVALID_FIELD"],
        ["Nobody home", "NORMAL", "ext-4", "UNKNOWN_ASSIGNEE"],
        ["Same key again", "LOW", "ext-1", "DUPLICATE_IN_FILE"],
      ]);
      await expectNoSideways(page);
      await screenshot(page, "console-import");
    },
  );
});
