/**
 * `deno task dashboard:build [--out dist/dashboard/app.js]`: the dashboard's bundle written
 * to a file, with the bundler the server uses (src/http/dashboard.ts bundles on the first
 * request and keeps it in memory; nothing built is committed). CI runs it as a check; use the
 * file to serve the dashboard from elsewhere.
 */
import { bundleDashboard } from "../http/dashboard.ts";

if (import.meta.main) {
  const at = Deno.args.indexOf("--out");
  const out = at >= 0 ? Deno.args[at + 1] : "dist/dashboard/app.js";
  const started = performance.now();
  const code = await bundleDashboard();
  await Deno.mkdir(new URL(".", new URL(out, `file://${Deno.cwd()}/`)), { recursive: true });
  await Deno.writeTextFile(out, code);
  console.log(`${out}: ${(code.length / 1024).toFixed(1)} KiB in ${Math.round(performance.now() - started)} ms`);
}
