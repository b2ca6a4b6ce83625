/**
 * The dashboard and GraphiQL in a real browser: Debian's headless Chromium driven by npm
 * playwright-core (shared/STACK.md). The server runs with WORKERS=0 and the test applies the
 * chunks itself (claimJob + runChunk, exactly what a worker does), so each step of an
 * operation is seen on the page at a known state.
 *
 * Without /usr/bin/chromium (or CHROMIUM_PATH) these tests are reported as ignored, with one
 * line saying how to install it; CI installs chromium (.ci/clients-check), so there they run. Screenshots of the dashboard go
 * to .test-data/screenshots/ (not committed).
 */
import { expect } from "expect";
import type { Browser, Page } from "playwright-core";
import {
  BulkOperationDocument,
  StartBulkOperationDocument,
  type StartBulkOperationMutationVariables,
  TicketsDocument,
} from "../src/clients/generated/graphql.ts";
import { runChunks } from "./helpers/bulk.ts";
import { graphqlUrls, request } from "../src/clients/transport.ts";
import { ticketGid } from "./helpers/api.ts";
import { gql } from "./helpers/graphql.ts";
import { startTestServer, type TestServer } from "./helpers/server.ts";

const CHROMIUM = Deno.env.get("CHROMIUM_PATH") ?? "/usr/bin/chromium";
const FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];
const SCREENSHOTS = ".test-data/screenshots";

// playwright-core's bundled `is-wsl` probes /proc/sys/fs/binfmt_misc/WSLInterop as it loads, and
// Deno lets a program read /proc/sys only with --allow-all. With __IS_WSL_TEST__ set the probe
// waits until `open()` (opening a URL in a desktop browser), which launching Chromium never calls.
Deno.env.set("__IS_WSL_TEST__", "1");
const { chromium } = await import("playwright-core");

const chromiumInstalled = await Deno.stat(CHROMIUM).then((s) => s.isFile, () => false);
if (!chromiumInstalled) {
  console.log(
    `browser tests ignored: no Chromium at ${CHROMIUM}; install it (apt-get install -y chromium) or set CHROMIUM_PATH`,
  );
}

/** A Deno.test that needs Chromium: a page on a fresh browser, closed afterwards. */
function browserTest(name: string, fn: (page: Page) => Promise<void>): void {
  Deno.test({
    name,
    ignore: !chromiumInstalled,
    // playwright keeps its pipe to the browser and timers around between calls.
    sanitizeOps: false,
    sanitizeResources: false,
    async fn() {
      let browser: Browser | undefined;
      try {
        browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: FLAGS });
        const page = await browser.newPage({ viewport: { width: 1100, height: 700 } });
        page.setDefaultTimeout(15_000);
        const problems: string[] = [];
        page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
        page.on("console", (message) => {
          if (message.type() === "error") problems.push(`console error: ${message.text()}`);
        });
        try {
          await fn(page);
        } catch (error) {
          await screenshot(page, `failed-${name.replace(/\W+/g, "-").slice(0, 60)}`).catch(() => {});
          throw error;
        }
        expect(problems).toEqual([]);
      } finally {
        await browser?.close();
      }
    },
  });
}

async function screenshot(page: Page, name: string): Promise<void> {
  await Deno.mkdir(SCREENSHOTS, { recursive: true });
  await page.waitForTimeout(300); // the bars' width transition
  await page.screenshot({ path: `${SCREENSHOTS}/${name}.png`, fullPage: true });
}

async function startOverApi(server: TestServer, input: StartBulkOperationMutationVariables["input"]) {
  const { data, errors } = await gql(server.graphqlUrl, server.tenant.agent.token, StartBulkOperationDocument, {
    input,
  });
  expect(errors).toBeUndefined();
  expect(data!.startBulkOperation.userErrors).toEqual([]);
  return data!.startBulkOperation.bulkOperation!;
}

/** Ids of tickets an agent may change (closed ones are read-only). */
async function openTicketIds(server: TestServer, first: number): Promise<string[]> {
  const { data } = await gql(server.graphqlUrl, server.tenant.agent.token, TicketsDocument, {
    first,
    filter: { status: ["OPEN", "PENDING", "RESOLVED"] },
  });
  return data!.tickets.edges.map((edge) => edge.node.id);
}

async function openDashboard(page: Page, server: TestServer, token: string): Promise<void> {
  await page.goto(`${server.url}/dashboard`);
  await page.fill("#token", token);
  await page.click("#token-form button[type=submit]");
  await page.waitForSelector("#live[data-state=live]");
}

/** The tickets' categories now, in the order of `ids`. */
async function categoriesOf(server: TestServer, ids: string[]): Promise<(string | undefined)[]> {
  const { data } = await gql(server.graphqlUrl, server.tenant.agent.token, TicketsDocument, { first: 100 });
  const byId = new Map(data!.tickets.edges.map((edge) => [edge.node.id, edge.node.category]));
  return ids.map((id) => byId.get(id));
}

const card = (page: Page, id: string) => page.locator(`.op[data-id="${id}"]`);

async function expectBar(page: Page, id: string, status: string, percent: number): Promise<void> {
  await page.waitForSelector(
    `.op[data-id="${id}"][data-status="${status}"] .progress[aria-valuenow="${Math.round(percent * 10) / 10}"]`,
  );
}

browserTest("dashboard: an operation goes from running to completed, its bar to 100%", async (page) => {
  await using server = await startTestServer({ tickets: 60, env: { WORKERS: "0", BULK_CHUNK_SIZE: "10" } });
  await openDashboard(page, server, server.tenant.agent.token);
  await expect(page.textContent("#viewer")).resolves.toContain(server.tenant.agent.email);

  const ids = (await openTicketIds(server, 30)).slice(0, 30);
  const op = await startOverApi(server, {
    targets: { ids },
    action: { setPriority: { priority: "URGENT" } },
    description: "Escalate the printer tickets",
  });
  // A new operation appears by itself (bulkOperationsChanged) and is not finished.
  await expectBar(page, op.id, "RUNNING", 0);
  await expect(card(page, op.id).locator(".description").textContent()).resolves.toBe(
    "Escalate the printer tickets",
  );
  await expect(card(page, op.id).locator("button[data-action=cancel]").isEnabled()).resolves.toBe(true);

  expect(await runChunks(server, 1)).toBe(1);
  await expectBar(page, op.id, "RUNNING", (10 / 30) * 100);
  await expect(card(page, op.id).locator(".total").textContent()).resolves.toBe("10 / 30");
  await screenshot(page, "dashboard-running");

  await runChunks(server);
  await expectBar(page, op.id, "COMPLETED", 100);
  const done = card(page, op.id);
  await expect(done.locator(".percent").textContent()).resolves.toBe("100.0%");
  await expect(done.locator(".fill").evaluate((el) => (el as unknown as { style: { width: string } }).style.width))
    .resolves.toBe("100%");
  await expect(done.locator(".total").textContent()).resolves.toBe("30 / 30");
  const { data } = await gql(server.graphqlUrl, server.tenant.agent.token, BulkOperationDocument, { id: op.id });
  const counts = data!.bulkOperation!.counts;
  await expect(done.locator(".succeeded b").textContent()).resolves.toBe(String(counts.succeeded));
  await expect(done.locator(".skipped b").textContent()).resolves.toBe(String(counts.skipped));
  await expect(done.locator("button[data-action=cancel]").isDisabled()).resolves.toBe(true);
  await expect(done.locator("button[data-action=retry]").isDisabled()).resolves.toBe(true);
  await screenshot(page, "dashboard-completed");
});

browserTest("dashboard: the cancel button cancels; retry starts a RETRY; the token survives a reload", async (page) => {
  await using server = await startTestServer({ tickets: 40, env: { WORKERS: "0", BULK_CHUNK_SIZE: "10" } });
  await openDashboard(page, server, server.tenant.agent.token);
  const ids = await openTicketIds(server, 20);
  const op = await startOverApi(server, { targets: { ids }, action: { setCategory: { category: "BILLING" } } });
  await expectBar(page, op.id, "RUNNING", 0);

  await card(page, op.id).locator("button[data-action=cancel]").click();
  await page.waitForSelector(`.op[data-id="${op.id}"][data-status="CANCELLED"]`);
  await expect(card(page, op.id).locator(".cancelled b").textContent()).resolves.toBe(String(ids.length));
  await expect(card(page, op.id).locator("button[data-action=cancel]").isDisabled()).resolves.toBe(true);
  const { data } = await gql(server.graphqlUrl, server.tenant.agent.token, BulkOperationDocument, { id: op.id });
  expect(data!.bulkOperation).toMatchObject({ status: "CANCELLED", counts: { cancelled: ids.length } });

  // An operation with a failure (a ticket that does not exist), then Retry failed.
  const missing = btoa("Ticket:999999999").replace(/=+$/, "");
  const failing = await startOverApi(server, {
    targets: { ids: [ids[0], missing] },
    action: { setPriority: { priority: "LOW" } },
  });
  await runChunks(server);
  await page.waitForSelector(`.op[data-id="${failing.id}"][data-status="COMPLETED_WITH_ERRORS"]`);
  await expect(card(page, failing.id).locator(".errors li[data-code=NOT_FOUND]").textContent()).resolves.toBe(
    "NOT_FOUND 1",
  );
  await card(page, failing.id).locator("button[data-action=retry]").click();
  const retry = page.locator(`.op[data-kind="RETRY"]`);
  await retry.waitFor();
  await expect(retry.locator(".total").textContent()).resolves.toBe("0 / 1");
  await runChunks(server);
  await page.waitForSelector(`.op[data-kind="RETRY"][data-status="FAILED"]`);
  await screenshot(page, "dashboard-cancel-retry");

  // The token is in sessionStorage: a reload reconnects without typing it again.
  await page.reload();
  await page.waitForSelector("#live[data-state=live]");
  await page.waitForSelector(`.op[data-id="${op.id}"][data-status="CANCELLED"]`);
  await expect(page.evaluate(() => sessionStorage.getItem("bulk-dashboard-token"))).resolves.toBe(
    server.tenant.agent.token,
  );
  await page.click("#forget");
  await expect(page.evaluate(() => sessionStorage.getItem("bulk-dashboard-token"))).resolves.toBeNull();
  await expect(page.locator(".op").count()).resolves.toBe(0);
});

browserTest("dashboard: the rollback button starts a ROLLBACK that restores the tickets", async (page) => {
  await using server = await startTestServer({ tickets: 20, env: { WORKERS: "0", BULK_CHUNK_SIZE: "10" } });
  await openDashboard(page, server, server.tenant.agent.token);
  const ids = await openTicketIds(server, 5);
  const categories = () => categoriesOf(server, ids);
  const before = await categories();
  const op = await startOverApi(server, { targets: { ids }, action: { setCategory: { category: "ACCOUNT" } } });
  await runChunks(server);
  await page.waitForSelector(`.op[data-id="${op.id}"][data-status^="COMPLETED"]`);
  expect((await categories()).every((category) => category === "ACCOUNT")).toBe(true);
  await card(page, op.id).locator("button[data-action=rollback]").click();
  const rollback = page.locator(`.op[data-kind="ROLLBACK"]`);
  await rollback.waitFor();
  await runChunks(server);
  await page.waitForSelector(`.op[data-kind="ROLLBACK"][data-status="COMPLETED"]`);
  await expect(rollback.locator(".percent").textContent()).resolves.toBe("100.0%");
  expect(await categories()).toEqual(before);
});

browserTest("dashboard: a rollback with conflicts offers 'Overwrite conflicts', which forces them", async (page) => {
  await using server = await startTestServer({ tickets: 20, env: { WORKERS: "0", BULK_CHUNK_SIZE: "10" } });
  await openDashboard(page, server, server.tenant.agent.token);
  const ids = await openTicketIds(server, 4);
  const categories = () => categoriesOf(server, ids);
  const before = await categories();
  const op = await startOverApi(server, { targets: { ids }, action: { setCategory: { category: "ACCOUNT" } } });
  await runChunks(server);
  // Someone changes one of the tickets after the operation: rolling back must not overwrite it...
  const changed = await gql(
    server.graphqlUrl,
    server.tenant.agent.token,
    `mutation($id: ID!) { updateTicket(input: { id: $id, category: BILLING }) { userErrors { code } } }`,
    { id: ids[0] },
  );
  expect(changed.data!.updateTicket.userErrors).toEqual([]);
  await page.waitForSelector(`.op[data-id="${op.id}"][data-status^="COMPLETED"]`);
  await card(page, op.id).locator("button[data-action=rollback]").click();
  await page.locator(`.op[data-kind="ROLLBACK"]`).waitFor();
  await runChunks(server);
  const firstRollback = page.locator(`.op[data-kind="ROLLBACK"][data-status="COMPLETED"]`);
  await firstRollback.waitFor();
  expect((await categories())[0]).toBe("BILLING");
  expect((await categories()).slice(1)).toEqual(before.slice(1));
  // ...until the user forces it from the rollback's card.
  const force = firstRollback.locator("button[data-action=force]");
  await expect(force.isVisible()).resolves.toBe(true);
  await force.click();
  await page.waitForFunction(() => document.querySelectorAll('.op[data-kind="ROLLBACK"]').length === 2);
  await runChunks(server);
  await page.waitForFunction(() =>
    document.querySelectorAll('.op[data-kind="ROLLBACK"][data-status="COMPLETED"]').length === 2
  );
  expect(await categories()).toEqual(before);
  await screenshot(page, "dashboard-forced-rollback");
});

browserTest("dashboard in production with trusted documents only: an operation runs to completion", async (page) => {
  await using server = await startTestServer({
    tickets: 20,
    env: { WORKERS: "0", BULK_CHUNK_SIZE: "10", NODE_ENV: "production", GRAPHQL_TRUSTED_DOCUMENTS_ONLY: "1" },
  });
  await openDashboard(page, server, server.tenant.agent.token);
  await expect(page.textContent("#viewer")).resolves.toContain(server.tenant.agent.email);
  // Started the way the CLI starts one: the generated document, sent by its hash.
  const open = await server.db.selectFrom("tickets").select("id").where("status", "!=", "CLOSED").limit(10)
    .execute();
  const { startBulkOperation } = await request(
    graphqlUrls(server.url).http,
    server.tenant.agent.token,
    StartBulkOperationDocument,
    {
      input: {
        targets: { ids: open.map((row) => ticketGid(row.id)) },
        action: { setPriority: { priority: "URGENT" } },
      },
    },
  );
  expect(startBulkOperation.userErrors).toEqual([]);
  const op = startBulkOperation.bulkOperation!;
  await expectBar(page, op.id, "RUNNING", 0);
  await runChunks(server);
  await expectBar(page, op.id, "COMPLETED", 100);
  await screenshot(page, "dashboard-trusted-documents");
});

browserTest("GraphiQL at /graphql loads and runs a subscription over WebSocket", async (page) => {
  await using server = await startTestServer({ tickets: 10, env: { WORKERS: "0", BULK_CHUNK_SIZE: "10" } });
  const ids = await openTicketIds(server, 3);
  const op = await startOverApi(server, { targets: { ids }, action: { setPriority: { priority: "HIGH" } } });
  await runChunks(server);

  const frames: string[] = [];
  page.on("websocket", (ws) => {
    if (new URL(ws.url()).pathname === "/graphql") ws.on("framereceived", (f) => frames.push(String(f.payload)));
  });
  await page.goto(`${server.url}/graphql`);
  await page.waitForSelector(".graphiql-container");

  // The query, typed into the editor.
  const query = page.locator(".graphiql-query-editor");
  await query.click();
  await page.keyboard.press("ControlOrMeta+A");
  await page.keyboard.press("Delete");
  await page.keyboard.type(`subscription { bulkOperationProgress(id: "${op.id}") { status percent } }`);

  // The token header, typed into the headers editor.
  await page.getByRole("button", { name: "Headers" }).click();
  const headers = page.locator(".graphiql-editor-tool [data-uri*=headers], .graphiql-editor-tool .graphiql-editor")
    .last();
  await headers.click();
  await page.keyboard.press("ControlOrMeta+A");
  await page.keyboard.press("Delete");
  await page.keyboard.type(`{"Authorization": "Bearer ${server.tenant.agent.token}"}`);

  await page.locator(".graphiql-execute-button").click();
  await page.waitForFunction(
    `document.querySelector(".graphiql-response")?.textContent?.includes("COMPLETED")`,
    undefined,
    { timeout: 15_000 },
  );
  const response = await page.locator(".graphiql-response").innerText();
  expect(response).toContain("bulkOperationProgress");
  expect(response).toContain("100");
  expect(frames.some((f) => f.includes('"type":"next"') && f.includes("COMPLETED"))).toBe(true);
  await screenshot(page, "graphiql-subscription");
});
