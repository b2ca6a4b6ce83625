/** The /metrics and /health listener of a `deno task worker` process (METRICS_PORT), which has no API. */
import { log } from "../log.ts";
import { measured, metricsResponse } from "./http.ts";

export interface MetricsServer {
  port: number;
  shutdown(): Promise<void>;
}

export function serveMetrics(host: string, port: number): Promise<MetricsServer> {
  return new Promise((resolve) => {
    const server = Deno.serve({
      hostname: host,
      port,
      onListen: (addr) => {
        log.info("metrics", `metrics on http://${addr.hostname}:${addr.port}/metrics`);
        resolve({ port: addr.port, shutdown: () => server.shutdown() });
      },
    }, (request) => {
      const { pathname } = new URL(request.url);
      return measured(pathname, async () => {
        if (pathname === "/metrics") return await metricsResponse();
        if (pathname === "/health") return Response.json({ status: "ok" });
        return new Response("Not found: this port serves /metrics and /health", { status: 404 });
      });
    });
  });
}
