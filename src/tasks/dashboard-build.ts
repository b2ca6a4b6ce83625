/**
 * Bundles the dashboard's browser code (src/dashboard/app.ts with graphql-ws, graphql's
 * printer and the generated documents) into one ES module with `deno bundle`.
 *
 * The server does this itself on the first request for /dashboard/app.js and keeps the
 * result in memory (src/http/dashboard.ts), so `deno task start` and the tests always serve
 * the current sources and nothing built is committed. `deno task dashboard:build` runs the
 * same bundler to a file (default dist/dashboard/app.js), e.g. to check the bundle or to
 * serve it from elsewhere:
 *
 *   deno task dashboard:build [--out dist/dashboard/app.js]
 */

export const ENTRY = new URL("./app.ts", import.meta.url);

/** The bundled JavaScript; rejects with deno's message when bundling fails. */
export async function bundleDashboard(options: { minify?: boolean } = {}): Promise<string> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: [
      "bundle",
      "--quiet",
      "--platform",
      "browser",
      ...(options.minify === false ? [] : ["--minify"]),
      "--config",
      new URL("../../deno.json", import.meta.url).pathname,
      ENTRY.pathname,
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!output.success) {
    throw new Error(`deno bundle failed (${output.code}): ${new TextDecoder().decode(output.stderr).trim()}`);
  }
  return new TextDecoder().decode(output.stdout);
}

if (import.meta.main) {
  const at = Deno.args.indexOf("--out");
  const out = at >= 0 ? Deno.args[at + 1] : "dist/dashboard/app.js";
  const started = performance.now();
  const code = await bundleDashboard();
  await Deno.mkdir(new URL(".", new URL(out, `file://${Deno.cwd()}/`)), { recursive: true });
  await Deno.writeTextFile(out, code);
  console.log(`${out}: ${(code.length / 1024).toFixed(1)} KiB in ${Math.round(performance.now() - started)} ms`);
}
