/**
 * `deno task <name>` as a user runs it, from this checkout or from a fresh copy of it inside
 * a `mktemp -d` directory (mode 0700, as root's home is): the copy holds exactly what
 * `git clone` would (tracked and untracked-but-not-ignored files, so uncommitted work is
 * tested too), then `deno install --frozen` (0.9 s measured, the npm cache is in DENO_DIR).
 */
import pg from "pg";
import { within } from "./api.ts";

export const REPO_ROOT = new URL("../../", import.meta.url).pathname;

// Whatever the developer's shell has must not leak in (e.g. DATABASE_URL of another database).
const CLEAN_ENV = { DATABASE_URL: "", SEED_DEMO: "", LOG_LEVEL: "", HOST: "", DATA_DIR: "", NO_COLOR: "1" };

export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

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

export interface RunningTask extends AsyncDisposable {
  child: Deno.ChildProcess;
  /** Everything printed so far (stdout and stderr interleaved). */
  output(): string;
  /** What went to stdout alone, and to stderr alone. */
  stdout(): string;
  stderr(): string;
  /** Resolves with the exit status once both streams have ended. */
  finished: Promise<Deno.CommandStatus>;
}

/** Starts `deno task <args>` in `cwd`; disposing of it kills what still runs. */
export function spawnTask(cwd: string, args: string[], env: Record<string, string>): RunningTask {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["task", ...args],
    cwd,
    env: { ...CLEAN_ENV, ...env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let text = "";
  const apart = { stdout: "", stderr: "" };
  const read = async (stream: ReadableStream<Uint8Array>, name: keyof typeof apart) => {
    const decoder = new TextDecoder();
    for await (const chunk of stream) {
      const piece = decoder.decode(chunk, { stream: true });
      text += piece;
      apart[name] += piece;
    }
  };
  const finished = Promise.all([read(child.stdout, "stdout"), read(child.stderr, "stderr")]).then(() => child.status);
  return {
    child,
    output: () => text,
    stdout: () => apart.stdout,
    stderr: () => apart.stderr,
    finished,
    async [Symbol.asyncDispose]() {
      try {
        child.kill("SIGKILL");
      } catch { /* already exited */ }
      await finished;
    },
  };
}

/** Waits until the output matches `pattern`; fails naming it (and showing the output) otherwise. */
export async function waitForOutput(task: RunningTask, pattern: RegExp, timeoutMs = 90_000): Promise<RegExpMatchArray> {
  const deadline = Date.now() + timeoutMs;
  let exited = false;
  task.finished.then(() => exited = true);
  while (Date.now() < deadline) {
    const match = task.output().match(pattern);
    if (match) return match;
    if (exited) break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`no ${pattern} in the output within ${timeoutMs} ms (exited: ${exited}):\n${task.output()}`);
}

/** SIGTERM, then the exit code; SIGKILL (and a failure) if it has not exited within 30 s. */
export async function stopTask(task: RunningTask): Promise<number> {
  task.child.kill("SIGTERM");
  const status = await within(task.finished, 30_000, "exit after SIGTERM").catch((error) => {
    task.child.kill("SIGKILL");
    throw new Error(`${error.message}:\n${task.output()}`);
  });
  return status.code;
}

/** Runs `deno task <args>` in `cwd` to its end (deadline `timeoutMs`); its exit code and output. */
export async function runTask(cwd: string, args: string[], env: Record<string, string>, timeoutMs = 120_000) {
  await using task = spawnTask(cwd, args, env);
  const status = await within(task.finished, timeoutMs, `deno task ${args.join(" ")} to exit`).catch((error) => {
    throw new Error(`${error.message}:\n${task.output()}`);
  });
  return { code: status.code, output: task.output(), stdout: task.stdout(), stderr: task.stderr() };
}

/** The command lines of running processes that mention `text` (e.g. postgres -D <dir>). */
export async function processesMentioning(text: string): Promise<string> {
  const result = await new Deno.Command("pgrep", { args: ["-af", text], stdout: "piped", stderr: "null" }).output();
  return decode(result.stdout).trim();
}

/** Tickets in the embedded database `deno task start` uses (bulk_ops) on `pgPort`. */
export async function demoTicketCount(pgPort: number): Promise<number> {
  const client = new pg.Client({ connectionString: `postgres://postgres:postgres@127.0.0.1:${pgPort}/bulk_ops` });
  await client.connect();
  try {
    return (await client.query<{ n: number }>("SELECT count(*)::int AS n FROM tickets")).rows[0].n;
  } finally {
    await client.end();
  }
}
