/**
 * `deno task worker` as a real subprocess, for crash and shutdown tests. `deno task` runs the
 * worker as its own child process, so signals go to the worker's pid, which it logs when
 * ready ("worker process <pid> ready"); signalling the `deno task` process would leave the
 * worker running.
 */

const REPO_ROOT = new URL("../../", import.meta.url);

export interface WorkerProcess {
  /** Pid of the worker process itself (not of `deno task`). */
  pid: number;
  /** Where its /metrics listens (from its ready line). */
  metricsUrl: string;
  /** Every line it wrote to stdout and stderr so far. */
  lines: string[];
  /** Resolves with the exit status of `deno task worker` (which is the worker's). */
  exited: Promise<Deno.CommandStatus>;
  signal(signal: Deno.Signal): void;
  /** Kills whatever is still running and waits for the exit (for `finally`). */
  stop(): Promise<void>;
}

async function readLines(stream: ReadableStream<Uint8Array>, onLine: (line: string) => void): Promise<void> {
  const decoder = new TextDecoder();
  let rest = "";
  for await (const bytes of stream) {
    const parts = (rest + decoder.decode(bytes, { stream: true })).split("\n");
    rest = parts.pop()!;
    parts.forEach(onLine);
  }
  if (rest) onLine(rest);
}

/** Starts `deno task worker` with `env` added to this process's environment; waits until it is ready. */
export async function spawnWorker(env: Record<string, string>, readyTimeoutMs = 60_000): Promise<WorkerProcess> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["task", "worker"],
    cwd: REPO_ROOT,
    // A free metrics port unless the test picks one: several workers may run at once.
    env: { NO_COLOR: "1", METRICS_PORT: "0", ...env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const lines: string[] = [];
  let onReady: (ready: { pid: number; metricsPort: number }) => void = () => {};
  const ready = new Promise<{ pid: number; metricsPort: number }>((resolve) => (onReady = resolve));
  const onLine = (line: string) => {
    lines.push(line);
    // Text: "... worker process 123 ready metricsPort=4567"; JSON: {..."message":"worker process 123 ready","metricsPort":4567}
    const match = /worker process (\d+) ready\b.*?metricsPort"?[=:](\d+)/.exec(line);
    if (match) onReady({ pid: Number(match[1]), metricsPort: Number(match[2]) });
  };
  const output = Promise.all([readLines(child.stdout, onLine), readLines(child.stderr, onLine)]);
  const exited = output.then(() => child.status);
  let done = false;
  exited.finally(() => (done = true));
  let timer: ReturnType<typeof setTimeout> | undefined;
  const { pid, metricsPort } = await Promise.race([
    ready,
    exited.then((status) => {
      throw new Error(`worker exited before it was ready (code ${status.code}):\n${lines.join("\n")}`);
    }),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`worker not ready in ${readyTimeoutMs} ms`)), readyTimeoutMs);
    }),
  ]).catch(async (error) => {
    try {
      child.kill("SIGKILL");
    } catch { /* already gone */ }
    await exited;
    throw error;
  }).finally(() => clearTimeout(timer));

  return {
    pid,
    metricsUrl: `http://127.0.0.1:${metricsPort}/metrics`,
    lines,
    exited,
    signal(signal) {
      Deno.kill(pid, signal);
    },
    async stop() {
      if (!done) {
        for (const target of [pid, child.pid]) {
          try {
            Deno.kill(target, "SIGKILL");
          } catch { /* already gone */ }
        }
      }
      await exited;
    },
  };
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
