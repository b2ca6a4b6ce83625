/**
 * `deno run -A bench/outbox_bench.ts [-- --calls N]`: what the transactional outbox adds to the
 * transaction that finishes an operation. For 0, 5 and 50 subscribed endpoints in the tenant
 * (plus the creator's e-mail), times enqueueOperationEvent for one operation inside N transactions
 * (the finishing chunk's one extra statement, BEGIN/COMMIT excluded) and prints p50 / p95 / max in ms.
 * Prints figures, asserts nothing. Uses DATABASE_URL when set, else an embedded PostgreSQL.
 */
import { parseArgs } from "node:util";
import { createDb } from "../src/db/database.ts";
import { startEmbedded } from "../src/db/embedded.ts";
import { migrate } from "../src/db/migrate.ts";
import { enqueueOperationEvent } from "../src/notify/outbox.ts";

const { values } = parseArgs({
  args: Deno.args.filter((arg) => arg !== "--"),
  options: { calls: { type: "string", default: "500" } },
});
const calls = Number(values.calls);
const external = Deno.env.get("DATABASE_URL");
const embedded = external ? null : await startEmbedded({
  dataDir: `.test-data/outbox-bench-${Deno.pid}`,
  port: 54000 + (Deno.pid % 1000),
  ephemeral: true,
});
const url = external ?? embedded!.databaseUrl("outbox_bench");
if (embedded) await embedded.createDatabase("outbox_bench");
const quantile = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
try {
  await migrate(url);
  const db = createDb(url, { poolSize: 2 });
  for (const endpoints of [0, 5, 50]) {
    const tenant = await db.insertInto("tenants").values({ name: `outbox ${endpoints}` }).returning("id")
      .executeTakeFirstOrThrow();
    const user = await db.insertInto("users").values({
      tenant_id: tenant.id,
      email: `outbox-${crypto.randomUUID()}@bench.test`,
      name: "Bench",
      role: "ADMIN",
    }).returning("id").executeTakeFirstOrThrow();
    for (let i = 0; i < endpoints; i++) {
      await db.insertInto("webhook_endpoints").values({
        tenant_id: tenant.id,
        created_by: user.id,
        url: `https://hooks.example.com/${i}`,
        events: ["bulk_operation.finished"],
        secret_ciphertext: new Uint8Array(40),
      }).execute();
    }
    const operations = await db.insertInto("bulk_operations").values(
      Array.from({ length: calls }, () => ({
        tenant_id: tenant.id,
        created_by: user.id,
        action_type: "SET_STATUS",
        target_summary: "{}",
        status: "COMPLETED" as const,
        total: 2000,
        options: JSON.stringify({ notify: { email: true } }),
      })),
    ).returning("id").execute();
    // Timed inside the transaction: the statement the finishing chunk adds, without BEGIN/COMMIT.
    const times: number[] = [];
    for (const { id } of operations) {
      await db.transaction().execute(async (tx) => {
        const t = performance.now();
        await enqueueOperationEvent(tx, id, "bulk_operation.finished");
        times.push(performance.now() - t);
      });
    }
    times.sort((a, b) => a - b);
    console.log(
      `${endpoints} endpoints + e-mail: ${calls} calls, enqueueOperationEvent p50 ${
        quantile(times, 0.5).toFixed(2)
      } ms, ` +
        `p95 ${quantile(times, 0.95).toFixed(2)} ms, max ${times.at(-1)!.toFixed(2)} ms (${
          endpoints + 1
        } deliveries each)`,
    );
  }
  await db.destroy();
} finally {
  await embedded?.stop();
}
