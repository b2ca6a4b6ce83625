/**
 * GET /console: the bulk-operations console (src/dashboard/). Static HTML and CSS, and
 * /console/app.js bundled from the TypeScript sources on the first request and kept in
 * memory for the life of the process (a fraction of a second, once), so the server always
 * serves the current sources and nothing built is committed. /dashboard, where the first
 * version lived, redirects to /console.
 */
import { hasKey } from "../guards.ts";

type Route = (request: Request, url: URL) => Promise<Response | null>;

const PREFIX = "/console";
const FILES = {
  [PREFIX]: { file: "index.html", type: "text/html; charset=utf-8" },
  [`${PREFIX}/`]: { file: "index.html", type: "text/html; charset=utf-8" },
  [`${PREFIX}/style.css`]: { file: "style.css", type: "text/css; charset=utf-8" },
} as const;
const OLD_PREFIX = "/dashboard";

const under = (path: string, prefix: string) => path === prefix || path.startsWith(`${prefix}/`);

/** Same-origin only: scripts, styles and connections (HTTP and WebSocket) to this server. */
const SECURITY_HEADERS = {
  "content-security-policy":
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; " +
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
};

const ENTRY = new URL("../dashboard/app.ts", import.meta.url);

/**
 * The console's browser code (app.ts with graphql-ws, graphql's printer and the generated
 * documents) as one minified ES module, by `deno bundle`; rejects with deno's message.
 */
export async function bundleDashboard(): Promise<string> {
  // `deno` from PATH, not Deno.execPath(): the tasks' `--allow-run=deno` is resolved through PATH
  // (/usr/bin/deno here) and a symlink's target (/usr/lib/node_modules/deno/deno) is refused.
  const output = await new Deno.Command("deno", {
    args: [
      "bundle",
      "--quiet",
      "--platform",
      "browser",
      "--minify",
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

let bundle: Promise<string> | null = null;

/** The bundle, built once per process; a failed build is retried on the next request. */
function dashboardBundle(): Promise<string> {
  bundle ??= bundleDashboard().catch((error) => {
    bundle = null;
    throw error;
  });
  return bundle;
}

export function dashboardRoute(): Route {
  return async (request, url) => {
    const old = under(url.pathname, OLD_PREFIX);
    if (!old && !under(url.pathname, PREFIX)) return null;
    if (request.method !== "GET" && request.method !== "HEAD") {
      return new Response("Method Not Allowed", { status: 405, headers: { allow: "GET, HEAD" } });
    }
    const headers = { ...SECURITY_HEADERS, "cache-control": "no-cache" };
    // Relative: the same host and scheme the browser used (a proxy in front may rewrite both).
    if (old) return new Response(null, { status: 308, headers: { ...headers, location: PREFIX } });
    if (url.pathname === `${PREFIX}/app.js`) {
      try {
        const code = await dashboardBundle();
        return new Response(code, { headers: { ...headers, "content-type": "text/javascript; charset=utf-8" } });
      } catch (error) {
        console.error("[console] bundling failed:", error);
        return new Response(`console.error(${JSON.stringify(`console bundle failed: ${error}`)})`, {
          status: 500,
          headers: { ...headers, "content-type": "text/javascript; charset=utf-8" },
        });
      }
    }
    const entry = hasKey(FILES, url.pathname) ? FILES[url.pathname] : undefined;
    if (!entry) return new Response("Not Found", { status: 404, headers });
    const body = await Deno.readFile(new URL(`../dashboard/${entry.file}`, import.meta.url));
    return new Response(body, { headers: { ...headers, "content-type": entry.type } });
  };
}
