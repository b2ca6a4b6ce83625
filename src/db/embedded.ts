/**
 * The embedded PostgreSQL 18 used when DATABASE_URL is unset (process: postgres-server.ts).
 * Its data directory is kept across restarts; initdb runs only when it is new.
 *
 * Least privilege (docs/security.md): the superuser `postgres` and the service's role
 * `bulk_ops_app` (LOGIN, not a superuser, no CREATEROLE/CREATEDB, owner of the service's
 * database) each get a random password, kept in DATA_DIR/bulk-ops-credentials.json (mode
 * 0600), where every task of this checkout (`token`, `seed`, `worker`) finds them.
 */
import pg from "pg";
import { StartupError } from "../startup-error.ts";
import { absolutePath, checkVersion, outsidePermissions, serverLayout, startServer } from "./postgres-server.ts";
import { stringField } from "../guards.ts";

export interface EmbeddedOptions {
  dataDir: string;
  port: number;
  /** Delete the data directory on stop (tests). Default false. */
  ephemeral?: boolean;
  /** Receives postgres's own log lines (default: dropped). */
  onLog?: (line: string) => void;
  /** SIGINT/SIGTERM during start-up: postgres is stopped and the signal's reason thrown. */
  signal?: AbortSignal;
}

export interface EmbeddedDatabase {
  /** Superuser URL of the `postgres` maintenance database; use databaseUrl() for others. */
  url: string;
  /** The data directory the server uses (DATA_DIR, or where it is staged when run as root). */
  dataDir: string;
  /** Superuser URL of database `name`: administration only (roles, databases, the template). */
  databaseUrl(name: string): string;
  /** URL of database `name` as the service's role, APP_ROLE. */
  appDatabaseUrl(name: string): string;
  createDatabase(name: string, template?: string): Promise<void>;
  stop(): Promise<void>;
}

export const SUPERUSER = "postgres";
/** The role the service connects as: owns its database and tables, nothing more. */
export const APP_ROLE = "bulk_ops_app";
/** The superuser password of data directories initialised before random passwords (issue 15). */
const LEGACY_PASSWORD = "postgres";

export interface Credentials {
  superuserPassword: string;
  appPassword: string;
}

const CREDENTIALS_FILE = "bulk-ops-credentials.json";
const CREDENTIALS_MODE = 0o600;

export const credentialsPath = (dataDir: string) => `${absolutePath(dataDir)}/${CREDENTIALS_FILE}`;

/** 32 random bytes, base64url: URL-safe, so it needs no escaping in a connection string. */
function randomPassword(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  return btoa(String.fromCharCode(...bytes)).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

const newCredentials = (): Credentials => ({ superuserPassword: randomPassword(), appPassword: randomPassword() });

/** The credentials stored in DATA_DIR, or null when there are none (a new or pre-issue-15 data directory). */
export async function readCredentials(dataDir: string): Promise<Credentials | null> {
  let text: string;
  try {
    text = await Deno.readTextFile(credentialsPath(dataDir));
  } catch (error) {
    // NotADirectory: DATA_DIR is a file, which serverLayout refuses with its sentence.
    if (error instanceof Deno.errors.NotFound || error instanceof Deno.errors.NotADirectory) return null;
    if (error instanceof Deno.errors.NotCapable) throw outsidePermissions(dataDir, error);
    throw error;
  }
  const parsed: unknown = JSON.parse(text);
  const superuserPassword = stringField(parsed, "superuserPassword");
  const appPassword = stringField(parsed, "appPassword");
  if (superuserPassword === undefined || appPassword === undefined) {
    throw new StartupError(
      `${credentialsPath(dataDir)} does not hold the embedded database's passwords: restore it from a backup.`,
    );
  }
  return { superuserPassword, appPassword };
}

async function writeCredentials(dataDir: string, credentials: Credentials): Promise<void> {
  const path = credentialsPath(dataDir);
  // Written to a temporary name, then renamed: a crash never leaves half a file.
  const partial = `${path}.partial`;
  await Deno.writeTextFile(partial, JSON.stringify(credentials) + "\n", { mode: CREDENTIALS_MODE });
  await Deno.chmod(partial, CREDENTIALS_MODE); // `mode` is filtered by the umask and ignored on an existing file
  await Deno.rename(partial, path);
}

export function embeddedDatabaseUrl(port: number, name: string, user: string, password: string): string {
  return `postgres://${user}:${encodeURIComponent(password)}@127.0.0.1:${port}/${encodeURIComponent(name)}`;
}

/** Starts the server; a failure is a StartupError naming the cause (startup-error.ts). */
export async function startEmbedded(options: EmbeddedOptions): Promise<EmbeddedDatabase> {
  const layout = await serverLayout(options.dataDir);
  const stored = await readCredentials(options.dataDir);
  const credentials = stored ?? newCredentials();
  const isNew = !(await Deno.stat(`${layout.dataDir}/PG_VERSION`).then(() => true, () => false));
  if (!stored && !isNew) {
    await checkVersion(layout); // a PostgreSQL 16 directory is that, before it is one without passwords
    await checkLegacyPassword(layout.dataDir, options.dataDir);
  }
  const server = await startServer(layout, {
    port: options.port,
    user: SUPERUSER,
    // A pre-issue-15 data directory still has the fixed password until it is rotated below.
    password: credentials.superuserPassword,
    onLog: options.onLog ?? (() => {}),
    signal: options.signal,
    // Stored right after initdb, before postgres starts: the only window without them is initdb's own.
    afterInitdb: () => writeCredentials(options.dataDir, credentials),
  });
  const superuserUrl = (name: string, password = credentials.superuserPassword) =>
    embeddedDatabaseUrl(options.port, name, SUPERUSER, password);
  try {
    if (!stored && !isNew) {
      await withClient(superuserUrl("postgres", LEGACY_PASSWORD), async (client) => {
        await client.query(`ALTER ROLE ${SUPERUSER} PASSWORD ${quoteLiteral(credentials.superuserPassword)}`);
      });
      await writeCredentials(options.dataDir, credentials);
    }
    await ensureAppRole(superuserUrl("postgres"), credentials.appPassword);
  } catch (error) {
    await server.stop();
    throw error;
  }
  const appDatabaseUrl = (name: string) => embeddedDatabaseUrl(options.port, name, APP_ROLE, credentials.appPassword);
  return {
    url: superuserUrl("postgres"),
    dataDir: layout.dataDir,
    databaseUrl: (name) => superuserUrl(name),
    appDatabaseUrl,
    createDatabase: (name, template) =>
      withClient(superuserUrl("postgres"), (client) =>
        client.query(
          `CREATE DATABASE ${quoteIdent(name)} OWNER ${APP_ROLE}${template ? ` TEMPLATE ${quoteIdent(template)}` : ""}`,
        ).then(() => {})),
    stop: async () => {
      await server.stop();
      if (options.ephemeral) {
        await Deno.remove(layout.dataDir, { recursive: true }).catch(() => {});
        await Deno.remove(options.dataDir, { recursive: true }).catch(() => {});
      }
    },
  };
}

/**
 * A data directory with a database and no credentials file is one from before random
 * passwords; its pg_hba.conf was written by our initdb (`password` auth). Anything else (the
 * file deleted after a random password was set) cannot be opened by us: say so.
 */
async function checkLegacyPassword(pgDataDir: string, dataDir: string): Promise<void> {
  const hba = await Deno.readTextFile(`${pgDataDir}/pg_hba.conf`).catch(() => "");
  if (/^host\s+all\s+all\s+127\.0\.0\.1\/32\s+password\s*$/m.test(hba)) return;
  throw new StartupError(
    `DATA_DIR ${dataDir} holds a database but not its passwords (${credentialsPath(dataDir)} is missing): ` +
      "restore that file from a backup, or set DATA_DIR to an empty directory.",
  );
}

const quoteIdent = (id: string) => `"${id.replaceAll('"', '""')}"`;
const quoteLiteral = (text: string) => `'${text.replaceAll("'", "''")}'`;

async function withClient<T>(url: string, use: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await use(client);
  } finally {
    await client.end();
  }
}

/** Creates APP_ROLE, or resets its attributes and password (the stored one is the truth). */
async function ensureAppRole(superuserUrl: string, password: string): Promise<void> {
  const attributes = `LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS PASSWORD ${
    quoteLiteral(password)
  }`;
  await withClient(superuserUrl, async (client) => {
    const found = await client.query("SELECT 1 FROM pg_roles WHERE rolname = $1", [APP_ROLE]);
    await client.query(`${found.rowCount === 0 ? "CREATE" : "ALTER"} ROLE ${APP_ROLE} ${attributes}`);
  });
}

/**
 * Creates database `name` owned by APP_ROLE unless it exists. An existing one is handed to
 * APP_ROLE with every object the superuser created in it (data directories from before
 * issue 15 were migrated as the superuser), so migrations keep running as APP_ROLE.
 */
export async function ensureDatabase(db: EmbeddedDatabase, name: string): Promise<void> {
  const found = await withClient(
    db.url,
    (client) => client.query("SELECT 1 FROM pg_database WHERE datname = $1", [name]),
  );
  if (found.rowCount === 0) return await db.createDatabase(name);
  await withClient(db.databaseUrl(name), async (client) => {
    await client.query(`ALTER DATABASE ${quoteIdent(name)} OWNER TO ${APP_ROLE}`);
    await client.query(HAND_OVER_OBJECTS);
  });
}

/** Gives APP_ROLE the superuser's schemas, tables, sequences, views, functions and types outside the catalogs. */
const HAND_OVER_OBJECTS = `
DO $$
DECLARE item record;
BEGIN
  FOR item IN SELECT nspname FROM pg_namespace
    WHERE nspowner = '${SUPERUSER}'::regrole AND nspname NOT LIKE 'pg\\_%' AND nspname <> 'information_schema'
  LOOP EXECUTE format('ALTER SCHEMA %I OWNER TO ${APP_ROLE}', item.nspname); END LOOP;
  FOR item IN SELECT c.oid::regclass AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relowner = '${SUPERUSER}'::regrole AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
      AND n.nspname NOT LIKE 'pg\\_%' AND n.nspname <> 'information_schema'
      AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype IN ('a', 'i', 'e'))
  LOOP EXECUTE format('ALTER TABLE %s OWNER TO ${APP_ROLE}', item.name); END LOOP;
  FOR item IN SELECT p.oid::regprocedure AS name FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
    WHERE p.proowner = '${SUPERUSER}'::regrole AND n.nspname NOT LIKE 'pg\\_%' AND n.nspname <> 'information_schema'
      AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e')
  LOOP EXECUTE format('ALTER ROUTINE %s OWNER TO ${APP_ROLE}', item.name); END LOOP;
  FOR item IN SELECT t.oid::regtype AS name FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
    WHERE t.typowner = '${SUPERUSER}'::regrole AND t.typtype IN ('e', 'd', 'c') AND n.nspname NOT LIKE 'pg\\_%'
      AND n.nspname <> 'information_schema' AND (t.typrelid = 0 OR EXISTS (
        SELECT 1 FROM pg_class c WHERE c.oid = t.typrelid AND c.relkind = 'c'))
      AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = t.oid AND d.deptype = 'e')
  LOOP EXECUTE format('ALTER TYPE %s OWNER TO ${APP_ROLE}', item.name); END LOOP;
END $$`;
