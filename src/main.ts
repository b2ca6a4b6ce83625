/**
 * `deno task start`: config -> database (embedded unless DATABASE_URL) -> migrations ->
 * demo seed -> API + worker pool. Prints the GraphiQL URL and dev tokens. SIGINT/SIGTERM
 * shut everything down, the embedded PostgreSQL included, also when they arrive during
 * start-up (then after the current step; exit code 0 either way, see stop-signals.ts).
 */
import { type Config, loadConfigOrExit } from "./config.ts";
import { openDatabase } from "./db/connect.ts";
import { createDb } from "./db/database.ts";
import { migrate } from "./db/migrate.ts";
import { startApp } from "./app.ts";
import { configureLog, log } from "./log.ts";
import { mintDevTokens, seedDemo } from "./tickets/seed.ts";
import { reportStartupFailure, StartupError } from "./startup-error.ts";
import { Interrupted, listenForStopSignals, type StopSignals } from "./stop-signals.ts";

async function main(stop: StopSignals): Promise<void> {
  const config = loadConfigOrExit();
  configureLog(config);
  const database = await openDatabase(config, (line) => log.info("db", line), stop.signal);
  try {
    const applied = await migrate(database.url);
    stop.signal.throwIfAborted();
    log.info("db", applied.length ? `applied migrations: ${applied.join(", ")}` : "migrations up to date");
    let tokens: Awaited<ReturnType<typeof mintDevTokens>> = [];
    if (config.seedDemo) {
      const seedDb = createDb(database.url, { poolSize: 2 });
      try {
        const seeded = await seedDemo(seedDb);
        if (seeded.created) log.info("seed", "created the demo tenant with 3 users and 1,000 tickets");
        tokens = await mintDevTokens(seedDb);
      } finally {
        await seedDb.destroy();
      }
      stop.signal.throwIfAborted();
    }
    const app = await startApp(config, database.url).catch((error) => {
      throw httpBindFailure(config, error);
    });
    console.log(`\nGraphiQL:  ${app.url}/graphql`);
    if (tokens.length) {
      console.log("Dev tokens (new at each start; earlier ones are revoked):");
      for (const t of tokens) console.log(`  ${t.role.padEnd(6)} ${t.email.padEnd(18)} ${t.token}`);
      console.log(`Paste into GraphiQL's headers: { "Authorization": "Bearer ${tokens[0].token}" }\n`);
    }
    await stop.stopped;
    log.info("main", "shutting down");
    await app.stop();
  } finally {
    await database.close();
    log.info("main", "stopped");
  }
}

/** PORT / HOST problems as their sentence; anything else unchanged. */
function httpBindFailure(config: Config, error: unknown): unknown {
  if (error instanceof Deno.errors.AddrInUse) {
    return new StartupError(
      `PORT ${config.port} is taken by another program: stop it, or set PORT to a free port.`,
      "",
      { cause: error },
    );
  }
  if (error instanceof Deno.errors.AddrNotAvailable) {
    return new StartupError(
      `HOST ${config.host} is not an address of this machine: set HOST to 127.0.0.1, 0.0.0.0 or one of its addresses.`,
      "",
      { cause: error },
    );
  }
  return error;
}

if (import.meta.main) {
  using stop = listenForStopSignals(); // before anything starts: see stop-signals.ts
  try {
    await main(stop);
  } catch (error) {
    if (!(error instanceof Interrupted)) Deno.exit(reportStartupFailure("main", error));
    log.info("main", `${error.signal} during start-up: stopped`);
  }
}
