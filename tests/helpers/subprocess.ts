/**
 * A program the tests run as a real subprocess (`deno task start`, `deno run src/main.ts`,
 * `deno task worker`, `deno task cli`), in a process group of its own, so that killing it
 * kills everything it started too.
 *
 * Why a group: `deno task x` runs `deno run ...` as its child, which inherits our pipes and
 * may start postgres; a SIGKILL to the pid we spawned reached only `deno task`, the rest kept
 * running and kept the pipes open, and a test waiting for the output to end hung forever.
 * `setsid` makes the subprocess lead a new group (it is not a group leader when spawned, so
 * setsid execs in place: same pid), and `kill(-pid)` reaches every member.
 */
import { within } from "./wait.ts";

/** How long a SIGKILLed group may take to close its pipes before the test fails. */
const KILL_DEADLINE_MS = 30_000;

export interface SpawnOptions {
  cwd?: string;
  env: Record<string, string>;
  /** Start from an empty environment instead of this process's. */
  clearEnv?: boolean;
}

export interface Subprocess extends AsyncDisposable {
  /** Pid of the program we spawned (leader of its process group). */
  pid: number;
  /** Every line it wrote to stdout and stderr so far, in arrival order. */
  lines: string[];
  /** Everything printed so far (stdout and stderr interleaved). */
  output(): string;
  stdout(): string;
  stderr(): string;
  /** Resolves with the exit status once both streams have ended. */
  finished: Promise<Deno.CommandStatus>;
  /** True once `finished` has resolved. */
  done(): boolean;
  /** Sends `signal` to the spawned program alone (as `kill <pid>` would). */
  signal(signal: Deno.Signal): void;
  /** SIGKILLs the whole group unless it has ended; waits (with a deadline) for the pipes to close. */
  kill(): Promise<Deno.CommandStatus>;
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

export function spawnSubprocess(command: string, args: string[], options: SpawnOptions): Subprocess {
  const child = new Deno.Command("setsid", {
    args: [command, ...args],
    cwd: options.cwd,
    env: options.env,
    clearEnv: options.clearEnv,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const lines: string[] = [];
  const text = { all: "", stdout: "", stderr: "" };
  const read = (stream: ReadableStream<Uint8Array>, name: "stdout" | "stderr") =>
    readLines(stream, (line) => {
      lines.push(line);
      text.all += `${line}\n`;
      text[name] += `${line}\n`;
    });
  const finished = Promise.all([read(child.stdout, "stdout"), read(child.stderr, "stderr")]).then(() => child.status);
  let ended = false;
  finished.finally(() => ended = true);
  const kill = async () => {
    if (!ended) {
      try {
        Deno.kill(-child.pid, "SIGKILL");
      } catch { /* the group is gone */ }
    }
    return await within(finished, KILL_DEADLINE_MS, `${command} ${args.join(" ")} ends after SIGKILL of its group`);
  };
  return {
    pid: child.pid,
    lines,
    output: () => text.all,
    stdout: () => text.stdout,
    stderr: () => text.stderr,
    finished,
    done: () => ended,
    signal(signal) {
      Deno.kill(child.pid, signal);
    },
    kill,
    async [Symbol.asyncDispose]() {
      await kill();
    },
  };
}

export interface Finished {
  code: number;
  output: string;
  stdout: string;
  stderr: string;
}

/** Runs a program to its end within `timeoutMs`; on the deadline its group is killed and the test fails. */
export async function runSubprocess(
  command: string,
  args: string[],
  options: SpawnOptions,
  timeoutMs: number,
  what: string,
): Promise<Finished> {
  await using running = spawnSubprocess(command, args, options);
  const status = await within(running.finished, timeoutMs, what).catch(async (error) => {
    await running.kill();
    throw new Error(`${error.message}:\n${running.output()}`);
  });
  return { code: status.code, output: running.output(), stdout: running.stdout(), stderr: running.stderr() };
}

/** The flags of a `deno run` task in `projectDir`'s deno.json (between "deno run" and the script). */
export async function taskFlags(task: string, projectDir = new URL("../../", import.meta.url).pathname) {
  const tasks: Record<string, string> = JSON.parse(await Deno.readTextFile(`${projectDir}/deno.json`)).tasks;
  const words = tasks[task].split(" ");
  if (words[0] !== "deno" || words[1] !== "run") throw new Error(`task ${task} is not "deno run ...": ${tasks[task]}`);
  return words.slice(2, -1);
}
