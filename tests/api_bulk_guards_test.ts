/**
 * Guards of the bulk API: who may cancel what, retry once per parent, no retry of a
 * rollback, reasons kept, NUL characters refused before the database, bad download paths.
 */
import { expect } from "expect";
import { encodeId } from "../src/graphql/ids.ts";
import { CANCEL, RETRY, ROLLBACK, writtenRows } from "./helpers/api.ts";
import { finished, waitFor } from "./helpers/bulk.ts";
import { gql } from "./helpers/graphql.ts";
import { startTestServer, type TestServer, type TestUser } from "./helpers/server.ts";

// Started inside the test (not at import, where it would run and leak under --filter for another test).
let server: TestServer;
const rawId = (globalId: string) => atob(globalId.replaceAll("-", "+").replaceAll("_", "/")).split(":")[1];

async function call(user: TestUser, query: string, variables: Record<string, unknown>) {
  const result = await gql(server.graphqlUrl, user.token, query, variables);
  expect(result.errors).toBeUndefined();
  return Object.values(
    result.data as Record<string, { bulkOperation: { id: string } | null; userErrors: unknown[] }>,
  )[0];
}

const START = `mutation($input: StartBulkOperationInput!) { startBulkOperation(input: $input) {
  bulkOperation { id action { ... on DeleteAction { reason } } } userErrors { code field message } } }`;

Deno.test({
  name: "bulk API guards",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async (t) => {
    await using started = await startTestServer({ tickets: 50, env: { WORKERS: "1" } });
    server = started;
    const { db, tenant } = server;
    await t.step("a delete keeps its reason; an agent cannot cancel it, an admin can", async () => {
      const payload = await call(tenant.admin, START, {
        input: {
          targets: { filter: {} },
          action: { delete: { reason: "spam wave" } },
          scheduledAt: new Date(Date.now() + 60_000).toISOString(),
        },
      });
      expect(payload.userErrors).toEqual([]);
      expect(payload.bulkOperation).toMatchObject({ action: { reason: "spam wave" } });
      const id = payload.bulkOperation!.id;
      const byAgent = await call(tenant.agent, CANCEL, { id });
      expect(byAgent.userErrors).toMatchObject([{ code: "FORBIDDEN" }]);
      const byAdmin = await call(tenant.admin, CANCEL, { id });
      expect(byAdmin.userErrors).toEqual([]);
      expect(byAdmin.bulkOperation).toMatchObject({ status: "CANCELLED" });
    });

    await t.step("NUL characters are refused before the database, nothing created", async () => {
      const before = await writtenRows(server.db);
      for (
        const [input, code] of [
          [{ targets: { filter: {} }, action: { addComment: { body: "a\u0000b" } } }, "INVALID_PARAMS"],
          [
            { targets: { filter: {} }, action: { addComment: { body: "ok" } }, description: "x\u0000" },
            "INVALID_INPUT",
          ],
          [
            { targets: { filter: {} }, action: { addComment: { body: "ok" } }, idempotencyKey: "k\u0000" },
            "INVALID_INPUT",
          ],
          [{ targets: { filter: {} }, action: { delete: { reason: "r\u0000" } } }, "INVALID_PARAMS"],
        ] as const
      ) {
        const payload = await call(tenant.admin, START, { input });
        expect(payload.userErrors).toMatchObject([{ code }]);
      }
      expect(await writtenRows(server.db)).toEqual(before);
    });

    await t.step("a parent is retried once (then retry the retry); a rollback is not retried", async () => {
      // OPEN/PENDING -> CLOSED fails INVALID_TRANSITION: something to retry.
      const parent = await call(tenant.agent, START, {
        input: { targets: { filter: {} }, action: { setStatus: { status: "CLOSED" } } },
      });
      await waitFor(db, rawId(parent.bulkOperation!.id), finished);
      const first = await call(tenant.agent, RETRY, { id: parent.bulkOperation!.id });
      expect(first.userErrors).toEqual([]);
      await waitFor(db, rawId(first.bulkOperation!.id), finished);
      const second = await call(tenant.agent, RETRY, { id: parent.bulkOperation!.id });
      expect(second.userErrors).toMatchObject([{ code: "ALREADY_RETRIED" }]);
      // The retry's items failed again (nothing was fixed): retrying the retry is the way on.
      const ofRetry = await call(tenant.agent, RETRY, { id: first.bulkOperation!.id });
      expect(ofRetry.userErrors).toEqual([]);
      await waitFor(db, rawId(ofRetry.bulkOperation!.id), finished);
      const undo = await call(tenant.agent, ROLLBACK, { id: parent.bulkOperation!.id });
      expect(undo.userErrors).toEqual([]);
      await waitFor(db, rawId(undo.bulkOperation!.id), finished);
      const retryUndo = await call(tenant.agent, RETRY, { id: undo.bulkOperation!.id });
      expect(retryUndo.userErrors).toMatchObject([{ code: "NOT_RETRYABLE" }]);
    });

    await t.step("a download path with a bad percent-encoding or a foreign id is a 404", async () => {
      for (const path of ["%E0%A4%A", encodeId("Ticket", "1"), "not-an-id"]) {
        const response = await fetch(`${server.url}/bulk-operations/${path}/items.csv`, {
          headers: { authorization: `Bearer ${tenant.agent.token}` },
        });
        expect(response.status).toBe(404);
        await response.body?.cancel();
      }
    });
  },
});
