/**
 * `deno task seed -- --tickets N`: adds N tickets to the demo tenant, set-based
 * (insertTickets in src/tickets/seed.ts), for demos and benchmarks. Seeds the demo tenant
 * first when it is missing. Slices of 250,000 on 2 connections (seedTickets). Prints the elapsed time and the tenant's ticket count.
 *
 * Uses the same database as every entry point (src/db/connect.ts): DATABASE_URL when set,
 * otherwise the embedded PostgreSQL in DATA_DIR (running or not).
 * Exit codes: 0 done, 1 database unreachable or in use by another data directory, 2 usage or configuration error.
 */
import { withTaskDatabase } from "./task-database.ts";
import { parseArgs } from "node:util";
import { sql } from "kysely";
import { seedDemo, seedTickets } from "../tickets/seed.ts";

const USAGE = "Usage: deno task seed -- --tickets <N>   (1 to 10,000,000; 1_000_000 and 1e6 are accepted)";
const MAX_TICKETS = 10_000_000;

/** Parses `--tickets N`; returns the count, or an error message. */
export function parseSeedArgs(args: string[]): number | string {
  let values;
  try {
    ({ values } = parseArgs({
      args: args[0] === "--" ? args.slice(1) : args,
      options: { tickets: { type: "string" } },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
  if (values.tickets === undefined) return "--tickets <N> is required";
  const raw = values.tickets.replaceAll("_", "").replaceAll(",", "");
  const count = /^\d+(e\d+)?$/i.test(raw) ? Number(raw) : NaN;
  if (!Number.isInteger(count) || count < 1 || count > MAX_TICKETS) {
    return `--tickets must be an integer from 1 to ${MAX_TICKETS}, got "${values.tickets}"`;
  }
  return count;
}

async function main(): Promise<number> {
  const count = parseSeedArgs(Deno.args);
  if (typeof count === "string") {
    console.error(`Error: ${count}\n${USAGE}`);
    return 2;
  }
  return await withTaskDatabase("bulk-ops seed", async (db, signal) => {
    const demo = await seedDemo(db);
    if (demo.created) console.log("created the demo tenant with 3 users and 1,000 tickets");
    const started = performance.now();
    await seedTickets(db, demo.tenantId, count, {
      onProgress: (inserted) =>
        inserted < count &&
        console.error(`  ${inserted.toLocaleString("en-US")} / ${count.toLocaleString("en-US")}`),
      signal, // SIGINT/SIGTERM: the committed slices stay, no further one starts
    });
    const seconds = (performance.now() - started) / 1000;
    const { rows } = await sql<
      { n: number }
    >`SELECT count(*)::int AS n FROM tickets WHERE tenant_id = ${demo.tenantId}`
      .execute(db);
    console.log(
      `added ${count.toLocaleString("en-US")} tickets in ${seconds.toFixed(1)} s ` +
        `(${Math.round(count / seconds).toLocaleString("en-US")} tickets/s); ` +
        `the demo tenant now has ${rows[0].n.toLocaleString("en-US")} tickets`,
    );
    return 0;
  });
}

if (import.meta.main) Deno.exit(await main());
