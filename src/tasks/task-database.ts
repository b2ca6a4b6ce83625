/**
 * The database of a command-line task (token, seed): the config's database (DATABASE_URL,
 * or the embedded one, running or not), migrated, with a small Kysely pool; everything is
 * closed afterwards. Returns the task's exit code; 1 when the database cannot be opened,
 * 130/143 when SIGINT/SIGTERM interrupted it (stop-signals.ts; listened for from the start,
 * so an embedded PostgreSQL this task started is stopped then too).
 */
import { loadConfigOrExit } from "../config.ts";
import { openDatabase } from "../db/connect.ts";
import { createDb, type Db } from "../db/database.ts";
import { migrate } from "../db/migrate.ts";
import { reportStartupFailure } from "../startup-error.ts";
import { Interrupted, interruptedExitCode, listenForStopSignals } from "../stop-signals.ts";

export async function withTaskDatabase(
  applicationName: string,
  task: (db: Db, signal: AbortSignal) => Promise<number>,
): Promise<number> {
  using stop = listenForStopSignals();
  try {
    return await run(applicationName, stop.signal, task);
  } catch (error) {
    if (!(error instanceof Interrupted)) throw error;
    console.error(`${applicationName}: ${error.message}`);
    return interruptedExitCode(error);
  }
}

async function run(
  applicationName: string,
  signal: AbortSignal,
  task: (db: Db, signal: AbortSignal) => Promise<number>,
): Promise<number> {
  const config = loadConfigOrExit();
  let database;
  try {
    database = await openDatabase(config, (line) => console.error(line), signal);
  } catch (error) {
    if (error instanceof Interrupted) throw error;
    return reportStartupFailure(applicationName, error);
  }
  try {
    try {
      // Idempotent and cheap; a database that was never migrated gets its tables.
      await migrate(database.url);
    } catch (error) {
      return reportStartupFailure(applicationName, error);
    }
    signal.throwIfAborted();
    const db = createDb(database.url, { poolSize: 3, applicationName });
    try {
      return await task(db, signal);
    } finally {
      await db.destroy();
    }
  } finally {
    await database.close();
  }
}
