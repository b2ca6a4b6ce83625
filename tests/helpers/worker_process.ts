/**
 * The service's entry points as real subprocesses, for crash, shutdown and observability
 * tests. `deno task worker` runs the worker as its own child process, so signals go to the
 * worker's pid, which it logs when ready ("worker process <pid> ready"); signalling the
 * `deno task` process would leave the worker running. The API is run with the exact command
 * of deno.json's `start` task, directly, so its pid is the child's.
 */

const REPO_ROOT = new URL("../../", import.meta.url);

export interface ServiceProcess {
  /** Pid of the service process itself (not of `deno task`). */
  pid: number;
  /** Every line it wrote to stdout and stderr so far. */
  lines: string[];
  /** Resolves with its exit status. */
  exited: Promise<Deno.CommandStatus>;
  signal(signal: Deno.Signal): void;
  /** Kills whatever is still running and waits for the exit (for `finally`). */
  stop(): Promise<void>;
}

export interface WorkerProcess extends ServiceProcess {
  /** Where its /metrics listens (from its ready line). */
  metricsUrl: string;
}

export interface ApiProcess extends ServiceProcess {
  /** Its base URL, e.g. http://127.0.0.1:41234 (from its GraphiQL line). */
  url: string;
}

export async function readLines(stream: ReadableStream<Uint8Array>, onLine: (line: string) => void): Promise<void> {
  const decoder = new TextDecoder();
  let rest = "";
  for await (const bytes of stream) {
    const parts = (rest + decoder.decode(bytes, { stream: true })).split("\n");
    rest = parts.pop()!;
    parts.forEach(onLine);
  }
  if (rest) onLine(rest);
}

/**
 * Runs `deno <args>` with `env` added to this process's environment; waits until a line makes
 * `readyOf` return something (the process's pid, or null for the child's, and what it read).
 */
async function spawnService<T>(
  name: string,
  args: string[],
  env: Record<string, string>,
  readyOf: (line: string) => { pid: number | null; value: T } | undefined,
  readyTimeoutMs: number,
): Promise<ServiceProcess & { value: T }> {
  const child = new Deno.Command(Deno.execPath(), {
    args,
    cwd: REPO_ROOT,
    env: { NO_COLOR: "1", ...env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const lines: string[] = [];
  let onReady: (ready: { pid: number | null; value: T }) => void = () => {};
  const ready = new Promise<{ pid: number | null; value: T }>((resolve) => (onReady = resolve));
  const onLine = (line: string) => {
    lines.push(line);
    const found = readyOf(line);
    if (found) onReady(found);
  };
  const output = Promise.all([readLines(child.stdout, onLine), readLines(child.stderr, onLine)]);
  const exited = output.then(() => child.status);
  let done = false;
  exited.finally(() => (done = true));
  let timer: ReturnType<typeof setTimeout> | undefined;
  const { pid, value } = await Promise.race([
    ready,
    exited.then((status) => {
      throw new Error(`${name} exited before it was ready (code ${status.code}):\n${lines.join("\n")}`);
    }),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${name} not ready in ${readyTimeoutMs} ms`)), readyTimeoutMs);
    }),
  ]).catch(async (error) => {
    // SIGTERM, not SIGKILL: `deno task` forwards it to the process it runs (whose pid we do not
    // know yet), while a SIGKILLed `deno task` would orphan it, holding our pipes open forever.
    try {
      child.kill("SIGTERM");
    } catch { /* already gone */ }
    const killer = setTimeout(() => {
      try {
        child.kill("SIGKILL");
      } catch { /* already gone */ }
    }, 15_000);
    await exited.finally(() => clearTimeout(killer));
    throw error;
  }).finally(() => clearTimeout(timer));
  const servicePid = pid ?? child.pid;

  return {
    pid: servicePid,
    value,
    lines,
    exited,
    signal(signal) {
      Deno.kill(servicePid, signal);
    },
    async stop() {
      if (!done) {
        for (const target of new Set([servicePid, child.pid])) {
          try {
            Deno.kill(target, "SIGKILL");
          } catch { /* already gone */ }
        }
      }
      await exited;
    },
  };
}

/** Starts `deno task worker` with `env` added to this process's environment; waits until it is ready. */
export async function spawnWorker(env: Record<string, string>, readyTimeoutMs = 60_000): Promise<WorkerProcess> {
  // A free metrics port unless the test picks one: several workers may run at once.
  const worker = await spawnService("worker", ["task", "worker"], { METRICS_PORT: "0", ...env }, (line) => {
    // Text: "... worker process 123 ready metricsPort=4567"; JSON: {..."message":"worker process 123 ready","metricsPort":4567}
    const match = /worker process (\d+) ready\b.*?metricsPort"?[=:](\d+)/.exec(line);
    return match ? { pid: Number(match[1]), value: Number(match[2]) } : undefined;
  }, readyTimeoutMs);
  return { ...worker, metricsUrl: `http://127.0.0.1:${worker.value}/metrics` };
}

/** Starts the API (`deno task start`'s command) with `env` added; waits until it prints its URL. */
export async function spawnApi(env: Record<string, string>, readyTimeoutMs = 60_000): Promise<ApiProcess> {
  const tasks = JSON.parse(await Deno.readTextFile(new URL("deno.json", REPO_ROOT))).tasks;
  const [deno, ...args] = (tasks.start as string).split(" ");
  if (deno !== "deno") throw new Error(`unexpected start task: ${tasks.start}`);
  const api = await spawnService("api", args, env, (line) => {
    const match = /GraphiQL:\s+(\S+)\/graphql/.exec(line);
    return match ? { pid: null, value: match[1] } : undefined;
  }, readyTimeoutMs);
  return { ...api, url: api.value };
}

/** True while a process with this pid exists. */
export function alive(pid: number): boolean {
  try {
    Deno.kill(pid, "SIGCONT");
    return true;
  } catch {
    return false;
  }
}
