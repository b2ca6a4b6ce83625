/**
 * `deno task bench [-- --tickets N] [--workers W] [--chunk C] [--scenarios a,b,c,d] [--json]`: the
 * engine's figures next to its peers (bench/bulk_bench.ts, which takes those arguments), then the
 * API's (bench/api_bench.ts, with its defaults; run it alone for its own flags), then the bulk
 * export next to COPY (bench/export_bench.ts, with --tickets N only) and the import's (bench/import_bench.ts:
 * a 1,000,000-row CSV by default). Each runs in its own
 * process with the same explicit permissions as this task, one after the other, so neither disturbs
 * the other's timings or peak RSS. With --json only bulk_bench.ts runs and stdout is its one JSON
 * object (every other line goes to stderr), for scripts. Prints figures, asserts nothing; stops at
 * the first that fails (a usage error in the arguments too) with its exit code.
 */
const PERMISSIONS = ["--allow-net", "--allow-env", "--allow-read", "--allow-write", "--allow-run", "--allow-sys"];

const args = Deno.args.filter((arg) => arg !== "--");
const json = args.includes("--json");

async function run(script: string, scriptArgs: string[]): Promise<number> {
  (json ? console.error : console.log)(`\n== ${script} ${scriptArgs.join(" ")}`.trimEnd());
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", ...PERMISSIONS, new URL(script, import.meta.url).pathname, ...scriptArgs],
    stdin: "null",
  }).spawn();
  return (await child.status).code;
}

/** The export bench takes only the ticket count of the arguments (its other options are its own). */
function exportArgs(): string[] {
  const at = args.indexOf("--tickets");
  return at >= 0 && args[at + 1] ? ["--tickets", args[at + 1]] : [];
}

const bulkCode = await run("./bulk_bench.ts", args);
if (bulkCode !== 0 || json) Deno.exit(bulkCode);
const apiCode = await run("./api_bench.ts", []);
const exportCode = apiCode !== 0 ? apiCode : await run("./export_bench.ts", exportArgs());
Deno.exit(exportCode !== 0 ? exportCode : await run("./import_bench.ts", []));
