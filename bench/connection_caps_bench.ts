/**
 * Memory with the connection caps reached (docs/security.md): the API runs as its own process
 * (`src/main.ts`, WORKERS=0) on an embedded PostgreSQL; this script mints `--tokens` tokens and
 * fills each one's caps: WS_MAX_SOCKETS_PER_TOKEN sockets with WS_MAX_SUBSCRIPTIONS_PER_SOCKET
 * live subscriptions each, and SSE_MAX_STREAMS_PER_TOKEN SSE streams, then one socket and one
 * stream over the cap (refused). Prints the server's RSS before and after (ps).
 *
 *   deno run --allow-net --allow-env --allow-read --allow-write --allow-run --allow-sys \
 *     bench/connection_caps_bench.ts [--tokens 4]
 */
import { parseArgs } from "node:util";
import { createClient } from "graphql-ws";
import { mintToken } from "../src/auth/tokens.ts";
import { loadConfig } from "../src/config.ts";
import { createDb } from "../src/db/database.ts";
import { startEmbedded } from "../src/db/embedded.ts";
import { migrate } from "../src/db/migrate.ts";
import { freePort } from "../tests/helpers/ports.ts";

const { values } = parseArgs({
  args: Deno.args.filter((arg) => arg !== "--"),
  options: { tokens: { type: "string", default: "4" } },
});
const TOKENS = Number(values.tokens);
const caps = loadConfig({});
const FEED = "subscription { bulkOperationsChanged { id } }";

/** The process's resident set in MB (`ps`: Deno reads /proc/<pid> only with --allow-all). */
async function rssMb(pid: number): Promise<number> {
  const output = await new Deno.Command("ps", { args: ["-o", "rss=", "-p", String(pid)], stdout: "piped" }).output();
  return Number(new TextDecoder().decode(output.stdout).trim()) / 1024;
}

const embedded = await startEmbedded({
  dataDir: `.test-data/caps-bench-${Deno.pid}`,
  port: freePort(),
  ephemeral: true,
});
const url = embedded.databaseUrl("caps_bench");
await embedded.createDatabase("caps_bench");
await migrate(url);
const db = createDb(url, { poolSize: 2 });
const port = freePort();
const server = new Deno.Command(Deno.execPath(), {
  args: [
    "run",
    "--allow-net",
    "--allow-env",
    "--allow-read",
    "--allow-write",
    "--allow-run",
    "--allow-sys",
    "src/main.ts",
  ],
  env: { DATABASE_URL: url, PORT: String(port), WORKERS: "0", SEED_DEMO: "0", LOG_LEVEL: "warn" },
  stdout: "piped",
  stderr: "inherit",
}).spawn();
const closers: (() => void | Promise<void>)[] = [];
try {
  // Wait for the API to answer.
  const deadline = Date.now() + 60_000;
  while (!(await fetch(`http://127.0.0.1:${port}/health`).then((r) => r.ok, () => false))) {
    if (Date.now() > deadline) throw new Error("the API did not start within 60 s");
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  const tenant = await db.insertInto("tenants").values({ name: "caps bench" }).returning("id")
    .executeTakeFirstOrThrow();
  const tokens: string[] = [];
  for (let i = 0; i < TOKENS; i++) {
    const user = await db.insertInto("users").values({
      tenant_id: tenant.id,
      email: `caps-${i}-${Date.now()}@bench.test`,
      name: `Caps ${i}`,
      role: "VIEWER",
    }).returning("id").executeTakeFirstOrThrow();
    tokens.push(await mintToken(db, user.id, "caps bench"));
  }
  await new Promise((resolve) => setTimeout(resolve, 1000));
  const before = await rssMb(server.pid);
  const started = performance.now();
  let subscriptions = 0;
  let streams = 0;
  for (const token of tokens) {
    for (let s = 0; s < caps.wsMaxSocketsPerToken; s++) {
      const client = createClient({
        url: `ws://127.0.0.1:${port}/graphql`,
        lazy: false,
        retryAttempts: 0,
        connectionParams: { authorization: `Bearer ${token}` },
      });
      closers.push(() => client.dispose());
      for (let i = 0; i < caps.wsMaxSubscriptionsPerSocket; i++) {
        client.subscribe({ query: FEED }, { next: () => {}, error: () => {}, complete: () => {} });
        subscriptions++;
      }
    }
    for (let s = 0; s < caps.sseMaxStreamsPerToken; s++) {
      const abort = new AbortController();
      closers.push(() => abort.abort());
      const response = await fetch(`http://127.0.0.1:${port}/graphql`, {
        method: "POST",
        headers: { "content-type": "application/json", accept: "text/event-stream", authorization: `Bearer ${token}` },
        body: JSON.stringify({ query: FEED }),
        signal: abort.signal,
      });
      if (response.status !== 200) throw new Error(`SSE stream refused below the cap: ${response.status}`);
      streams++;
    }
    const over = await fetch(`http://127.0.0.1:${port}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "text/event-stream", authorization: `Bearer ${token}` },
      body: JSON.stringify({ query: FEED }),
    });
    await over.body?.cancel();
    if (over.status !== 429) throw new Error(`the stream over the cap was not refused: ${over.status}`);
  }
  // Let every subscribe reach the server.
  await new Promise((resolve) => setTimeout(resolve, 3000));
  const after = await rssMb(server.pid);
  const sockets = TOKENS * caps.wsMaxSocketsPerToken;
  console.log(
    `${TOKENS} tokens at their caps: ${sockets} sockets, ${subscriptions} subscriptions, ${streams} SSE streams ` +
      `opened in ${Math.round(performance.now() - started)} ms`,
  );
  console.log(
    `API RSS ${before.toFixed(0)} MB -> ${after.toFixed(0)} MB (+${(after - before).toFixed(1)} MB, ` +
      `${((after - before) / TOKENS).toFixed(1)} MB per token at its caps)`,
  );
} finally {
  for (const close of closers) await close();
  server.kill("SIGTERM");
  await server.status;
  await server.stdout.cancel();
  await db.destroy();
  await embedded.stop();
}
