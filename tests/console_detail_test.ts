/**
 * The console's operation detail, history and webhooks pages in Chromium against the real server (one worker):
 * items filtered by outcome and code and paged, each item's before -> after, the events, the lineage, the
 * downloads (JSONL, CSV, failed rows); the history with the API's filters and paging through all of it; the
 * ADMIN-only webhooks page with deliveries and Redeliver; and what a viewer sees: everything, with no button a
 * viewer may not use.
 */
import { expect } from "expect";
import type { Page } from "playwright-core";
import {
  ConsoleOperationDocument,
  RetryOperationDocument,
  RollbackOperationDocument,
  StartOperationDocument,
} from "../src/clients/generated/graphql.ts";
import { encodeId } from "../src/graphql/ids.ts";
import { ticketGid } from "./helpers/api.ts";
import { browserSuite, expectLabelled, openConsole, screenshot } from "./helpers/browser.ts";
import { gql } from "./helpers/graphql.ts";
import { startReceiver } from "./helpers/receivers.ts";
import { startTestServer, type TestServer, type TestUser } from "./helpers/server.ts";
import { waitUntil } from "./helpers/wait.ts";
import { CREATE_ENDPOINT, WEBHOOK_ENV } from "./helpers/webhooks.ts";

async function operation(server: TestServer, id: string) {
  const { data } = await gql(server.graphqlUrl, server.tenant.admin.token, ConsoleOperationDocument, { id });
  return data!.bulkOperation!;
}

async function finished(server: TestServer, id: string) {
  return await waitUntil(async () => {
    const op = await operation(server, id);
    return ["COMPLETED", "COMPLETED_WITH_ERRORS", "FAILED", "CANCELLED"].includes(op.status) && op;
  }, { timeoutMs: 60_000, intervalMs: 100, what: `operation ${id} ends` });
}

async function start(server: TestServer, user: TestUser, input: Record<string, unknown>) {
  const { data, errors } = await gql(server.graphqlUrl, user.token, StartOperationDocument, { input: input as never });
  expect(errors).toBeUndefined();
  expect(data!.startBulkOperation.userErrors).toEqual([]);
  return data!.startBulkOperation.bulkOperation!;
}

/** Clicks a download button and returns the saved file's lines. */
async function downloaded(page: Page, selector: string): Promise<{ name: string; lines: string[] }> {
  const [download] = await Promise.all([page.waitForEvent("download"), page.click(selector)]);
  const text = await Deno.readTextFile((await download.path())!);
  return { name: download.suggestedFilename(), lines: text.trimEnd().split("\n") };
}

const rowCount = (page: Page, selector: string) => page.locator(selector).count();

browserSuite("console: detail, history, webhooks", async (suite) => {
  await using server = await startTestServer({
    tickets: 200,
    env: { ...WEBHOOK_ENV, BULK_CHUNK_SIZE: "25", BULK_MAX_STARTS_PER_MINUTE: "200", BULK_MAX_WAITING_PER_USER: "100" },
  });
  await using receiver = startReceiver(() => new Response("ok"));
  const endpoint = await gql(server.graphqlUrl, server.tenant.admin.token, CREATE_ENDPOINT, {
    input: { url: receiver.url, events: ["BULK_OPERATION_FINISHED"], description: "the help desk's hook" },
  });
  expect(endpoint.data!.createWebhookEndpoint.userErrors).toEqual([]);

  // 50 open tickets succeed; 5 closed ones fail FORBIDDEN (agents may not change them); 5 do not exist.
  const open = await server.db.selectFrom("tickets").select(["id", "priority"]).where("status", "=", "OPEN")
    .where("priority", "!=", "LOW").orderBy("id").limit(50).execute();
  const closed = await server.db.selectFrom("tickets").select("id").where("status", "=", "CLOSED").limit(5).execute();
  const missing = [1, 2, 3, 4, 5].map((n) => encodeId("Ticket", String(999_999_000 + n)));
  const main = await start(server, server.tenant.agent, {
    targets: { ids: [...open.map((r) => ticketGid(r.id)), ...closed.map((r) => ticketGid(r.id)), ...missing] },
    action: { setPriority: { priority: "LOW" } },
    description: "Lower the noise",
  });
  await finished(server, main.id);
  const { data: retried } = await gql(server.graphqlUrl, server.tenant.agent.token, RetryOperationDocument, {
    input: { id: main.id, errorCodes: ["NOT_FOUND"] },
  });
  const retry = retried!.retryFailedItems.bulkOperation!;
  await finished(server, retry.id);
  const { data: rolled } = await gql(server.graphqlUrl, server.tenant.agent.token, RollbackOperationDocument, {
    input: { id: main.id },
  });
  const rollback = rolled!.rollbackBulkOperation.bulkOperation!;
  await finished(server, rollback.id);

  await suite.step(
    "detail: items by outcome and code, paged, before -> after; events; lineage; downloads",
    async (flow) => {
      const page = await flow.page();
      await openConsole(page, server, server.tenant.agent);
      await page.goto(`${server.url}/console#/operations/${encodeURIComponent(main.id)}`);
      await page.waitForSelector(".live-panel[data-status=COMPLETED_WITH_ERRORS]");
      await page.waitForSelector(".items tbody tr");
      await expectLabelled(page);
      expect(await rowCount(page, ".items tbody tr")).toBe(50);
      // Keyset pages: 50 then 10, and back.
      await page.click("button[aria-label='Next items']");
      await page.waitForSelector(".items tbody tr[data-position='50']");
      expect(await rowCount(page, ".items tbody tr")).toBe(10);
      await page.click("button[aria-label='Previous items']");
      await page.waitForSelector(".items tbody tr[data-position='0']");
      // A changed ticket's before -> after.
      const first = page.locator(".items tbody tr[data-position='0']");
      await expect(first.locator(".diff dt:text('priority') + dd del").textContent()).resolves.toBe(open[0].priority);
      await expect(first.locator(".diff dt:text('priority') + dd ins").textContent()).resolves.toBe("LOW");
      // Outcome FAILED: the 10 failures; with code NOT_FOUND: the 5 missing tickets.
      await page.selectOption(".items select[name=outcome]", ["FAILED"]);
      await page.waitForFunction(() => document.querySelectorAll(".items tbody tr").length === 10);
      expect(
        new Set(
          await page.locator(".items tbody tr").evaluateAll((r) => r.map((x) => (x as HTMLElement).dataset.outcome)),
        ),
      )
        .toEqual(new Set(["FAILED"]));
      await page.selectOption(".items select[name=code]", ["NOT_FOUND"]);
      await page.waitForFunction(() => document.querySelectorAll(".items tbody tr").length === 5);
      await expect(page.locator(".items tbody tr").first().textContent()).resolves.toContain("NOT_FOUND");
      // Events: who created it, then the engine's.
      await page.waitForSelector(".events tbody tr[data-type=CREATED]");
      await expect(page.textContent(".events tr[data-type=CREATED] td:nth-child(3)")).resolves.toContain(
        server.tenant.agent.email,
      );
      expect(await page.locator(".events tbody tr").evaluateAll((r) => r.map((x) => (x as HTMLElement).dataset.type)))
        .toEqual(expect.arrayContaining(["CREATED", "STARTED", "FINISHED"]));
      // Lineage: its retry and its rollback; the retry's page links back to it.
      await page.waitForSelector(`.lineage a[href="#/operations/${encodeURIComponent(retry.id)}"][data-kind=RETRY]`);
      await page.waitForSelector(
        `.lineage a[href="#/operations/${encodeURIComponent(rollback.id)}"][data-kind=ROLLBACK]`,
      );
      await screenshot(page, "console-operation-detail");
      // Downloads: every item as JSONL and CSV, and the failed rows alone.
      const jsonl = await downloaded(page, "[data-download=jsonl]");
      expect(jsonl.lines.length).toBe(60);
      expect(JSON.parse(jsonl.lines[0])).toMatchObject({
        position: 0,
        outcome: "SUCCEEDED",
        after: { priority: "LOW" },
      });
      const csv = await downloaded(page, "[data-download=csv]");
      expect(csv.lines.length).toBe(61);
      expect(csv.lines[0]).toBe("position,targetId,outcome,errorCode,errorMessage,before,after,attempts,processedAt");
      const failed = await downloaded(page, "[data-download=failed]");
      expect(failed.name).toMatch(/-failed\.csv$/);
      expect(failed.lines.length).toBe(11);
      expect(failed.lines.slice(1).every((line) => line.split(",")[2] === "FAILED")).toBe(true);
      await page.click(`.lineage a[data-kind=RETRY]`);
      await page.waitForSelector(`.lineage a[href="#/operations/${encodeURIComponent(main.id)}"]`);
      await expect(page.textContent(".lineage")).resolves.toContain("Parent:");
    },
  );

  await suite.step("history: the API's filters and paging through every operation", async (flow) => {
    // 27 more: 3 short ones per action and user, so the history spans two pages of 25.
    const ids = open.slice(0, 3).map((r) => ticketGid(r.id));
    const more = [];
    for (let i = 0; i < 9; i++) {
      more.push(
        await start(server, i % 3 === 0 ? server.tenant.admin : server.tenant.agent, {
          targets: { ids },
          action: i % 2 ? { setStatus: { status: "PENDING" } } : { addComment: { body: `note ${i}` } },
        }),
      );
    }
    for (const op of more) await finished(server, op.id);
    const all = await server.db.selectFrom("bulk_operations").select(["id", "kind", "action_type", "created_by"])
      .where("tenant_id", "=", server.tenant.id).execute();
    expect(all.length).toBe(12);
    const page = await flow.page();
    await openConsole(page, server, server.tenant.viewer);
    await page.click("#nav a[href='#/history']");
    await page.waitForSelector(".history-page tbody tr");
    await expectLabelled(page);
    const shown = () =>
      page.locator(".history-page tbody tr").evaluateAll((r) => r.map((x) => (x as HTMLElement).dataset.id!));
    expect((await shown()).length).toBe(12);
    // Kind RETRY: the one retry.
    await page.selectOption(".history-page select[name=kind]", ["RETRY"]);
    await page.waitForFunction(() => document.querySelectorAll(".history-page tbody tr").length === 1);
    expect(await shown()).toEqual([retry.id]);
    await page.selectOption(".history-page select[name=kind]", []);
    // Action SET_STATUS by the admin.
    await page.selectOption(".history-page select[name=actionType]", ["SET_STATUS"]);
    const admin = await server.db.selectFrom("users").select("id").where("email", "=", server.tenant.admin.email)
      .executeTakeFirstOrThrow();
    await page.selectOption(".history-page select[name=createdBy]", encodeId("User", admin.id));
    const expected = all.filter((o) => o.action_type === "SET_STATUS" && o.created_by === admin.id).length;
    expect(expected).toBeGreaterThan(0);
    await page.waitForFunction((n) => document.querySelectorAll(".history-page tbody tr").length === n, expected);
    // Created from tomorrow: none.
    const tomorrow = new Date(Date.now() + 86_400_000).toISOString().slice(0, 10);
    await page.fill(".history-page input[name=createdAfter]", tomorrow);
    await page.dispatchEvent(".history-page input[name=createdAfter]", "change");
    await page.waitForSelector(".history-page .table-status:text('No operations match.')");
    await screenshot(page, "console-history");
  });

  await suite.step("history pages: keyset paging through all of them, both ways", async (flow) => {
    const ids = open.slice(0, 2).map((r) => ticketGid(r.id));
    const more = [];
    for (let i = 0; i < 16; i++) {
      more.push(
        await start(server, server.tenant.agent, {
          targets: { ids },
          action: { setCategory: { category: "GENERAL" } },
        }),
      );
    }
    for (const op of more) await finished(server, op.id);
    const page = await flow.page();
    await openConsole(page, server, server.tenant.agent);
    await page.click("#nav a[href='#/history']");
    await page.waitForFunction(() => document.querySelectorAll(".history-page tbody tr").length === 25);
    const firstPage = await page.locator(".history-page tbody tr").evaluateAll((r) =>
      r.map((x) => (x as HTMLElement).dataset.id!)
    );
    await page.click("button[aria-label='Older operations']");
    await page.waitForFunction(() => document.querySelectorAll(".history-page tbody tr").length === 3);
    const secondPage = await page.locator(".history-page tbody tr").evaluateAll((r) =>
      r.map((x) => (x as HTMLElement).dataset.id!)
    );
    expect(new Set([...firstPage, ...secondPage]).size).toBe(28);
    await expect(page.isDisabled("button[aria-label='Older operations']")).resolves.toBe(true);
    await page.click("button[aria-label='Newer operations']");
    await page.waitForFunction(() => document.querySelectorAll(".history-page tbody tr").length === 25);
    expect(
      await page.locator(".history-page tbody tr").evaluateAll((r) => r.map((x) => (x as HTMLElement).dataset.id!)),
    )
      .toEqual(firstPage);
  });

  await suite.step("webhooks (ADMIN): the endpoint, its deliveries, redeliver", async (flow) => {
    const first = await receiver.waitFor((r) => r.length > 0, "a bulk_operation.finished delivery");
    const page = await flow.page();
    await openConsole(page, server, server.tenant.admin);
    await page.click("#nav a[href='#/webhooks']");
    const card = page.locator(".endpoint").first();
    await card.waitFor();
    await expect(card.locator("h3").textContent()).resolves.toBe(receiver.url);
    await expect(card.textContent()).resolves.toContain("the help desk's hook");
    await card.locator("tbody tr[data-status=DELIVERED]").first().waitFor();
    const before = await card.locator("tbody tr").count();
    await expectLabelled(page);
    // The newest delivery is redelivered: a new row, and the receiver gets it again with the same webhook-id.
    const newest = await card.locator("tbody tr").first().getAttribute("data-id");
    const ids = new Set(receiver.requests.map((r) => r.headers["webhook-id"]));
    // Counted before the click: the redelivery may reach the receiver before the new row shows.
    const count = receiver.requests.length;
    await card.locator(`tbody tr[data-id="${newest}"] button:text('Redeliver')`).click();
    await page.waitForFunction((n) => document.querySelectorAll(".endpoint tbody tr").length === n, before + 1);
    const again = await receiver.waitFor((r) => r.length > count, "the redelivery");
    expect(ids.has(again[again.length - 1].headers["webhook-id"])).toBe(true);
    expect(first.length).toBeGreaterThan(0);
    await screenshot(page, "console-webhooks");
  });

  await suite.step(
    "agents and viewers: no webhooks; a viewer sees an operation with no buttons to act",
    async (flow) => {
      for (const user of [server.tenant.agent, server.tenant.viewer]) {
        const page = await flow.page();
        await openConsole(page, server, user);
        await expect(page.isHidden("#nav-webhooks")).resolves.toBe(true);
        await page.goto(`${server.url}/console#/webhooks`);
        await page.waitForSelector(".tickets-page");
        expect(await rowCount(page, ".webhooks-page")).toBe(0);
      }
      const page = await flow.page();
      await openConsole(page, server, server.tenant.viewer);
      await page.goto(`${server.url}/console#/operations/${encodeURIComponent(main.id)}`);
      await page.waitForSelector(".live-panel[data-status=COMPLETED_WITH_ERRORS]");
      expect(await rowCount(page, ".controls [data-command]")).toBe(0);
      expect(await rowCount(page, ".controls [data-download]")).toBe(3); // reading is allowed
      await expect(page.textContent(".controls .final")).resolves.toMatch(/^Completed with errors/);
    },
  );
});
