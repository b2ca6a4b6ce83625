/**
 * `deno task worker` as a real subprocess, for crash, shutdown and observability tests. `deno task` runs the
 * worker as its own child process, so signals go to the worker's pid, which it logs when
 * ready ("worker process <pid> ready"); signalling the `deno task` process would leave the
 * worker running. stop() kills the whole process group (subprocess.ts).
 */
import { spawnSubprocess, type Subprocess } from "./subprocess.ts";
import { waitUntil } from "./wait.ts";

const REPO_ROOT = new URL("../../", import.meta.url).pathname;

export interface WorkerProcess {
  /** Pid of the worker process itself (not of `deno task`). */
  pid: number;
  /** Every line it wrote to stdout and stderr so far. */
  lines: string[];
  /** Resolves with the exit status of `deno task worker` (which is the worker's). */
  exited: Promise<Deno.CommandStatus>;
  signal(signal: Deno.Signal): void;
  /** Kills whatever is still running and waits for the exit. */
  stop(): Promise<void>;
  /** `await using worker = await spawnWorker(...)` stops it when the scope ends. */
  [Symbol.asyncDispose](): Promise<void>;
  /** Where its /metrics listens (from its ready line). */
  metricsUrl: string;
}

/**
 * The settings of a crash test's worker processes: one thread, so the killed chunk is the one the test stalled; a
 * 1.5 s lease, so its chunk is rescued soon after the kill; `chunkSize` items per chunk; a 200 ms poll.
 */
export function crashWorkerEnv(databaseUrl: string, chunkSize: number): Record<string, string> {
  return {
    DATABASE_URL: databaseUrl,
    WORKERS: "1",
    BULK_LEASE_MS: "1500",
    BULK_CHUNK_SIZE: String(chunkSize),
    BULK_POLL_MS: "200",
  };
}

/** Starts `deno task worker` with `env` added to this process's environment; waits until it is ready. */
export async function spawnWorker(env: Record<string, string>, readyTimeoutMs = 60_000): Promise<WorkerProcess> {
  const task: Subprocess = spawnSubprocess(Deno.execPath(), ["task", "worker"], {
    cwd: REPO_ROOT,
    // A free metrics port unless the test picks one: several workers may run at once.
    env: { NO_COLOR: "1", METRICS_PORT: "0", ...env },
  });
  const readyPid = () => {
    for (const line of task.lines) {
      // Text: "... worker process 123 ready metricsPort=4567"; JSON: {..."message":"worker process 123 ready","metricsPort":4567}
      const match = /worker process (\d+) ready\b.*?metricsPort"?[=:](\d+)/.exec(line);
      if (match) return { pid: Number(match[1]), metricsPort: Number(match[2]) };
    }
    return task.done() ? Promise.reject(new Error(`worker exited before it was ready:\n${task.output()}`)) : null;
  };
  const stop = async () => void await task.kill();
  try {
    const { pid, metricsPort } = await waitUntil(readyPid, {
      timeoutMs: readyTimeoutMs,
      what: "the worker process logs that it is ready",
      describe: () => task.lines,
    });
    return {
      pid,
      lines: task.lines,
      exited: task.finished,
      signal(signal) {
        Deno.kill(pid, signal);
      },
      stop,
      [Symbol.asyncDispose]: stop,
      metricsUrl: `http://127.0.0.1:${metricsPort}/metrics`,
    };
  } catch (error) {
    await stop();
    throw error;
  }
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
