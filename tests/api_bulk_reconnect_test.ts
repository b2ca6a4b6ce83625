/**
 * The LISTEN connection that feeds every subscription of a process is lost (its backend
 * terminated): the hub reconnects, and live events keep arriving on the open subscriptions.
 */
import { expect } from "expect";
import { sql } from "kysely";
import { collect, gql, wsClient } from "./helpers/graphql.ts";
import { startTestServer } from "./helpers/server.ts";

Deno.test("subscriptions survive a lost LISTEN connection", async () => {
  const server = await startTestServer({ tickets: 30, env: { WORKERS: "1" } });
  const client = wsClient(server.wsUrl, server.tenant.agent.token);
  try {
    const feed = collect<{ bulkOperationsChanged: { id: string; status: string } }>(
      client,
      "subscription { bulkOperationsChanged { id status } }",
      {},
      { until: (event) => event.bulkOperationsChanged.status.startsWith("COMPLETED"), timeoutMs: 20_000 },
    );
    await new Promise((resolve) => setTimeout(resolve, 300)); // the subscription is set up
    const { rows } = await sql<{ terminated: boolean }>`
      SELECT pg_terminate_backend(pid) AS terminated FROM pg_stat_activity
      WHERE application_name = 'bulk-ops listen' AND datname = current_database()`.execute(server.db);
    expect(rows).toEqual([{ terminated: true }]);
    await new Promise((resolve) => setTimeout(resolve, 1000)); // reconnect (backoff starts at 100 ms)
    const started = await gql(
      server.graphqlUrl,
      server.tenant.agent.token,
      `mutation { startBulkOperation(input: { targets: { filter: {} }, action: { setPriority: { priority: URGENT } } })
        { bulkOperation { id } userErrors { code } } }`,
    );
    const id = started.data!.startBulkOperation.bulkOperation.id;
    const events = await feed;
    // Closed tickets are read-only for priority changes: some items fail, the rest succeed.
    expect(events.at(-1)!.bulkOperationsChanged).toEqual({ id, status: "COMPLETED_WITH_ERRORS" });
  } finally {
    await client.dispose();
    await server.stop();
  }
});
