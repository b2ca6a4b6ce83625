/**
 * `deno task <name>` as a user runs it, from this checkout or from a fresh copy of it inside
 * a `mktemp -d` directory (mode 0700, as root's home is): the copy holds exactly what
 * `git clone` would (tracked and untracked-but-not-ignored files, so uncommitted work is
 * tested too), then `deno install --frozen` (0.9 s measured, the npm cache is in DENO_DIR).
 */
import pg from "pg";
import { APP_ROLE, embeddedDatabaseUrl, readCredentials, SUPERUSER } from "../../src/db/embedded.ts";
import { connectClient } from "./pg_client.ts";
import { runSubprocess, spawnSubprocess, type Subprocess } from "./subprocess.ts";
import { waitUntil, within } from "./wait.ts";
export { freePort } from "./ports.ts";

export const REPO_ROOT = new URL("../../", import.meta.url).pathname;

// Whatever the developer's shell has must not leak in (e.g. DATABASE_URL of another database).
const CLEAN_ENV = { DATABASE_URL: "", SEED_DEMO: "", LOG_LEVEL: "", HOST: "", DATA_DIR: "", NO_COLOR: "1" };

const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

async function succeed(command: string, args: string[], cwd: string): Promise<string> {
  const result = await new Deno.Command(command, { args, cwd, stdin: "null" }).output();
  if (!result.success) throw new Error(`${command} ${args.join(" ")} failed in ${cwd}:\n${decode(result.stderr)}`);
  return decode(result.stdout);
}

export interface Clone extends AsyncDisposable {
  /** The copy of the project, inside `parent`. */
  dir: string;
  /** The `mktemp -d` directory holding it (mode 0700). */
  parent: string;
}

/** A copy of this checkout in a fresh 0700 temporary directory, dependencies installed. */
export async function cloneProject(): Promise<Clone> {
  const parent = await Deno.makeTempDir({ prefix: "bulk-clone-" });
  const dir = `${parent}/bulk-ops`;
  try {
    const files = (await succeed("git", ["ls-files", "-z", "--cached", "--others", "--exclude-standard"], REPO_ROOT))
      .split("\0").filter(Boolean);
    for (const file of files) {
      const target = `${dir}/${file}`;
      await Deno.mkdir(target.replace(/\/[^/]+$/, ""), { recursive: true });
      // A tracked file deleted in the working tree is not part of the copy, as in the tree.
      await Deno.copyFile(`${REPO_ROOT}${file}`, target).catch((error) => {
        if (!(error instanceof Deno.errors.NotFound)) throw error;
      });
    }
    await succeed(Deno.execPath(), ["install", "--frozen"], dir);
  } catch (error) {
    await Deno.remove(parent, { recursive: true });
    throw error;
  }
  return { dir, parent, [Symbol.asyncDispose]: () => Deno.remove(parent, { recursive: true }) };
}

export type RunningTask = Subprocess;

/** Starts `deno task <args>` in `cwd` (in its own process group); disposing of it kills the group. */
export function spawnTask(cwd: string, args: string[], env: Record<string, string>): RunningTask {
  return spawnSubprocess(Deno.execPath(), ["task", ...args], { cwd, env: { ...CLEAN_ENV, ...env } });
}

/** Waits until the output matches `pattern`; fails naming it (and showing the output) otherwise. */
export async function waitForOutput(task: RunningTask, pattern: RegExp, timeoutMs = 90_000): Promise<RegExpMatchArray> {
  return await waitUntil(() => task.output().match(pattern) ?? (task.done() ? "exited" as const : null), {
    timeoutMs,
    what: `${pattern} appears in the output`,
    intervalMs: 50,
    describe: () => task.output(),
  }).then((found) => {
    if (found === "exited") throw new Error(`exited before ${pattern} appeared in the output:\n${task.output()}`);
    return found;
  });
}

/** SIGTERM, then the exit code; the whole group is SIGKILLed (and the test fails) if not gone within 30 s. */
export async function stopTask(task: RunningTask): Promise<number> {
  task.signal("SIGTERM");
  const status = await within(task.finished, 30_000, "exit after SIGTERM").catch(async (error) => {
    await task.kill();
    throw new Error(`${error.message}:\n${task.output()}`);
  });
  return status.code;
}

/** Runs `deno task <args>` in `cwd` to its end (deadline `timeoutMs`); its exit code and output. */
export function runTask(cwd: string, args: string[], env: Record<string, string>, timeoutMs = 120_000) {
  return runSubprocess(
    Deno.execPath(),
    ["task", ...args],
    { cwd, env: { ...CLEAN_ENV, ...env } },
    timeoutMs,
    `deno task ${args.join(" ")} exits`,
  );
}

/** The command lines of running processes that mention `text` (e.g. postgres -D <dir>). */
export async function processesMentioning(text: string): Promise<string> {
  const result = await new Deno.Command("pgrep", { args: ["-af", text], stdout: "piped", stderr: "null" }).output();
  return decode(result.stdout).trim();
}

/** Tickets in the embedded database `deno task start` uses (bulk_ops) on `pgPort`. */
async function withEmbedded<T>(
  dataDir: string,
  pgPort: number,
  as: "superuser" | "app",
  use: (client: pg.Client) => Promise<T>,
): Promise<T> {
  const credentials = await readCredentials(dataDir);
  if (!credentials) throw new Error(`no credentials file in ${dataDir}`);
  const [user, password] = as === "app"
    ? [APP_ROLE, credentials.appPassword]
    : [SUPERUSER, credentials.superuserPassword];
  await using client = await connectClient(embeddedDatabaseUrl(pgPort, "bulk_ops", user, password));
  return await use(client);
}

/** Demo tickets in the embedded database of `dataDir`, read as the service's role. */
export async function demoTicketCount(dataDir: string, pgPort: number): Promise<number> {
  return await withEmbedded(
    dataDir,
    pgPort,
    "app",
    async (client) => (await client.query<{ n: number }>("SELECT count(*)::int AS n FROM tickets")).rows[0].n,
  );
}

/** Who the sessions of the service (every one but ours) on the embedded `bulk_ops` are, and whether superusers. */
export async function serviceSessionRoles(
  dataDir: string,
  pgPort: number,
): Promise<{ usename: string; rolsuper: boolean }[]> {
  return await withEmbedded(
    dataDir,
    pgPort,
    "superuser",
    async (client) =>
      (await client.query<{ usename: string; rolsuper: boolean }>(
        `SELECT DISTINCT a.usename, r.rolsuper FROM pg_stat_activity a JOIN pg_roles r ON r.oid = a.usesysid
        WHERE a.datname = 'bulk_ops' AND a.pid <> pg_backend_pid()`,
      )).rows,
  );
}

/** Whether the embedded superuser still accepts the fixed password it had before issue 15. */
export async function acceptsLegacySuperuserPassword(pgPort: number): Promise<boolean> {
  const client = new pg.Client({ connectionString: embeddedDatabaseUrl(pgPort, "postgres", SUPERUSER, "postgres") });
  try {
    await client.connect();
    return true;
  } catch (error) {
    if ((error as { code?: string }).code === "28P01") return false; // invalid_password
    throw error;
  } finally {
    await client.end().catch(() => {});
  }
}
