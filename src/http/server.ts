/** One Deno.serve for everything: /graphql (HTTP, SSE, WebSocket), /health and /ready. */
import type { Services } from "../graphql/context.ts";
import { limitBody } from "./body-limit.ts";
import { ConnectionRegistry } from "./connections.ts";
import { originAllowed } from "./cors.ts";
import { peerAddress } from "./origin.ts";
import { countedStream, wantsStream } from "./streams.ts";
import { log } from "../log.ts";
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
  /** Open sockets and streams per token (caps, token sweep; metrics can read its counts). */
  connections: ConnectionRegistry;
  shutdown(): Promise<void>;
}

const json = (body: unknown, status = 200) =>
  new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });

export function startHttp(services: Services, options: HttpOptions): Promise<HttpServer> {
  const { config } = services;
  const yoga = createYogaServer(services);
  const connections = new ConnectionRegistry({
    socket: config.wsMaxSocketsPerToken,
    stream: config.sseMaxStreamsPerToken,
  });
  const ws = createWsHandler(yoga, services, connections);

  async function ready(): Promise<Response> {
    try {
      await sql`SELECT 1`.execute(services.db);
      const pending = await migrationsPending(services.db, options.migrations);
      return pending.length === 0
        ? json({ status: "ready" })
        : json({ status: "not ready", pendingMigrations: pending }, 503);
    } catch (error) {
      // The raw message may name hosts, users or databases: logged here, not shown to callers.
      log.warn("ready", `database check failed: ${(error as Error).message}`);
      return json({ status: "not ready", error: "database unavailable" }, 503);
    }
  }

  async function handle(request: Request, info: Deno.ServeHandlerInfo): Promise<Response> {
    const url = new URL(request.url);
    const clientIp = peerAddress(info);
    if (url.pathname === "/health") return json({ status: "ok" });
    if (url.pathname === "/ready") return await ready();
    if (url.pathname === "/graphql" && request.headers.get("upgrade")?.toLowerCase() === "websocket") {
      // Browsers apply no CORS to WebSockets: the allowlist is checked on the upgrade itself.
      if (!originAllowed(config, request.headers.get("origin"), url.origin)) {
        return json({ error: "Origin not allowed." }, 403);
      }
      return ws(request, clientIp);
    }
    for (const route of options.routes ?? []) {
      const response = await route(request, url);
      if (response) return response;
    }
    const bounded = await limitBody(request, config.maxBodyBytes, config.bodyReadTimeoutMs);
    if (bounded instanceof Response) return bounded;
    if (wantsStream(bounded)) {
      return await countedStream(
        bounded,
        connections,
        config.sseMaxStreamsPerToken,
        (r) => yoga.fetch(r, { clientIp }),
      );
    }
    return await yoga.fetch(bounded, { clientIp });
  }

  return new Promise((resolve) => {
    const server = Deno.serve({
      port: options.port,
      hostname: options.host,
      onListen: ({ port, hostname }) => {
        const host = hostname === "0.0.0.0" ? "localhost" : hostname;
        const stopSweeping = connections.startSweeping(services.db, config.tokenSweepMs);
        resolve({
          url: `http://${host}:${port}`,
          connections,
          shutdown: async () => {
            stopSweeping();
            await server.shutdown();
          },
        });
      },
    }, handle);
  });
}
