/**
 * `deno task bench [-- --tickets N] [--workers W] [--chunk C]`: the engine's figures
 * (bench/bulk_bench.ts, which takes those arguments), then the API's (bench/api_bench.ts,
 * with its defaults; run it alone for its own flags). Each runs in its own process with the
 * same explicit permissions as this task, one after the other, so neither disturbs the
 * other's timings or peak RSS. Prints figures, asserts nothing; exits non-zero if one failed.
 */
const PERMISSIONS = ["--allow-net", "--allow-env", "--allow-read", "--allow-write", "--allow-run", "--allow-sys"];

async function run(script: string, args: string[]): Promise<number> {
  console.log(`\n== ${script} ${args.join(" ")}`.trimEnd());
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", ...PERMISSIONS, new URL(script, import.meta.url).pathname, ...args],
    stdin: "null",
  }).spawn();
  return (await child.status).code;
}

const args = Deno.args.filter((arg) => arg !== "--");
const codes = [await run("./bulk_bench.ts", args), await run("./api_bench.ts", [])];
Deno.exit(codes.find((code) => code !== 0) ?? 0);
