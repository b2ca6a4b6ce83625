/**
 * `deno task test`: ONE embedded PostgreSQL for the whole run, a migrated template database,
 * then `deno test` (each test server clones its own database from the template, see
 * helpers/database.ts). Arguments are passed to `deno test` (e.g. a file or --filter).
 *
 * SIGINT/SIGTERM (listened for from the start, stop-signals.ts) reach `deno test` too, then
 * the database is stopped and removed; exit code 130/143. What a run killed outright
 * (SIGKILL) left in .test-data (and its staged copy, as root) is removed by the next run.
 */
import { startEmbedded } from "../src/db/embedded.ts";
import { migrate } from "../src/db/migrate.ts";
import { absolutePath, stagedDataDir } from "../src/db/postgres-server.ts";
import { reportStartupFailure } from "../src/startup-error.ts";
import { Interrupted, interruptedExitCode, listenForStopSignals } from "../src/stop-signals.ts";
import { TEMPLATE_DATABASE } from "./helpers/database.ts";
import { freePort } from "./helpers/ports.ts";

const TEST_DATA = ".test-data";

async function isRunning(pid: number): Promise<boolean> {
  return (await new Deno.Command("ps", { args: ["-p", String(pid)], stdout: "null", stderr: "null" }).output())
    .success;
}

/** The pid in a data directory's postmaster.pid, if there is one. */
async function postmasterPid(dataDir: string): Promise<number | undefined> {
  const text = await Deno.readTextFile(`${dataDir}/postmaster.pid`).catch(() => "");
  return text ? Number(text.split("\n")[0]) : undefined;
}

/** Data directories of earlier runs whose `deno task test` and postgres are both gone. */
async function removeLeftovers(): Promise<void> {
  const entries = await Array.fromAsync(Deno.readDir(TEST_DATA)).catch(() => []);
  for (const entry of entries) {
    const pid = /^pg-(\d+)$/.exec(entry.name)?.[1];
    if (!pid || Number(pid) === Deno.pid || await isRunning(Number(pid))) continue;
    const inPlace = absolutePath(`${TEST_DATA}/${entry.name}`);
    const places = [inPlace, await stagedDataDir(await Deno.realPath(inPlace))];
    const postmasters = (await Promise.all(places.map(postmasterPid))).filter((p) => p !== undefined);
    // Its postgres still runs (orphaned by the SIGKILL): not to be deleted under it.
    if ((await Promise.all(postmasters.map(isRunning))).some(Boolean)) continue;
    for (const place of places) await Deno.remove(place, { recursive: true }).catch(() => {});
  }
}

const exitCodeOf = (error: unknown) =>
  error instanceof Interrupted ? interruptedExitCode(error) : reportStartupFailure("test", error);

using stop = listenForStopSignals();
await removeLeftovers();
const started = performance.now();
const server = await startEmbedded({
  dataDir: `${TEST_DATA}/pg-${Deno.pid}`,
  port: freePort(),
  ephemeral: true,
  signal: stop.signal,
}).catch((error) => Deno.exit(exitCodeOf(error)));
let code = 1;
try {
  await server.createDatabase(TEMPLATE_DATABASE);
  // As the service's role, like every start: the tables are its own, not the superuser's.
  await migrate(server.appDatabaseUrl(TEMPLATE_DATABASE));
  stop.signal.throwIfAborted();
  console.log(`test PostgreSQL ready in ${Math.round(performance.now() - started)} ms`);
  const args = Deno.args.length > 0 ? Deno.args : ["tests/"];
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "test",
      "--allow-net",
      "--allow-env",
      "--allow-read",
      "--allow-write",
      "--allow-run",
      "--allow-sys",
      ...args,
    ],
    // The superuser for administration (CREATE DATABASE, pg_terminate_backend of any session);
    // test servers connect as the service's non-superuser role (helpers/database.ts).
    env: { TEST_PG_URL: server.url, TEST_APP_PG_URL: server.appDatabaseUrl("postgres") },
    stdin: "null",
  }).spawn();
  // `kill <pid>` reaches only us; the tests must stop (and release what they hold) before the database does.
  stop.signal.addEventListener("abort", () => {
    const reason = stop.signal.reason;
    try {
      if (reason instanceof Interrupted) child.kill(reason.signal);
    } catch { /* already exited */ }
  });
  code = (await child.status).code;
  stop.signal.throwIfAborted();
} catch (error) {
  code = exitCodeOf(error);
} finally {
  await server.stop();
}
Deno.exit(code);
