/**
 * The console's tickets page in Chromium against the real server: every filter, keyset pages both ways, selection
 * per row and per page kept across pages, "select all N matching" (a filter target), the action bar per role (with
 * Import and Export, whose APIs this server has), keyboard use, and the page at 390 px.
 */
import { expect } from "expect";
import type { Page } from "playwright-core";
import {
  browserSuite,
  expectFocusRing,
  expectLabelled,
  expectNoSideways,
  openConsole,
  PHONE,
  screenshot,
} from "./helpers/browser.ts";
import { startTestServer, type TestServer } from "./helpers/server.ts";
import { waitUntil } from "./helpers/wait.ts";

/** The ticket ids of the rows shown, top to bottom. */
const rowIds = (page: Page) =>
  page.locator("table.tickets tbody tr").evaluateAll((rows) => rows.map((r) => (r as HTMLElement).dataset.id!));
const cells = (page: Page, column: number) =>
  page.locator(`table.tickets tbody tr td:nth-child(${column})`).allTextContents();
const shownSelectedCount = (page: Page) => page.locator(".selected-count").getAttribute("data-count");

interface Row {
  id: string;
  status: string;
  deleted: boolean;
}

const shownRows = (page: Page): Promise<Row[]> =>
  page.locator("table.tickets tbody tr").evaluateAll((rows) =>
    rows.map((r) => ({
      id: (r as HTMLElement).dataset.id!,
      status: r.querySelector("td:nth-child(3)")?.textContent ?? "",
      deleted: r.querySelector(".badge.deleted") !== null,
    }))
  );

/** Until the rows shown satisfy `predicate` (polled from here: the page's CSP forbids evaluating strings). */
async function waitForRows(page: Page, predicate: (rows: Row[]) => boolean, what: string): Promise<void> {
  await waitUntil(async () => {
    const rows = await shownRows(page);
    return rows.length > 0 && predicate(rows);
  }, { timeoutMs: 20_000, intervalMs: 100, what: `the tickets table shows ${what}`, describe: () => shownRows(page) });
}

/** The main tenant's tickets that are not deleted. */
const liveTickets = (server: TestServer) =>
  server.db.selectFrom("tickets").where("tenant_id", "=", server.tenant.id).where("deleted_at", "is", null);
type TicketQuery = ReturnType<typeof liveTickets>;

async function dbCount(query: TicketQuery): Promise<number> {
  const row = await query.select((eb) => eb.fn.countAll<string>().as("n")).executeTakeFirstOrThrow();
  return Number(row.n);
}

browserSuite("console: tickets", async (suite) => {
  await using server = await startTestServer({ tickets: 160, env: { WORKERS: "0" } });
  await suite.step(
    "filters, keyset pages, selection kept across pages, select all matching (agent, 1280 px)",
    async (flow) => {
      const page = await flow.page();
      await openConsole(page, server, server.tenant.agent);
      await waitForRows(page, (rows) => rows.length === 50, "50 rows");
      await expectLabelled(page);

      // Status filter: only open tickets, as many as the database has.
      await page.selectOption("select[name=status]", ["OPEN"]);
      await waitForRows(page, (rows) => rows.every((r) => r.status === "open"), "open tickets only");
      await page.selectOption("select[name=pageSize]", "100");
      const open = await dbCount(liveTickets(server).where("status", "=", "OPEN"));
      await waitForRows(page, (rows) => rows.length === Math.min(open, 100), `${Math.min(open, 100)} rows`);
      // Priority + category + assignee (unassigned) + title, all together.
      await page.selectOption("select[name=priority]", ["NORMAL", "HIGH"]);
      await page.selectOption("select[name=assignee]", "-");
      await page.fill("input[name=title]", "printer");
      await page.press("input[name=title]", "Enter");
      const expected = await liveTickets(server).select(["id", "title"]).where("status", "=", "OPEN").where(
        "priority",
        "in",
        [
          "NORMAL",
          "HIGH",
        ],
      ).where("assignee_id", "is", null).where("title", "ilike", "%printer%").orderBy("id", "desc").execute();
      expect(expected.length).toBeGreaterThan(0);
      await waitForRows(page, (rows) => rows.length === expected.length, `${expected.length} rows`);
      expect(await cells(page, 3)).toEqual(expected.map(() => "open"));
      expect(await cells(page, 6)).toEqual(expected.map(() => "–"));
      // Created range: tomorrow onwards matches nothing.
      const tomorrow = new Date(Date.now() + 86_400_000).toISOString().slice(0, 10);
      await page.fill("input[name=createdAfter]", tomorrow);
      await page.dispatchEvent("input[name=createdAfter]", "change");
      await page.waitForSelector("text=No tickets match these filters.");
      // Deleted: soft-delete one ticket; it shows only with "Include deleted".
      await page.click("button:text('Reset')");
      await waitForRows(page, (rows) => rows.length === 50, "50 rows");
      const [first] = await rowIds(page);
      await server.db.updateTable("tickets").set({ deleted_at: new Date() }).where(
        "id",
        "=",
        String(BigInt(atob(first).split(":")[1])),
      ).execute();
      await page.click("button:text('Apply filters')");
      await waitForRows(page, (rows) => rows[0].id !== first, "the deleted ticket gone");
      await page.check("input[name=includeDeleted]");
      await waitForRows(page, (rows) => rows[0].id === first && rows[0].deleted, "the deleted ticket, marked");
      await page.uncheck("input[name=includeDeleted]");
      await waitForRows(page, (rows) => rows[0].id !== first, "the deleted ticket gone");

      // Keyset pages: next, next, previous, previous comes back to the first page.
      const page1 = await rowIds(page);
      await page.click("button[aria-label='Next page']");
      await waitForRows(page, (rows) => rows[0].id !== page1[0], "page 2");
      const page2 = await rowIds(page);
      expect(page2.some((id) => page1.includes(id))).toBe(false);
      await page.click("button[aria-label='Previous page']");
      await waitForRows(page, (rows) => rows[0].id === page1[0], "page 1");
      expect(await rowIds(page)).toEqual(page1);

      // Rows ticked on page 1 and page 2 stay ticked across pages.
      await page.check(`tr[data-id="${page1[0]}"] input[type=checkbox]`);
      await page.check(`tr[data-id="${page1[1]}"] input[type=checkbox]`);
      expect(await shownSelectedCount(page)).toBe("2");
      await page.click("button[aria-label='Next page']");
      await waitForRows(page, (rows) => rows[0].id === page2[0], "page 2");
      // By keyboard: focus the checkbox, Space ticks it, and the focus ring shows.
      await page.focus(`tr[data-id="${page2[0]}"] input[type=checkbox]`);
      await page.keyboard.press("Space");
      await expectFocusRing(page);
      expect(await shownSelectedCount(page)).toBe("3");
      await page.click("button[aria-label='Previous page']");
      await waitForRows(page, (rows) => rows[0].id === page1[0], "page 1");
      await expect(page.isChecked(`tr[data-id="${page1[1]}"] input[type=checkbox]`)).resolves.toBe(true);

      // The page checkbox ticks the whole page; then "select all matching" makes the filter the target.
      await page.check("table.tickets thead input[type=checkbox]");
      expect(await shownSelectedCount(page)).toBe("51");
      await page.click("[data-role=select-all]");
      const all = await dbCount(liveTickets(server));
      await page.waitForSelector(`.selected-count[data-count="${all}"]`);
      await expect(page.textContent(".selected-count")).resolves.toBe(`All ${all} matching tickets selected`);
      // Unticking one row of "all matching" goes back to the page's ids minus that one.
      await page.uncheck(`tr[data-id="${page1[3]}"] input[type=checkbox]`);
      expect(await shownSelectedCount(page)).toBe("49");
      // A new filter ends an "all matching" selection (it meant the old filter).
      await page.check("table.tickets thead input[type=checkbox]");
      await page.click("[data-role=select-all]");
      await page.waitForSelector(`.selected-count[data-count="${all}"]`);
      await page.selectOption("select[name=category]", ["BILLING"]);
      await page.waitForSelector(`.selected-count[data-count="0"]`);

      // Every action an agent may run; not Delete/Restore (ADMIN). Import and Export, once each: this server has
      // startBulkImport and startBulkExport (optional-flows.ts shows a flow only for a mutation the server has).
      expect(
        await page.locator(".action-bar button[data-action]").evaluateAll((b) =>
          b.map((x) => (x as HTMLElement).dataset.action)
        ),
      )
        .toEqual(["setStatus", "setPriority", "setCategory", "assign", "addComment"]);
      expect(
        await page.locator("button", { hasText: /import|export/i }).evaluateAll((b) =>
          b.map((x) => (x as HTMLElement).dataset.flow)
        ),
      ).toEqual(["startBulkImport", "startBulkExport"]);
      await page.check(`tr >> nth=1 >> input[type=checkbox]`);
      await screenshot(page, "console-tickets", { viewportOnly: true });
    },
  );

  await suite.step("admins get Delete and Restore too", async (flow) => {
    const page = await flow.page();
    await openConsole(page, server, server.tenant.admin);
    await waitForRows(page, (rows) => rows.length === 50, "50 rows");
    expect(
      await page.locator(".action-bar button[data-action]").evaluateAll((b) =>
        b.map((x) => (x as HTMLElement).dataset.action)
      ),
    )
      .toEqual(["setStatus", "setPriority", "setCategory", "assign", "addComment", "delete", "restore"]);
    await expect(page.isVisible("#nav-webhooks")).resolves.toBe(true);
  });

  await suite.step(
    "a viewer at 390 px: the table read-only, no checkboxes, no action bar, nothing wider than the screen",
    async (flow) => {
      const page = await flow.page(PHONE);
      await openConsole(page, server, server.tenant.viewer);
      await waitForRows(page, (rows) => rows.length === 50, "50 rows");
      expect(await page.locator("table.tickets input[type=checkbox]").count()).toBe(0);
      expect(await page.locator(".action-bar").count()).toBe(0);
      expect(await page.locator("[data-role=select-all]").count()).toBe(0);
      await expect(page.isHidden("#nav-webhooks")).resolves.toBe(true);
      await expectNoSideways(page);
      await expectLabelled(page);
      await screenshot(page, "console-tickets-viewer-390");
    },
  );
});
