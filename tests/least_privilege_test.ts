/**
 * A data directory from before least privilege (issue 15): superuser password `postgres`,
 * `password` auth, every table migrated as (so owned by) the superuser. `deno task start` on
 * it gives the superuser a random password, stores both passwords, hands the database to
 * bulk_ops_app and connects as that role; the data is kept.
 */
import { expect } from "expect";
import { APP_ROLE, credentialsPath, embeddedDatabaseUrl, SUPERUSER } from "../src/db/embedded.ts";
import { migrate } from "../src/db/migrate.ts";
import { serverLayout, startServer } from "../src/db/postgres-server.ts";
import {
  acceptsLegacySuperuserPassword,
  demoTicketCount,
  freePort,
  REPO_ROOT,
  runTask,
  serviceSessionRoles,
  spawnTask,
  stopTask,
  waitForOutput,
} from "./helpers/task_process.ts";
import { connectClient } from "./helpers/pg_client.ts";
import { tempDir } from "./helpers/temp_dir.ts";

/** What the superuser owns in `bulk_ops` outside the catalogs and extensions. */
async function ownedBySuperuser(url: string): Promise<string[]> {
  await using client = await connectClient(url);
  const rows = (await client.query<{ name: string }>(
    `SELECT c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relowner = 'postgres'::regrole AND n.nspname NOT LIKE 'pg\\_%' AND n.nspname <> 'information_schema'
          AND c.relkind IN ('r', 'S', 'v')
       UNION ALL SELECT nspname FROM pg_namespace
        WHERE nspowner = 'postgres'::regrole AND nspname NOT LIKE 'pg\\_%' AND nspname <> 'information_schema'`,
  )).rows;
  return rows.map((row) => row.name).sort();
}

Deno.test("a pre-issue-15 data directory: random superuser password, tables handed to bulk_ops_app, data kept", async () => {
  await using temp = await tempDir("bulk-least-privilege-test-");
  const dataDir = temp.path;
  const pgPort = freePort();
  // The old layout: initdb with the fixed password, `password` auth, migrated as the superuser.
  const layout = await serverLayout(dataDir);
  const old = await startServer(layout, { port: pgPort, user: SUPERUSER, password: "postgres", onLog: () => {} });
  const hba = `${layout.dataDir}/pg_hba.conf`;
  await Deno.writeTextFile(hba, (await Deno.readTextFile(hba)).replaceAll("scram-sha-256", "password"));
  const legacyUrl = (name: string) => embeddedDatabaseUrl(pgPort, name, SUPERUSER, "postgres");
  {
    await using admin = await connectClient(legacyUrl("postgres"));
    await admin.query("CREATE DATABASE bulk_ops");
  }
  await migrate(legacyUrl("bulk_ops"));
  expect((await ownedBySuperuser(legacyUrl("bulk_ops"))).length).toBeGreaterThan(10);
  await old.stop();

  const env = { DATA_DIR: dataDir, PORT: String(freePort()), EMBEDDED_PG_PORT: String(pgPort) };
  await using started = spawnTask(REPO_ROOT, ["start"], env);
  await waitForOutput(started, /Paste into GraphiQL's headers/);
  expect(started.output()).toContain("migrations up to date");
  expect(await acceptsLegacySuperuserPassword(pgPort)).toBe(false);
  expect(((await Deno.stat(credentialsPath(dataDir))).mode! & 0o777).toString(8)).toBe("600");
  expect(await serviceSessionRoles(dataDir, pgPort)).toEqual([{ usename: APP_ROLE, rolsuper: false }]);
  expect(await demoTicketCount(dataDir, pgPort)).toBe(1000); // seeded as bulk_ops_app into the handed-over tables
  const password = JSON.parse(await Deno.readTextFile(credentialsPath(dataDir))).superuserPassword;
  expect(await ownedBySuperuser(embeddedDatabaseUrl(pgPort, "bulk_ops", SUPERUSER, password))).toEqual([]);
  expect(await stopTask(started)).toBe(0);
});

Deno.test("a DATA_DIR outside what the tasks may write is refused with a sentence naming deno.json", async () => {
  const outside = `/srv/bulk-ops-least-privilege-${crypto.randomUUID()}`; // not in --allow-write: never created
  for (const args of [["start"], ["token", "--", "--user", "admin@demo.test"]]) {
    const result = await runTask(REPO_ROOT, args, {
      DATA_DIR: outside,
      PORT: String(freePort()),
      EMBEDDED_PG_PORT: String(freePort()),
    });
    expect({ code: result.code, lastLine: result.output.trimEnd().split("\n").at(-1) }).toEqual({
      code: 1,
      lastLine: `Error: DATA_DIR ${outside} is outside the directories this task may use: add it to the task's ` +
        "--allow-read and --allow-write in deno.json, or choose a DATA_DIR under .data or /tmp.",
    });
    expect(result.output).not.toContain("Uncaught");
  }
  expect(await Deno.stat(outside).then(() => true, () => false)).toBe(false);
});
