/**
 * One Deno.serve for everything: /graphql (HTTP, SSE, WebSocket), /health, /ready and
 * /metrics. It listens on a private Unix socket behind the front door
 * (src/http/head-deadline.ts), which holds the public address and the header-read deadline. Every request gets an id (its X-Request-Id when well-formed, else a new UUID,
 * echoed in the response) that every log line it causes carries, is counted on /metrics, and
 * a /graphql request gets its own span (a child of the span Deno makes for the HTTP request
 * when OTEL_DENO=true).
 */
import { errorMessage } from "../guards.ts";
import type { Services } from "../graphql/context.ts";
import { limitBody } from "./body-limit.ts";
import { ConnectionRegistry } from "./connections.ts";
import { originAllowed } from "./cors.ts";
import { type FrontDoorThread, openFrontDoorThread } from "./door-thread.ts";
import { PEER_HEADER } from "./head-deadline.ts";
import { countedStream, wantsStream } from "./streams.ts";
import { log } from "../log.ts";
import { createWsHandler } from "../graphql/ws.ts";
import { createYogaServer } from "../graphql/yoga.ts";
import { type Migration, migrationsPending } from "../db/migrate.ts";
import { sql } from "kysely";
import { aliveWorkerCount } from "../bulk/worker-registry.ts";
import { withLogContext } from "../log.ts";
import { countSseStream, measured, metricsResponse, type RequestScope } from "../metrics/http.ts";
import { endAfter, tracer } from "../telemetry/tracing.ts";

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

/** A caller's X-Request-Id is kept when it is a plain token (it lands in logs); otherwise a new one. */
function requestIdOf(request: Request): string {
  const given = request.headers.get("x-request-id");
  return given && /^[A-Za-z0-9._-]{1,64}$/.test(given) ? given : crypto.randomUUID();
}

const isWebSocketUpgrade = (request: Request) => request.headers.get("upgrade")?.toLowerCase() === "websocket";

const json = (body: unknown, status = 200) =>
  new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });

export async function startHttp(services: Services, options: HttpOptions): Promise<HttpServer> {
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
      if (pending.length > 0) return json({ status: "not ready", pendingMigrations: pending }, 503);
      // Worker threads alive across all processes (a heartbeat within WORKER_STALE_MS). None
      // does not make the API unready: it still accepts operations, which wait for a worker.
      return json({ status: "ready", workers: await aliveWorkerCount(services.db) });
    } catch (error) {
      // The raw message may name hosts, users or databases: logged here, not shown to callers.
      log.warn("ready", `database check failed: ${errorMessage(error)}`);
      return json({ status: "not ready", error: "database unavailable" }, 503);
    }
  }

  async function handle(request: Request, url: URL, scope: RequestScope, clientIp: string | null): Promise<Response> {
    if (url.pathname === "/health") return json({ status: "ok" });
    if (url.pathname === "/ready") return await ready();
    if (url.pathname === "/metrics") return await metricsResponse();
    if (url.pathname === "/graphql" && isWebSocketUpgrade(request)) {
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
    const execute = (r: Request) => yoga.fetch(r, { clientIp });
    return await tracer.startActiveSpan("graphql.request", (span) =>
      endAfter(span, async () => {
        const response = countSseStream(
          wantsStream(bounded)
            ? await countedStream(bounded, connections, config.sseMaxStreamsPerToken, execute)
            : await execute(bounded),
        );
        span.setAttributes({
          "graphql.operation.name": scope.operationName ?? "",
          "http.response.status_code": response.status,
        });
        return response;
      }));
  }

  function serve(received: Request): Promise<Response> {
    // Deno.serve on a Unix socket names its requests http+unix://<Host>/..., whose URL origin is
    // "null" (the same-origin checks failed on it): handlers get the http URL the client used.
    // A WebSocket upgrade keeps Deno.serve's own Request, which Deno.upgradeWebSocket needs.
    const url = new URL(received.url.replace(/^http\+unix:/, "http:"));
    const request = isWebSocketUpgrade(received) ? received : new Request(url, received);
    // Set by the front door, which strips any copy a client sends (the Unix socket has no peer).
    const clientIp = request.headers.get(PEER_HEADER);
    const requestId = requestIdOf(request);
    return withLogContext({ request: requestId }, () =>
      measured(url.pathname, async (scope) => {
        const response = await handle(request, url, scope, clientIp);
        // A WebSocket upgrade's response headers are already sent.
        if (response.status !== 101) response.headers.set("x-request-id", requestId);
        return response;
      }));
  }

  // A directory of our own (mode 0700): no other local user can reach the inner server and
  // bypass the deadline or set the peer header.
  const socketDir = await Deno.makeTempDir({ prefix: "bulk-ops-http-" });
  const server = Deno.serve({ transport: "unix", path: `${socketDir}/api.sock`, onListen: () => {} }, serve);
  let door: FrontDoorThread;
  try {
    door = await openFrontDoorThread({
      hostname: options.host,
      port: options.port,
      upstreamPath: server.addr.path,
      headerTimeoutMs: config.headerReadTimeoutMs,
      bodyTimeoutMs: config.bodyReadTimeoutMs,
    }, config);
  } catch (error) {
    await server.shutdown();
    await Deno.remove(socketDir, { recursive: true });
    throw error;
  }
  const { port, hostname } = door;
  const host = hostname === "0.0.0.0" ? "localhost" : hostname;
  const stopSweeping = connections.startSweeping(services.db, config.tokenSweepMs);
  return {
    url: `http://${host}:${port}`,
    connections,
    shutdown: async () => {
      stopSweeping();
      await door.close();
      await server.shutdown();
      await door.terminate();
      await Deno.remove(socketDir, { recursive: true });
    },
  };
}
