/** One Deno.serve for everything: /graphql (HTTP, SSE, WebSocket), /health and /ready. */
import type { Services } from "../graphql/context.ts";
import { limitBody } from "./body-limit.ts";
import { createWsHandler } from "../graphql/ws.ts";
import { createYogaServer } from "../graphql/yoga.ts";
import { type Migration, migrationsPending } from "../db/migrate.ts";
import { sql } from "kysely";

export interface HttpOptions {
  port: number;
  host: string;
  migrations: Migration[];
  /** Extra routes tried before /graphql (e.g. downloads); return null to pass. */
  routes?: ((request: Request, url: URL) => Promise<Response | null> | Response | null)[];
}

export interface HttpServer {
  url: string;
  shutdown(): Promise<void>;
}

const json = (body: unknown, status = 200) =>
  new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });

export function startHttp(services: Services, options: HttpOptions): Promise<HttpServer> {
  const yoga = createYogaServer(services);
  const ws = createWsHandler(yoga, services);

  async function ready(): Promise<Response> {
    try {
      await sql`SELECT 1`.execute(services.db);
      const pending = await migrationsPending(services.db, options.migrations);
      return pending.length === 0
        ? json({ status: "ready" })
        : json({ status: "not ready", pendingMigrations: pending }, 503);
    } catch (error) {
      return json({ status: "not ready", error: (error as Error).message }, 503);
    }
  }

  async function handle(request: Request): Promise<Response> {
    const url = new URL(request.url);
    if (url.pathname === "/health") return json({ status: "ok" });
    if (url.pathname === "/ready") return await ready();
    if (url.pathname === "/graphql" && request.headers.get("upgrade")?.toLowerCase() === "websocket") {
      return ws(request);
    }
    for (const route of options.routes ?? []) {
      const response = await route(request, url);
      if (response) return response;
    }
    const bounded = await limitBody(request, services.config.maxBodyBytes);
    return bounded instanceof Response ? bounded : await yoga.fetch(bounded);
  }

  return new Promise((resolve) => {
    const server = Deno.serve({
      port: options.port,
      hostname: options.host,
      onListen: ({ port, hostname }) => {
        const host = hostname === "0.0.0.0" ? "localhost" : hostname;
        resolve({ url: `http://${host}:${port}`, shutdown: () => server.shutdown() });
      },
    }, handle);
  });
}
