/**
 * `deno task start` as a user runs it: a subprocess with its own data directory and ports.
 * First start: initdb, migrations, demo seed, GraphiQL URL and three working tokens,
 * /health and /ready. SIGTERM: exit code 0 and no postgres left for that data directory.
 * Second start on the same directory: no migration applied, no re-seed, works. Meanwhile
 * `deno task token` mints against that same database (running or not), and a bad setting
 * stops start-up with exit code 2 and a message naming the variable.
 */
import { expect } from "expect";
import { gql } from "./helpers/graphql.ts";
import {
  acceptsLegacySuperuserPassword,
  demoTicketCount,
  freePort,
  processesMentioning,
  REPO_ROOT,
  type RunningTask,
  runTask as runTaskIn,
  serviceSessionRoles,
  spawnTask,
  stopTask,
  waitForOutput,
} from "./helpers/task_process.ts";
import { tempDir } from "./helpers/temp_dir.ts";
import { APP_ROLE, credentialsPath } from "../src/db/embedded.ts";

const runTask = (args: string[], env: Record<string, string>) => runTaskIn(REPO_ROOT, args, env);

interface Started {
  running: RunningTask;
  graphql: string;
  base: string;
  tokens: Record<"ADMIN" | "AGENT" | "VIEWER", string>;
}

async function start(env: Record<string, string>): Promise<Started> {
  const running = spawnTask(REPO_ROOT, ["start"], env);
  await waitForOutput(running, /Paste into GraphiQL's headers/);
  const graphql = running.output().match(/GraphiQL:\s+(http:\/\/\S+\/graphql)/)![1];
  const tokens = Object.fromEntries(
    [...running.output().matchAll(/^\s+(ADMIN|AGENT|VIEWER)\s+\S+@demo\.test\s+(bo_\S+)\s*$/gm)].map((
      m,
    ) => [m[1], m[2]]),
  ) as Started["tokens"];
  return { running, graphql, base: graphql.replace(/\/graphql$/, ""), tokens };
}

/** SIGTERM, then the exit code; the process must be gone within 15 s (SIGKILL after 30 s). */
async function stop(started: Started): Promise<number> {
  const sent = performance.now();
  const code = await stopTask(started.running);
  const seconds = (performance.now() - sent) / 1000;
  console.log(`SIGTERM -> exit ${code} in ${seconds.toFixed(1)} s`);
  expect(seconds).toBeLessThan(15);
  return code;
}

const whoAmI = async (graphql: string, token: string) => {
  const result = await gql(graphql, token, "{ viewer { user { email role } } }");
  return result.status === 200
    ? result.data.viewer.user
    : { status: result.status, code: result.errors?.[0].extensions?.code };
};

Deno.test("deno task start: first start, SIGTERM, second start on the same data directory, deno task token", async (t) => {
  await using data = await tempDir("bulk-start-test-");
  const dataDir = data.path;
  const pgPort = freePort();
  const env = { DATA_DIR: dataDir, PORT: String(freePort()), EMBEDDED_PG_PORT: String(pgPort) };
  const running: Started[] = [];
  // Whatever a failed step left running gets a SIGTERM (its embedded postgres stops with it), before
  // the data directory goes.
  await using leftRunning = new AsyncDisposableStack();
  leftRunning.defer(async () => {
    for (const started of running) await stop(started).catch(() => {});
  });
  let first!: Started;
  let cliToken = "";

  await t.step("first start: migrations, seed, GraphiQL URL and three tokens", async () => {
    first = await start(env);
    running.push(first);
    const out = first.running.output();
    expect(first.graphql).toBe(`http://127.0.0.1:${env.PORT}/graphql`);
    expect(out).toMatch(/applied migrations: 0001_/);
    expect(out).toContain("created the demo tenant with 3 users and 1,000 tickets");
    expect(Object.keys(first.tokens).sort()).toEqual(["ADMIN", "AGENT", "VIEWER"]);
    expect(await processesMentioning(dataDir)).toContain("postgres");
  });

  await t.step("/health, /ready, GraphiQL and the printed tokens work", async () => {
    const health = await fetch(`${first.base}/health`);
    expect([health.status, await health.json()]).toEqual([200, { status: "ok" }]);
    const ready = await fetch(`${first.base}/ready`);
    // WORKERS defaults to the CPU count: that many worker threads registered and alive.
    expect([ready.status, await ready.json()]).toEqual([
      200,
      { status: "ready", workers: navigator.hardwareConcurrency },
    ]);
    const graphiql = await fetch(first.graphql, { headers: { accept: "text/html" } });
    expect(graphiql.status).toBe(200);
    expect(await graphiql.text()).toContain("<html");
    // Bundled on first request by `deno bundle`: the task's --allow-run must let that deno run.
    const dashboard = await fetch(`${first.base}/console/app.js`);
    expect({ status: dashboard.status, type: dashboard.headers.get("content-type") }).toEqual({
      status: 200,
      type: expect.stringContaining("javascript"),
    });
    await dashboard.body?.cancel();
    for (const role of ["ADMIN", "AGENT", "VIEWER"] as const) {
      expect(await whoAmI(first.graphql, first.tokens[role])).toEqual({
        email: `${role.toLowerCase()}@demo.test`,
        role,
      });
    }
    expect(await whoAmI(first.graphql, "bo_nope")).toEqual({ status: 401, code: "UNAUTHENTICATED" });
    const page = await gql(first.graphql, first.tokens.VIEWER, "{ tickets(first: 100) { edges { node { id } } } }");
    expect(page.data.tickets.edges.length).toBe(100);
    expect(await demoTicketCount(dataDir, pgPort)).toBe(1000);
  });

  await t.step(
    "least privilege: the service's sessions are bulk_ops_app, not a superuser; random passwords",
    async () => {
      const sessions = await serviceSessionRoles(dataDir, pgPort);
      // The API's pool, its LISTEN connection and the worker threads' connections are all open by now.
      expect(sessions).toEqual([{ usename: APP_ROLE, rolsuper: false }]);
      expect(await acceptsLegacySuperuserPassword(pgPort)).toBe(false);
      const credentials = (await Deno.stat(credentialsPath(dataDir))).mode! & 0o777;
      expect(credentials.toString(8)).toBe("600");
    },
  );

  await t.step("deno task token against the running service's database", async () => {
    const minted = await runTask(["token", "--", "--user", "agent@demo.test", "--label", "start test"], env);
    expect({ code: minted.code, stderr: minted.stderr }).toEqual({
      code: 0,
      stderr: expect.stringContaining("agent@demo.test"),
    });
    const lines = minted.stdout.trimEnd().split("\n");
    cliToken = lines.at(-1)!;
    expect(cliToken).toMatch(/^bo_[A-Za-z0-9_-]{43}$/);
    expect(await whoAmI(first.graphql, cliToken)).toEqual({ email: "agent@demo.test", role: "AGENT" });

    const unknown = await runTask(["token", "--", "--user", "nobody@demo.test"], env);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain("no user with email nobody@demo.test");
    expect(unknown.stdout).not.toMatch(/bo_/);
    const missing = await runTask(["token"], env);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("--user <email> is required");

    // --revoke: a second token, revoked, stops working at once.
    const second = (await runTask(["token", "--", "--user", "viewer@demo.test"], env)).stdout.trimEnd().split("\n")
      .at(-1)!;
    expect((await whoAmI(first.graphql, second)).role).toBe("VIEWER");
    expect((await runTask(["token", "--", "--revoke", second], env)).code).toBe(0);
    expect(await whoAmI(first.graphql, second)).toEqual({ status: 401, code: "UNAUTHENTICATED" });
    expect((await runTask(["token", "--", "--revoke", second], env)).code).toBe(1);

    // Another data directory on the same port is refused, not silently used.
    const elsewhere = await runTask(["token", "--", "--user", "agent@demo.test"], {
      ...env,
      DATA_DIR: `${dataDir}-other`,
    });
    expect(elsewhere.code).toBe(1);
    // Its server refuses that directory's (absent) password: each DATA_DIR has its own superuser password.
    expect(elsewhere.stderr).toContain(
      `EMBEDDED_PG_PORT ${pgPort} is taken by a PostgreSQL that refuses the password of ${dataDir}-other`,
    );
    expect(elsewhere.stdout).not.toMatch(/bo_/);
  });

  await t.step("SIGTERM: exit code 0, and no postgres left for the data directory", async () => {
    expect(await stop(first)).toBe(0);
    running.splice(running.indexOf(first), 1);
    expect(first.running.output()).toContain("stopped");
    expect(await processesMentioning(dataDir)).toBe("");
    expect((await fetch(`${first.base}/health`).catch((e) => e)) instanceof Error).toBe(true);
  });

  await t.step("second start on the same data directory: nothing applied, no re-seed, works", async () => {
    const second = await start(env);
    running.push(second);
    const out = second.running.output();
    expect(out).toContain("migrations up to date");
    expect(out).not.toContain("applied migrations");
    expect(out).not.toContain("created the demo tenant");
    expect(await demoTicketCount(dataDir, pgPort)).toBe(1000);
    expect(await whoAmI(second.graphql, second.tokens.ADMIN)).toEqual({ email: "admin@demo.test", role: "ADMIN" });
    // The CLI token survives a restart; the previous start's dev tokens were revoked.
    expect(await whoAmI(second.graphql, cliToken)).toEqual({ email: "agent@demo.test", role: "AGENT" });
    expect(await whoAmI(second.graphql, first.tokens.ADMIN)).toEqual({ status: 401, code: "UNAUTHENTICATED" });
    expect(await stop(second)).toBe(0);
    running.splice(running.indexOf(second), 1);
    expect(await processesMentioning(dataDir)).toBe("");
  });

  await t.step(
    "deno task token with the service stopped: starts and stops the embedded database itself",
    async () => {
      const minted = await runTask(["token", "--", "--user", "admin@demo.test"], env);
      expect(minted.code).toBe(0);
      expect(minted.stdout.trimEnd().split("\n").at(-1)).toMatch(/^bo_/);
      expect(await processesMentioning(dataDir)).toBe("");
    },
  );
});

Deno.test("deno task start: a bad setting stops start-up with exit code 2, naming the variable", async () => {
  for (const [variable, value] of [["PORT", "eighty"], ["WORKERS", "-3"], ["DATABASE_URL", "mysql://x/y"]]) {
    const result = await runTask(["start"], { [variable]: value });
    expect({ variable, code: result.code }).toEqual({ variable, code: 2 });
    expect(result.stderr).toContain(`Configuration error: Invalid ${variable}`);
  }
});
