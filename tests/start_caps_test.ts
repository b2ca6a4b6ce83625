/**
 * Per-user caps on starting operations (src/bulk/start-caps.ts): operations created per minute and
 * operations waiting (QUEUED + SCHEDULED) at once, each a typed userError with a retry time, nothing written.
 */
import { expect } from "expect";
import { sql } from "kysely";
import { START, startOk, startOp } from "./helpers/api.ts";
import { startTestServer, type TestServer } from "./helpers/server.ts";

const INPUT = { targets: { filter: {} }, action: { setPriority: { priority: "HIGH" } } };

/** startBulkOperation's userErrors with their retryAt (the shared START document does not ask for it). */
async function startUserErrors(server: TestServer, token: string) {
  const response = await fetch(server.graphqlUrl, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
    body: JSON.stringify({
      query: START.replace("userErrors { code field message }", "userErrors { code field message retryAt }"),
      variables: { input: INPUT },
    }),
  }).then((r) => r.json());
  return response.data.startBulkOperation.userErrors as { code: string; message: string; retryAt: string }[];
}

const operationCount = async (server: TestServer) =>
  Number(
    (await server.db.selectFrom("bulk_operations").select((eb) => eb.fn.countAll<string>().as("n"))
      .executeTakeFirstOrThrow()).n,
  );

Deno.test("waiting-operation cap: TOO_MANY_WAITING with a retry time, nothing written", async () => {
  await using server = await startTestServer({
    tickets: 3,
    env: { BULK_MAX_ACTIVE_PER_USER: "1", BULK_MAX_WAITING_PER_USER: "2" }, // WORKERS=0: the first stays RUNNING
  });
  const { agent, admin } = server.tenant;
  expect((await startOk(server, agent, INPUT)).status).toBe("RUNNING");
  expect((await startOk(server, agent, INPUT)).status).toBe("QUEUED");
  expect((await startOk(server, agent, { ...INPUT, scheduledAt: "2099-01-01T00:00:00Z" })).status).toBe(
    "SCHEDULED",
  );
  const refused = await startOp(server, agent, INPUT);
  expect(refused.bulkOperation).toBeNull();
  expect(refused.userErrors).toEqual([
    { code: "TOO_MANY_WAITING", field: null, message: expect.stringContaining("2 operations waiting") },
  ]);
  expect(await operationCount(server)).toBe(3);
  // Another user is not affected.
  expect((await startOk(server, admin, INPUT)).status).toBe("RUNNING");

  const [error] = await startUserErrors(server, agent.token);
  expect(error.code).toBe("TOO_MANY_WAITING");
  expect(new Date(error.retryAt).getTime()).toBeGreaterThan(Date.now());
});

Deno.test("start rate cap: RATE_LIMITED once a user created BULK_MAX_STARTS_PER_MINUTE in a minute", async () => {
  await using server = await startTestServer({ tickets: 3, env: { BULK_MAX_STARTS_PER_MINUTE: "3" } });
  const { agent, admin } = server.tenant;
  for (let i = 0; i < 3; i++) await startOk(server, agent, INPUT);
  const first = await server.db.selectFrom("bulk_operations").select("created_at").orderBy("created_at")
    .executeTakeFirstOrThrow();
  const [error] = await startUserErrors(server, agent.token);
  expect(error).toMatchObject({
    code: "RATE_LIMITED",
    field: null,
    message: expect.stringContaining("3 operations per minute"),
  });
  // One slot frees when the oldest start of the window is a minute old.
  expect(new Date(error.retryAt).getTime()).toBe(new Date(first.created_at).getTime() + 60_000);
  expect(await operationCount(server)).toBe(3);
  expect((await startOp(server, admin, INPUT)).userErrors).toEqual([]);
});

Deno.test("start rate cap: concurrent starts of one user create exactly the cap", async () => {
  await using server = await startTestServer({ tickets: 3, env: { BULK_MAX_STARTS_PER_MINUTE: "3" } });
  const { agent } = server.tenant;
  const payloads = await Promise.all(Array.from({ length: 4 }, () => startOp(server, agent, INPUT)));
  expect(payloads.filter((p) => p.bulkOperation !== null)).toHaveLength(3);
  expect(payloads.flatMap((p) => p.userErrors.map((e) => e.code))).toEqual(["RATE_LIMITED"]);
  expect(await operationCount(server)).toBe(3);
});

Deno.test("start rate cap: with more starts in the window than the cap, retryAt is when one fits again", async () => {
  await using server = await startTestServer({ tickets: 3, env: { BULK_MAX_STARTS_PER_MINUTE: "2" } });
  const { agent } = server.tenant;
  const made = await startOk(server, agent, INPUT);
  // Two older starts of the same minute (as when the cap was lowered): 3 in the window, cap 2. One fits again
  // when 2 have left it: a minute after the 2nd oldest (30 s before `made`), not after the oldest (40 s before).
  for (const seconds of [40, 30]) {
    await sql`INSERT INTO bulk_operations
        SELECT (jsonb_populate_record(NULL::bulk_operations, to_jsonb(o) || jsonb_build_object(
          'id', gen_random_uuid(), 'status', 'COMPLETED', 'created_at', o.created_at - make_interval(secs => ${seconds})))).*
        FROM bulk_operations o WHERE o.id = ${made.dbId}`.execute(server.db);
  }
  const { created_at } = await server.db.selectFrom("bulk_operations").select("created_at")
    .where("id", "=", made.dbId).executeTakeFirstOrThrow();
  const [error] = await startUserErrors(server, agent.token);
  expect(error.code).toBe("RATE_LIMITED");
  expect(new Date(error.retryAt).getTime()).toBe(new Date(created_at).getTime() + 30_000);
});
