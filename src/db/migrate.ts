/**
 * Applies migrations/NNNN_name.sql in order, each in its own transaction, under a
 * session advisory lock so that concurrent starters (API + worker processes) apply
 * each migration exactly once. Applied names are recorded in schema_migrations;
 * a second run applies nothing.
 */
import { sql } from "kysely";
import pg from "pg";
import type { Db } from "./database.ts";
import { errorMessage } from "../guards.ts";

const MIGRATIONS_DIR = new URL("../../migrations/", import.meta.url);
/** Arbitrary constant: the advisory lock key shared by every migrating process. */
const MIGRATION_LOCK_KEY = 720_431_001;

export interface Migration {
  name: string;
  sql: string;
}

export const MIGRATION_NAME = /^(\d{4})_[a-z0-9_]+\.sql$/;

/** A file in migrations/ that is not `NNNN_name.sql`, or a number used twice. */
export class MigrationFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "MigrationFileError";
  }
}

/**
 * Every file of the directory, in name order. Anything else than `NNNN_name.sql` (e.g.
 * `0006-x.sql`) and two files with one number are refused rather than skipped: a skipped
 * file is a migration that silently never runs.
 */
export async function readMigrations(dir: URL = MIGRATIONS_DIR): Promise<Migration[]> {
  const names: string[] = [];
  const byNumber = new Map<string, string>();
  for await (const entry of Deno.readDir(dir)) {
    const match = MIGRATION_NAME.exec(entry.name);
    if (!entry.isFile || !match) {
      throw new MigrationFileError(`${entry.name} in ${dir.pathname} is not a migration (NNNN_name.sql)`);
    }
    const other = byNumber.get(match[1]);
    if (other) throw new MigrationFileError(`${entry.name} and ${other} share the number ${match[1]}`);
    byNumber.set(match[1], entry.name);
    names.push(entry.name);
  }
  names.sort();
  return await Promise.all(
    names.map(async (name) => ({ name, sql: await Deno.readTextFile(new URL(name, dir)) })),
  );
}

/** Applies pending migrations; returns the names it applied (empty when up to date). */
export async function migrate(url: string, migrations?: Migration[]): Promise<string[]> {
  const all = migrations ?? await readMigrations();
  const client = new pg.Client({ connectionString: url, application_name: "bulk-ops migrate" });
  await client.connect();
  const applied: string[] = [];
  try {
    await client.query("SELECT pg_advisory_lock($1)", [MIGRATION_LOCK_KEY]);
    await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
      name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`);
    const done = new Set(
      (await client.query<{ name: string }>("SELECT name FROM schema_migrations")).rows.map((r) => r.name),
    );
    for (const migration of all) {
      if (done.has(migration.name)) continue;
      await client.query("BEGIN");
      try {
        await client.query(migration.sql);
        await client.query("INSERT INTO schema_migrations (name) VALUES ($1)", [migration.name]);
        await client.query("COMMIT");
      } catch (error) {
        await client.query("ROLLBACK");
        throw new Error(`migration ${migration.name} failed: ${errorMessage(error)}`, { cause: error });
      }
      applied.push(migration.name);
    }
  } finally {
    await client.query("SELECT pg_advisory_unlock($1)", [MIGRATION_LOCK_KEY]).catch(() => {});
    await client.end();
  }
  return applied;
}

/** Names of migrations on disk not yet recorded as applied (used by /ready). */
export async function migrationsPending(db: Db, migrations: Migration[]): Promise<string[]> {
  const { rows } = await sql<{ name: string }>`SELECT name FROM schema_migrations`.execute(db);
  const done = new Set(rows.map((r) => r.name));
  return migrations.map((m) => m.name).filter((name) => !done.has(name));
}
