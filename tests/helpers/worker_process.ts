/**
 * `deno task worker` as a real subprocess, for crash and shutdown tests. `deno task` runs the
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
  /** Kills whatever is still running and waits for the exit (for `finally`). */
  stop(): Promise<void>;
}

/** Starts `deno task worker` with `env` added to this process's environment; waits until it is ready. */
export async function spawnWorker(env: Record<string, string>, readyTimeoutMs = 60_000): Promise<WorkerProcess> {
  const task: Subprocess = spawnSubprocess(Deno.execPath(), ["task", "worker"], {
    cwd: REPO_ROOT,
    env: { NO_COLOR: "1", ...env },
  });
  const readyPid = () => {
    for (const line of task.lines) {
      const match = /worker process (\d+) ready/.exec(line);
      if (match) return Number(match[1]);
    }
    return task.done() ? Promise.reject(new Error(`worker exited before it was ready:\n${task.output()}`)) : null;
  };
  try {
    const pid = await waitUntil(readyPid, {
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
      stop: async () => void await task.kill(),
    };
  } catch (error) {
    await task.kill();
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
