/**
 * Start-up as a new user meets it (issue 17). A clone inside a 0700 directory (root's home,
 * a `mktemp -d` dir): as root the embedded PostgreSQL runs as the `postgres` user, which
 * cannot enter it, so binaries and data are staged under /var/lib/bulk-ops; `deno task start`
 * starts, serves /ready, stops, starts again with its data, and `deno task test` passes there.
 * Each start-up failure (port taken, data directory unusable or of another version) ends with
 * its one sentence as the last line, exit code 1, and no stack trace, for every entry point.
 */
import { expect } from "expect";
import { describeStartupFailure, STARTUP_FAILURE_EXIT_CODE } from "../src/startup-error.ts";
import { serverLayout, stagedDataDir, STAGING_ROOT, startServer } from "../src/db/postgres-server.ts";
import { type TempDir, tempDir } from "./helpers/temp_dir.ts";
import { waitUntil, within } from "./helpers/wait.ts";
import {
  cloneProject,
  demoTicketCount,
  freePort,
  processesMentioning,
  REPO_ROOT,
  runTask,
  spawnTask,
  stopTask,
  waitForOutput,
} from "./helpers/task_process.ts";

const isRoot = Deno.uid() === 0;

/** The task ended with exactly `sentence` as its last line, exit code 1, and no stack trace. */
function expectFailure(result: { code: number; output: string }, sentence: string | RegExp): void {
  const lastLine = result.output.trimEnd().split("\n").at(-1)!;
  expect({ code: result.code, lastLine }).toEqual({
    code: STARTUP_FAILURE_EXIT_CODE,
    lastLine: typeof sentence === "string" ? `Error: ${sentence}` : expect.stringMatching(sentence),
  });
  expect(result.output).not.toContain("Uncaught");
  expect(result.output).not.toMatch(/^\s+at .*:\d+:\d+\)?$/m);
}

Deno.test("a clone inside a 0700 directory: start, /ready, SIGTERM, start again with its data; deno task test passes", async (t) => {
  await using clone = await cloneProject();
  expect((await Deno.stat(clone.parent)).mode! & 0o777).toBe(0o700);
  const pgPort = freePort();
  const env = { PORT: String(freePort()), EMBEDDED_PG_PORT: String(pgPort) };
  // As root the first start stages its data under STAGING_ROOT: removed when the test ends.
  await using staged = new AsyncDisposableStack();
  let dataDir = "";
  await t.step("first start: the data lives where the postgres user can reach it", async () => {
    await using first = spawnTask(clone.dir, ["start"], env);
    await waitForOutput(first, /Paste into GraphiQL's headers/);
    dataDir = first.output().match(/embedded PostgreSQL 18 up on port \d+ \(data: (\S+)\)/)![1];
    if (dataDir.startsWith(`${STAGING_ROOT}/`)) staged.defer(() => Deno.remove(dataDir, { recursive: true }));
    if (isRoot) expect(dataDir.startsWith(`${STAGING_ROOT}/`)).toBe(true);
    else expect(dataDir).toBe(`${await Deno.realPath(clone.dir)}/.data`);
    expect(first.output()).toContain("created the demo tenant with 3 users and 1,000 tickets");
    const ready = await fetch(`http://127.0.0.1:${env.PORT}/ready`);
    expect([ready.status, await ready.json()]).toEqual([200, {
      status: "ready",
      workers: navigator.hardwareConcurrency,
    }]);
    expect(await stopTask(first)).toBe(0);
    expect(await processesMentioning(dataDir)).toBe("");
  });

  await t.step("second start finds its data: nothing applied, no re-seed, ready", async () => {
    await using second = spawnTask(clone.dir, ["start"], env);
    await waitForOutput(second, /Paste into GraphiQL's headers/);
    expect(second.output()).toContain(`(data: ${dataDir})`);
    expect(second.output()).toContain("migrations up to date");
    expect(second.output()).not.toContain("created the demo tenant");
    expect(await demoTicketCount(`${clone.dir}/.data`, pgPort)).toBe(1000);
    const ready = await fetch(`http://127.0.0.1:${env.PORT}/ready`);
    expect([ready.status, await ready.json()]).toEqual([200, {
      status: "ready",
      workers: navigator.hardwareConcurrency,
    }]);
    expect(await stopTask(second)).toBe(0);
    expect(await processesMentioning(dataDir)).toBe("");
  });

  await t.step({
    name: "as root, once the postgres user can reach the clone, the data staged for it is still used",
    ignore: !isRoot, // without root nothing is staged
    fn: async () => {
      // Opened up, DATA_DIR's parent is reachable: a fresh in-place initdb would abandon the data.
      await Deno.chmod(clone.parent, 0o755);
      await Deno.chmod(clone.dir, 0o755);
      try {
        await using third = spawnTask(clone.dir, ["start"], env);
        await waitForOutput(third, /Paste into GraphiQL's headers/);
        expect(third.output()).toContain(`(data: ${dataDir})`);
        expect(third.output()).not.toContain("created the demo tenant");
        expect(await stopTask(third)).toBe(0);
        expect(await Deno.lstat(`${clone.dir}/.data/PG_VERSION`).catch((error) => error))
          .toBeInstanceOf(Deno.errors.NotFound);
      } finally {
        await Deno.chmod(clone.parent, 0o700);
      }
    },
  });

  await t.step("deno task test runs from the clone, removes its database and what a killed run left", async () => {
    const before = isRoot ? [...Deno.readDirSync(STAGING_ROOT)].map((entry) => entry.name) : [];
    // A run killed outright (SIGKILL) leaves .test-data/pg-<its pid> and, as root, its staged data.
    const gone = new Deno.Command("true").spawn();
    await gone.status;
    const leftover = `${clone.dir}/.test-data/pg-${gone.pid}`;
    await Deno.mkdir(leftover, { recursive: true });
    const stagedLeftover = isRoot ? await stagedDataDir(await Deno.realPath(leftover)) : leftover;
    await Deno.mkdir(stagedLeftover, { recursive: true });
    await Deno.writeTextFile(`${stagedLeftover}/PG_VERSION`, "18\n");
    const result = await runTask(clone.dir, ["test", "tests/config_test.ts"], {});
    expect({ code: result.code, summary: result.output.match(/^ok \| \d+ passed.*$/m)?.[0] }).toEqual({
      code: 0,
      summary: expect.stringContaining("0 failed"),
    });
    expect(await Promise.all([leftover, stagedLeftover].map((path) => Deno.lstat(path).then(() => path, () => null))))
      .toEqual([null, null]);
    if (isRoot) expect([...Deno.readDirSync(STAGING_ROOT)].map((entry) => entry.name).sort()).toEqual(before.sort());
  });

  await t.step(
    "deno task test from the clone fails with a sentence when its data directory is unusable",
    async () => {
      await Deno.remove(`${clone.dir}/.test-data`, { recursive: true }).catch(() => {}); // the step above's
      await Deno.writeTextFile(`${clone.dir}/.test-data`, "a file where the test data directory goes");
      const result = await runTask(clone.dir, ["test", "tests/config_test.ts"], {});
      expectFailure(result, /^Error: \.test-data\/pg-\d+ cannot be the PostgreSQL data directory \(.*\): make it/);
    },
  );
});

Deno.test("a taken EMBEDDED_PG_PORT: start, worker, token and seed each say so and exit 1", async () => {
  // Another program holds the port: it accepts connections and never speaks PostgreSQL.
  using holder = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const pgPort = (holder.addr as Deno.NetAddr).port;
  await using dataDirTemp = await tempDir("bulk-startup-test-");
  const dataDir = dataDirTemp.path;
  const env = { DATA_DIR: dataDir, PORT: String(freePort()), EMBEDDED_PG_PORT: String(pgPort) };
  for (
    const args of [["start"], ["worker"], ["token", "--", "--user", "admin@demo.test"], [
      "seed",
      "--",
      "--tickets",
      "1",
    ]]
  ) {
    const result = await runTask(REPO_ROOT, args, env);
    expectFailure(
      result,
      `EMBEDDED_PG_PORT ${pgPort} is taken by another program: stop it, or set EMBEDDED_PG_PORT to a free port.`,
    );
  }
  expect(await processesMentioning(dataDir)).toBe("");
});

Deno.test("a taken PORT: start says so, exits 1 and stops its database", async () => {
  using holder = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (holder.addr as Deno.NetAddr).port;
  await using dataDirTemp = await tempDir("bulk-startup-test-");
  const dataDir = dataDirTemp.path;
  const result = await runTask(REPO_ROOT, ["start"], {
    DATA_DIR: dataDir,
    PORT: String(port),
    EMBEDDED_PG_PORT: String(freePort()),
  });
  expectFailure(result, `PORT ${port} is taken by another program: stop it, or set PORT to a free port.`);
  expect(await processesMentioning(dataDir)).toBe("");
});

Deno.test("a second start on a DATA_DIR in use by another EMBEDDED_PG_PORT names the running server", async () => {
  await using dataDirTemp = await tempDir("bulk-startup-test-");
  const dataDir = dataDirTemp.path;
  await using first = spawnTask(REPO_ROOT, ["start"], {
    DATA_DIR: dataDir,
    PORT: String(freePort()),
    EMBEDDED_PG_PORT: String(freePort()),
  });
  await waitForOutput(first, /Paste into GraphiQL's headers/);
  const second = await runTask(REPO_ROOT, ["start"], {
    DATA_DIR: dataDir,
    PORT: String(freePort()),
    EMBEDDED_PG_PORT: String(freePort()),
  });
  expectFailure(
    second,
    new RegExp(
      `^Error: Another PostgreSQL \\(pid \\d+\\) is already running on ${dataDir}: stop it, or set EMBEDDED_PG_PORT to its port\\.$`,
    ),
  );
  expect(await stopTask(first)).toBe(0);
});

Deno.test("a DATA_DIR of another PostgreSQL version, or one that is a file: one sentence, exit 1", async () => {
  await using parentTemp = await tempDir("bulk-startup-test-");
  const parent = parentTemp.path;
  await using oldTemp = await tempDir("bulk-startup-test-pg16-");
  const old = oldTemp.path;
  const env = { PORT: String(freePort()), EMBEDDED_PG_PORT: String(freePort()) };
  await Deno.writeTextFile(`${old}/PG_VERSION`, "16\n");
  expectFailure(
    await runTask(REPO_ROOT, ["start"], { ...env, DATA_DIR: old }),
    `The data directory ${old} holds a PostgreSQL 16 database but the embedded server is PostgreSQL 18: ` +
      "set DATA_DIR to another directory, or upgrade that data with PostgreSQL 18's pg_upgrade.",
  );
  expect(await Deno.readTextFile(`${old}/PG_VERSION`)).toBe("16\n"); // left as it was

  const file = `${parent}/a-file`;
  await Deno.writeTextFile(file, "not a directory");
  for (const args of [["start"], ["token", "--", "--user", "admin@demo.test"]]) {
    expectFailure(
      await runTask(REPO_ROOT, args, { ...env, DATA_DIR: file }),
      new RegExp(
        `^Error: ${file} cannot be the PostgreSQL data directory \\(.*\\): make it a directory you can write`,
      ),
    );
  }
});

Deno.test("a full disk is named as such, wherever the ENOSPC comes from", () => {
  // Deno's own wording (os error 28), as a failed write reports it; a real full disk cannot be
  // made on a shared machine (and /dev/full needs --allow-all).
  const enospc = new Error("No space left on device (os error 28): write '.data/base/16384/1259'");
  const wrapped = new Error("applying migration 0002 failed", { cause: enospc });
  expect(describeStartupFailure(wrapped)).toEqual({
    sentence: "The disk is full (no space left on device): free some space and start again.",
    details: expect.stringContaining("caused by: Error: No space left on device (os error 28)"),
  });
});

Deno.test("a DATA_DIR with other files and no database is refused before anything in it changes", async () => {
  await using dataDirTemp = await tempDir("bulk-startup-test-notempty-");
  const dataDir = dataDirTemp.path;
  await Deno.chmod(dataDir, 0o755);
  await Deno.writeTextFile(`${dataDir}/notes.txt`, "someone's file");
  const before = await Deno.stat(dataDir);
  const result = await runTask(REPO_ROOT, ["start"], {
    DATA_DIR: dataDir,
    PORT: String(freePort()),
    EMBEDDED_PG_PORT: String(freePort()),
  });
  expectFailure(
    result,
    `DATA_DIR ${dataDir} is not empty and holds no PostgreSQL database: set DATA_DIR to an empty or missing directory.`,
  );
  const after = await Deno.stat(dataDir);
  // As root, initdb ran as 'postgres' after a chown and a chmod 0700 of DATA_DIR: both must not happen.
  expect({ uid: after.uid, gid: after.gid, mode: after.mode! & 0o7777 }).toEqual({
    uid: before.uid,
    gid: before.gid,
    mode: 0o755,
  });
  expect([...Deno.readDirSync(dataDir)].map((entry) => entry.name)).toEqual(["notes.txt"]);
});

Deno.test({
  name: "as root, a DATA_DIR that is a symbolic link is refused, its target left as it was",
  ignore: !isRoot, // only root hands DATA_DIR to another user
  async fn() {
    await using parentTemp = await tempDir("bulk-startup-test-link-");
    const parent = parentTemp.path;
    await Deno.chmod(parent, 0o755); // reachable by postgres: DATA_DIR would be used in place
    const target = `${parent}/target`;
    await Deno.mkdir(target, { mode: 0o755 });
    await Deno.chmod(target, 0o755);
    await Deno.symlink(target, `${parent}/link`);
    const result = await runTask(REPO_ROOT, ["start"], {
      DATA_DIR: `${parent}/link`,
      PORT: String(freePort()),
      EMBEDDED_PG_PORT: String(freePort()),
    });
    expectFailure(
      result,
      `DATA_DIR ${parent}/link is a symbolic link (to ${target}): as root a new data directory is handed to the ` +
        `'postgres' user, so name the directory itself: set DATA_DIR to ${target}.`,
    );
    const after = await Deno.stat(target);
    expect({ uid: after.uid, mode: after.mode! & 0o7777, entries: [...Deno.readDirSync(target)] })
      .toEqual({ uid: 0, mode: 0o755, entries: [] });
  },
});

Deno.test("an EMBEDDED_PG_PORT postgres may not bind is not called taken: postgres's reason is quoted", async () => {
  // Below 1024 only a privileged user may listen, and postgres never is one (as root it runs as 'postgres').
  await using dataDirTemp = await tempDir("bulk-startup-test-lowport-");
  const dataDir = dataDirTemp.path;
  const result = await runTask(REPO_ROOT, ["start"], {
    DATA_DIR: dataDir,
    PORT: String(freePort()),
    EMBEDDED_PG_PORT: "1023",
  });
  expectFailure(
    result,
    "The embedded PostgreSQL cannot listen on 127.0.0.1:1023 (Permission denied): " +
      "set EMBEDDED_PG_PORT to a free port of 1024 or more.",
  );
  expect(await processesMentioning(dataDir)).toBe("");
});

Deno.test("SIGTERM during start-up stops the embedded PostgreSQL it started, exit code 0", async () => {
  await using dataDirTemp = await postgresDataDir("bulk-startup-test-sigterm-");
  const dataDir = dataDirTemp.path;
  await using task = spawnTask(REPO_ROOT, ["start"], {
    DATA_DIR: dataDir,
    PORT: String(freePort()),
    EMBEDDED_PG_PORT: String(freePort()),
  });
  // Postgres is up; migrations, the demo seed and the HTTP server are still to come.
  await waitForOutput(task, /embedded PostgreSQL 18 up on port/);
  const code = await stopTask(task);
  expect(task.output()).not.toContain("GraphiQL:"); // the signal did arrive during start-up
  expect({ code, last: task.output().trimEnd().split("\n").at(-1) }).toEqual({
    code: 0,
    last: expect.stringContaining("SIGTERM during start-up: stopped"),
  });
  expect(await processesMentioning(dataDir)).toBe("");
});

Deno.test("a postgres that is not ready within the deadline is stopped, with a sentence", async () => {
  await using dataDirTemp = await postgresDataDir("bulk-startup-test-deadline-");
  const dataDir = dataDirTemp.path;
  const layout = await serverLayout(dataDir);
  const started = startServer(layout, {
    port: freePort(),
    user: "postgres",
    password: "postgres",
    onLog: () => {},
    readyDeadlineMs: 1, // initdb has run by then; no postgres accepts connections 1 ms after its spawn
  });
  await expect(within(started, 60_000, "startServer settles")).rejects.toThrow(
    new RegExp(
      `^The embedded PostgreSQL did not accept connections within 0\\.001 s \\(port \\d+, data ${dataDir}\\)`,
    ),
  );
  expect(await processesMentioning(layout.dataDir)).toBe("");
});

/**
 * A temporary DATA_DIR that `await using` removes, first stopping a postgres a failed test left
 * running on it (a passing test has stopped it already).
 */
async function postgresDataDir(prefix: string): Promise<TempDir> {
  const dir = await tempDir(prefix);
  return {
    path: dir.path,
    [Symbol.asyncDispose]: async () => {
      await killPostgresOf(dir.path);
      await dir[Symbol.asyncDispose]();
    },
  };
}

/** Stops a postgres a failed test left running on `dataDir` (by its pid in postmaster.pid). */
async function killPostgresOf(dataDir: string): Promise<void> {
  const pid = Number((await Deno.readTextFile(`${dataDir}/postmaster.pid`).catch(() => "")).split("\n")[0]);
  if (!pid) return;
  try {
    Deno.kill(pid, "SIGINT");
  } catch { /* gone */ }
  await waitUntil(async () => (await processesMentioning(dataDir)) === "", {
    timeoutMs: 30_000,
    what: `the postgres of ${dataDir} exits`,
  });
}

Deno.test("a running task that is killed (a test's deadline, dispose) takes what it started with it", async () => {
  await using dataDirTemp = await postgresDataDir("bulk-startup-test-kill-");
  const dataDir = dataDirTemp.path;
  const task = spawnTask(REPO_ROOT, ["start"], {
    DATA_DIR: dataDir,
    PORT: String(freePort()),
    EMBEDDED_PG_PORT: String(freePort()),
  });
  await waitForOutput(task, /Paste into GraphiQL's headers/);
  expect(await processesMentioning(dataDir)).toContain("postgres");
  // `deno task` -> `deno run src/main.ts` -> postgres: SIGKILL to the first alone left the others
  // holding the output pipes, and this wait never ended.
  await within(Promise.resolve(task[Symbol.asyncDispose]()), 30_000, "the killed task's output ends");
  // Killed processes vanish once reaped (by init, for the orphans): that may take a moment.
  const left = async () => {
    const group = await new Deno.Command("pgrep", { args: ["-g", String(task.pid)], stdout: "piped" }).output();
    return { group: new TextDecoder().decode(group.stdout), postgres: await processesMentioning(dataDir) };
  };
  await waitUntil(async () => JSON.stringify(await left()) === JSON.stringify({ group: "", postgres: "" }), {
    timeoutMs: 30_000,
    what: "no process of the killed task's group and no postgres of its DATA_DIR is left",
    describe: left,
  });
});
