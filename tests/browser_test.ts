/**
 * The console's plumbing and GraphiQL in a real browser (the console's flows have their own files,
 * tests/console_*_test.ts): /dashboard redirects to /console; the console works in production with trusted
 * documents only (every document it sends is a generated, registered one); GraphiQL runs a subscription over
 * WebSocket. One Chromium for the file (tests/helpers/browser.ts), ignored with a line saying how to install it
 * when Chromium is missing.
 */
import { expect } from "expect";
import { StartBulkOperationDocument } from "../src/clients/generated/graphql.ts";
import { graphqlUrls, request } from "../src/clients/transport.ts";
import { ticketGid } from "./helpers/api.ts";
import { runChunks } from "./helpers/bulk.ts";
import { browserSuite, openConsole, screenshot } from "./helpers/browser.ts";
import { gql } from "./helpers/graphql.ts";
import { startTestServer } from "./helpers/server.ts";

browserSuite("console plumbing and GraphiQL", async (suite) => {
  await suite.step("/dashboard redirects to /console", async (flow) => {
    await using server = await startTestServer({ env: { WORKERS: "0" } });
    const response = await fetch(`${server.url}/dashboard`, { redirect: "manual" });
    expect([response.status, response.headers.get("location")]).toEqual([308, "/console"]);
    await response.body?.cancel();
    const page = await flow.page();
    await page.goto(`${server.url}/dashboard/`);
    expect(new URL(page.url()).pathname).toBe("/console");
    await page.waitForSelector("#token-form");
  });

  await suite.step(
    "console in production with trusted documents only: an operation runs to completion",
    async (flow) => {
      const page = await flow.page();
      await using server = await startTestServer({
        tickets: 20,
        env: { WORKERS: "0", BULK_CHUNK_SIZE: "10", NODE_ENV: "production", GRAPHQL_TRUSTED_DOCUMENTS_ONLY: "1" },
      });
      await openConsole(page, server, server.tenant.agent);
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
      await page.goto(`${server.url}/console#/operations/${op.id}`);
      await page.waitForSelector(".live-panel[data-status=RUNNING] .progress[aria-valuenow='0']");
      await runChunks(server);
      await page.waitForSelector(".live-panel[data-status=COMPLETED] .progress[aria-valuenow='100']");
      // The items, events and history documents are registered too.
      await page.waitForSelector(".items tbody tr[data-outcome=SUCCEEDED]");
      await page.waitForSelector(".events tbody tr");
      await page.click("#nav a[href='#/history']");
      await page.waitForSelector(`.history-page tr[data-id="${op.id}"][data-status=COMPLETED]`);
      await screenshot(page, "console-trusted-documents");
    },
  );

  await suite.step("GraphiQL at /graphql loads and runs a subscription over WebSocket", async (flow) => {
    const page = await flow.page();
    await using server = await startTestServer({ tickets: 10, env: { WORKERS: "0", BULK_CHUNK_SIZE: "10" } });
    const open = await server.db.selectFrom("tickets").select("id").where("status", "!=", "CLOSED").limit(3)
      .execute();
    const ids = open.map((row) => ticketGid(row.id));
    const op = await gql(server.graphqlUrl, server.tenant.agent.token, StartBulkOperationDocument, {
      input: { targets: { ids }, action: { setPriority: { priority: "HIGH" } } },
    }).then((r) => r.data!.startBulkOperation.bulkOperation!);
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
});
