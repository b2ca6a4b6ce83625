/**
 * `deno task test`: ONE embedded PostgreSQL for the whole run, a migrated template database,
 * then `deno test` (each test server clones its own database from the template, see
 * helpers/database.ts). Arguments are passed to `deno test` (e.g. a file or --filter).
 */
import { startEmbedded } from "../src/db/embedded.ts";
import { migrate } from "../src/db/migrate.ts";
import { reportStartupFailure } from "../src/startup-error.ts";
import { TEMPLATE_DATABASE } from "./helpers/database.ts";

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

const started = performance.now();
const server = await startEmbedded({
  dataDir: `.test-data/pg-${Deno.pid}`,
  port: freePort(),
  ephemeral: true,
}).catch((error) => Deno.exit(reportStartupFailure("test", error)));
let code = 1;
try {
  await server.createDatabase(TEMPLATE_DATABASE);
  await migrate(server.databaseUrl(TEMPLATE_DATABASE));
  console.log(`test PostgreSQL ready in ${Math.round(performance.now() - started)} ms`);
  const args = Deno.args.length > 0 ? Deno.args : ["tests/"];
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "test",
      "--allow-net",
      "--allow-env",
      "--allow-read",
      "--allow-write",
      "--allow-run",
      "--allow-sys",
      ...args,
    ],
    env: { TEST_PG_URL: server.url },
    stdin: "null",
  }).spawn();
  code = (await child.status).code;
} catch (error) {
  code = reportStartupFailure("test", error);
} finally {
  await server.stop();
}
Deno.exit(code);
