/**
 * The database of a command-line task (token, seed): the config's database (DATABASE_URL,
 * or the embedded one, running or not), migrated, with a small Kysely pool; everything is
 * closed afterwards. Returns the task's exit code; 1 when the database cannot be opened.
 */
import { loadConfigOrExit } from "../config.ts";
import { openDatabase } from "../db/connect.ts";
import { createDb, type Db } from "../db/database.ts";
import { migrate } from "../db/migrate.ts";
import { reportStartupFailure } from "../startup-error.ts";

export async function withTaskDatabase(
  applicationName: string,
  task: (db: Db) => Promise<number>,
): Promise<number> {
  const config = loadConfigOrExit();
  let database;
  try {
    database = await openDatabase(config, (line) => console.error(line));
  } catch (error) {
    return reportStartupFailure(applicationName, error);
  }
  try {
    try {
      // Idempotent and cheap; a database that was never migrated gets its tables.
      await migrate(database.url);
    } catch (error) {
      return reportStartupFailure(applicationName, error);
    }
    const db = createDb(database.url, { poolSize: 3, applicationName });
    try {
      return await task(db);
    } finally {
      await db.destroy();
    }
  } finally {
    await database.close();
  }
}
