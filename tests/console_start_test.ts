/**
 * The console's start flow in Chromium against the real server: the action's form -> the preview (matched count,
 * predicted outcomes per code, the sample before -> after) -> the confirmation (a destructive action asks for the
 * number of tickets; optional schedule time and e-mail notice) -> the start with the previewToken, which lands on
 * the operation's live view. WORKERS=0: the test applies the chunks itself (runChunks), so each state is known.
 */
import { expect } from "expect";
import type { Page } from "playwright-core";
import { ConsoleOperationDocument } from "../src/clients/generated/graphql.ts";
import { runChunks } from "./helpers/bulk.ts";
import { browserSuite, expectLabelled, openConsole, screenshot } from "./helpers/browser.ts";
import { gql } from "./helpers/graphql.ts";
import { startTestServer, type TestServer } from "./helpers/server.ts";
import { insertTickets } from "../src/tickets/seed.ts";

/** The ids (database keys) of the tickets in the first `n` rows shown, after ticking them. */
async function tick(page: Page, n: number): Promise<string[]> {
  await page.waitForSelector("table.tickets tbody tr");
  const rows = page.locator("table.tickets tbody tr");
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    await rows.nth(i).locator("input[type=checkbox]").check();
    ids.push((await rows.nth(i).getAttribute("data-id"))!);
  }
  return ids;
}

const dbKey = (gid: string) => atob(gid).split(":")[1];

async function operationOf(server: TestServer, page: Page) {
  await page.waitForURL(/#\/operations\//);
  const id = decodeURIComponent(new URL(page.url()).hash.replace("#/operations/", ""));
  const { data } = await gql(server.graphqlUrl, server.tenant.admin.token, ConsoleOperationDocument, { id });
  return data!.bulkOperation!;
}

browserSuite("console: start flow", async (suite) => {
  await using server = await startTestServer({ tickets: 120, env: { WORKERS: "0", BULK_CHUNK_SIZE: "25" } });
  await suite.step("ids: form -> preview -> confirm -> start with the previewToken -> live view", async (flow) => {
    const page = await flow.page();
    await openConsole(page, server, server.tenant.agent);
    const ids = await tick(page, 5);
    const before = await server.db.selectFrom("tickets").select(["id", "priority", "status"])
      .where("id", "in", ids.map(dbKey)).execute();
    await page.click(".action-bar button[data-action=setPriority]");
    const dialog = page.locator("dialog.start-flow[open]");
    await dialog.waitFor();
    await expectLabelled(page);
    await dialog.locator("select[name=value]").selectOption("URGENT");
    await dialog.locator("input[name=description]").fill("Escalate the five newest");
    await dialog.locator("button:text('Preview')").click();
    await dialog.locator("[data-step='1']").or(page.locator("dialog[data-step='1']")).waitFor();
    // The preview's figures are the server's prediction for exactly these tickets.
    const already = before.filter((t) => t.priority === "URGENT").length;
    const closed = before.filter((t) => t.status === "CLOSED" && t.priority !== "URGENT").length; // agents may not change closed tickets
    await expect(dialog.locator("dd[data-outcome=Matched]").textContent()).resolves.toBe("5");
    await expect(dialog.locator("dd[data-outcome='Would change']").textContent()).resolves.toBe(
      String(5 - already - closed),
    );
    await expect(dialog.locator(".sample tbody tr").count()).resolves.toBe(5);
    const changing = dialog.locator(".sample tbody tr", { has: page.locator(".outcome-SUCCEEDED") }).first();
    expect(await changing.locator(".diff dt").allTextContents()).toContain("priority");
    await expect(changing.locator(".diff dt:text('priority') + dd ins").textContent()).resolves.toBe("URGENT");
    await screenshot(page, "console-preview", { viewportOnly: true });

    const starts: string[] = [];
    page.on("request", (r) => {
      if (r.method() === "POST" && r.url().endsWith("/graphql")) starts.push(r.postData() ?? "");
    });
    await dialog.locator("button:text('Continue')").click();
    await page.waitForSelector("dialog[data-step='2']");
    // Not destructive: no number to type.
    await expect(dialog.locator("input[name=confirmCount]").count()).resolves.toBe(0);
    await dialog.locator("button:text('Start')").click();
    const op = await operationOf(server, page);
    expect(op).toMatchObject({ status: "RUNNING", description: "Escalate the five newest", counts: { total: 5 } });
    // The start carried the preview's token (and an idempotency key).
    const start = starts.map((body) => JSON.parse(body)).find((b) => b.variables?.input?.previewToken);
    expect(start?.variables.input).toMatchObject({
      previewToken: expect.any(String),
      idempotencyKey: expect.any(String),
    });
    await page.waitForSelector(".live-panel[data-status=RUNNING]");
    await runChunks(server);
    await page.waitForSelector(".live-panel[data-status=COMPLETED], .live-panel[data-status=COMPLETED_WITH_ERRORS]");
    const after = await server.db.selectFrom("tickets").select(["id", "priority"]).where("id", "in", ids.map(dbKey))
      .execute();
    expect(after.filter((t) => t.priority === "URGENT").length).toBe(5 - closed);
  });

  await suite.step("all matching a filter: the target is the filter, frozen at the preview", async (flow) => {
    const page = await flow.page();
    await openConsole(page, server, server.tenant.agent);
    await page.selectOption("select[name=pageSize]", "25"); // more open tickets than one page holds
    await page.selectOption("select[name=status]", ["OPEN"]);
    await page.waitForFunction(() =>
      [...document.querySelectorAll("table.tickets tbody tr td:nth-child(3)")].every((td) => td.textContent === "open")
    );
    await page.check("table.tickets thead input[type=checkbox]");
    await page.click("[data-role=select-all]");
    const open = Number(
      (await server.db.selectFrom("tickets").select((eb) => eb.fn.countAll<string>().as("n"))
        .where("tenant_id", "=", server.tenant.id).where("status", "=", "OPEN").where("deleted_at", "is", null)
        .executeTakeFirstOrThrow()).n,
    );
    await page.waitForSelector(`.selected-count[data-count="${open}"]`);
    await page.click(".action-bar button[data-action=setCategory]");
    const dialog = page.locator("dialog.start-flow[open]");
    await dialog.locator("select[name=value]").selectOption("TECHNICAL");
    await dialog.locator("button:text('Preview')").click();
    await page.waitForSelector("dialog[data-step='1']");
    await expect(dialog.locator("dd[data-outcome=Matched]").textContent()).resolves.toBe(String(open));
    // A ticket that matches, created after the preview, is not in the run: the run is what was previewed.
    await insertTickets(server.db, server.tenant.id, 5, { from: 1000 });
    await dialog.locator("button:text('Continue')").click();
    await dialog.locator("button:text('Start')").click();
    const op = await operationOf(server, page);
    expect(op.targets.kind).toBe("FILTER");
    expect(op.targets.filter).toMatchObject({ status: ["OPEN"] });
    expect(op.counts.total).toBe(open);
  });

  await suite.step(
    "destructive (admin delete): type the number; schedule; e-mail without SMTP is refused",
    async (flow) => {
      const page = await flow.page();
      await openConsole(page, server, server.tenant.admin);
      const ids = await tick(page, 3);
      await expect(page.textContent(".selected-count")).resolves.toBe("3 selected");
      await page.click(".action-bar button[data-action=delete]");
      const dialog = page.locator("dialog.start-flow[open]");
      await dialog.locator("input[name=reason]").fill("spam");
      await dialog.locator("button:text('Preview')").click();
      await page.waitForSelector("dialog[data-step='1']");
      await dialog.locator("button:text('Continue')").click();
      const go = dialog.locator("button:text('Start')");
      await expect(go.isDisabled()).resolves.toBe(true);
      await dialog.locator("input[name=confirmCount]").fill("4");
      await expect(go.isDisabled()).resolves.toBe(true);
      await dialog.locator("input[name=confirmCount]").fill("3");
      await expect(go.isEnabled()).resolves.toBe(true);
      // E-mail needs SMTP_URL on the server: a typed error, shown in the dialog, and nothing starts.
      await dialog.locator("input[name=notifyEmail]").check();
      await go.click();
      await dialog.locator(".problem", { hasText: "EMAIL_NOT_CONFIGURED" }).waitFor();
      expect(await server.db.selectFrom("bulk_operations").select("id").where("action_type", "=", "DELETE").execute())
        .toEqual([]);
      await dialog.locator("input[name=notifyEmail]").uncheck();
      const at = new Date(Date.now() + 3 * 86_400_000);
      const local = new Date(at.getTime() - at.getTimezoneOffset() * 60_000).toISOString().slice(0, 16);
      await dialog.locator("input[name=scheduledAt]").fill(local);
      await screenshot(page, "console-confirm-destructive");
      await go.click();
      const op = await operationOf(server, page);
      expect(op).toMatchObject({ status: "SCHEDULED", actionType: "DELETE", counts: { total: 3 } });
      expect(Math.abs(Date.parse(op.scheduledAt!) - Date.parse(`${local}:00`))).toBeLessThan(61_000);
      await page.waitForSelector(".live-panel[data-status=SCHEDULED]");
      // Nothing is deleted before its time.
      const rows = await server.db.selectFrom("tickets").select("deleted_at").where("id", "in", ids.map(dbKey))
        .execute();
      expect(rows.every((r) => r.deleted_at === null)).toBe(true);
    },
  );
});
