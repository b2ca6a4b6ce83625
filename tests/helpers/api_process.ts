/**
 * The API process (`src/main.ts`, exactly as `deno task start` runs it, with the task's own
 * flags from deno.json) as a subprocess of the test: a signal reaches the process itself, and
 * its memory is its own (/proc/<pid>/status), apart from the test's.
 */
import { spawnSubprocess, taskFlags } from "./subprocess.ts";
import { waitUntil } from "./wait.ts";

export interface ApiProcess {
  /** Pid of the API process (src/main.ts itself). */
  pid: number;
  /** Base URL, e.g. http://127.0.0.1:40123 (from the "GraphiQL:" line it prints). */
  url: string;
  /** Every line it wrote to stdout and stderr so far. */
  lines: string[];
  exited: Promise<Deno.CommandStatus>;
  signal(signal: Deno.Signal): void;
  /** SIGKILLs its process group if still running and waits for the exit. */
  stop(): Promise<void>;
  /** `await using api = await spawnApi(...)` stops it when the scope ends. */
  [Symbol.asyncDispose](): Promise<void>;
}

/** Starts src/main.ts with `env` (and optional --v8-flags) and waits until it serves. */
export async function spawnApi(env: Record<string, string>, v8Flags: string[] = []): Promise<ApiProcess> {
  const api = spawnSubprocess(Deno.execPath(), [
    "run",
    ...await taskFlags("start"),
    ...(v8Flags.length ? [`--v8-flags=${v8Flags.join(",")}`] : []),
    new URL("../../src/main.ts", import.meta.url).pathname,
  ], { env: { NO_COLOR: "1", HOST: "", ...env } });
  const stop = async () => void await api.kill();
  try {
    const url = await waitUntil(
      () => api.done() ? Promise.reject(new Error(`the API process exited:\n${api.output()}`)) : urlIn(api.lines),
      { timeoutMs: 60_000, what: "the API process prints its URL", describe: () => api.lines },
    );
    return {
      pid: api.pid,
      url,
      lines: api.lines,
      exited: api.finished,
      signal: api.signal,
      stop,
      [Symbol.asyncDispose]: stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

function urlIn(lines: string[]): string | undefined {
  for (const line of lines) {
    const match = /GraphiQL:\s+(http:\/\/\S+)\/graphql/.exec(line);
    if (match) return match[1];
  }
  return undefined;
}

/**
 * A process's current and peak resident memory in bytes (VmRSS, VmHWM of /proc/<pid>/status).
 * Read by `cat`: Deno lets a program read /proc/<pid> itself only with --allow-all.
 */
export async function residentMemory(pid: number): Promise<{ rss: number; peak: number }> {
  const output = await new Deno.Command("cat", { args: [`/proc/${pid}/status`], stdout: "piped" }).output();
  if (!output.success) throw new Error(`cannot read /proc/${pid}/status`);
  const status = new TextDecoder().decode(output.stdout);
  const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(status)![1]) * 1024;
  return { rss: kb("VmRSS"), peak: kb("VmHWM") };
}
