/**
 * The process's Prometheus registry (prom-client) and every metric it exposes on /metrics.
 * One registry per process: the API process and each `deno task worker` process scrape their
 * own. Worker threads (Deno Web Workers) are separate isolates with their own copy of this
 * module that nobody scrapes: what threads do reaches this registry as the chunk reports
 * they already post to the pool (see ./engine.ts), and queue state is read from the database
 * at scrape time (./database.ts). docs/operations.md lists every metric.
 *
 * Labels are bounded: kinds, actions, statuses, outcomes, item codes, routes and the
 * operation names of the committed client documents; never an id.
 */
import { Counter, Gauge, Histogram, Registry } from "prom-client";

export const registry = new Registry();

/** Seconds: a chunk of 2,000 items takes ~50-100 ms on the reference machine (docs/performance.md). */
const CHUNK_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const HTTP_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export const operationsStarted = new Counter({
  name: "bulk_operations_started_total",
  help: "Bulk operations created by this process, by kind, action and the status they started in.",
  labelNames: ["kind", "action", "status"] as const,
  registers: [registry],
});

export const operationsFinished = new Counter({
  name: "bulk_operations_finished_total",
  help: "Bulk operations that reached a terminal status in a transaction of this process.",
  labelNames: ["kind", "action", "status"] as const,
  registers: [registry],
});

export const itemsProcessed = new Counter({
  name: "bulk_items_total",
  help: "Items ended by this process's workers (or its cancels), by action, outcome and item code.",
  labelNames: ["action", "outcome", "code"] as const,
  registers: [registry],
});

export const chunkDuration = new Histogram({
  name: "bulk_chunk_duration_seconds",
  help: "Wall time of a committed chunk, claim to commit, by action.",
  labelNames: ["action"] as const,
  buckets: CHUNK_BUCKETS,
  registers: [registry],
});

export const leasesRescued = new Counter({
  name: "bulk_leases_rescued_total",
  help: "Expired job leases this process's rescuer put back in the queue (a worker died or hung).",
  registers: [registry],
});

export const wsSockets = new Gauge({
  name: "graphql_ws_sockets_open",
  help: "Open graphql-ws WebSocket connections.",
  registers: [registry],
});

export const sseStreams = new Gauge({
  name: "graphql_sse_streams_open",
  help: "Open Server-Sent Events responses (GraphQL subscriptions over SSE).",
  registers: [registry],
});

export const subscriptions = new Gauge({
  name: "graphql_subscriptions_active",
  help: "Active GraphQL subscriptions, over graphql-ws and SSE alike.",
  registers: [registry],
});

export const subscriptionEventExecutions = new Counter({
  name: "graphql_subscription_event_executions_total",
  help: "GraphQL executions of subscription events; subscribers of one event with the same document, variables " +
    "and viewer share one (src/graphql/shared-events.ts).",
  registers: [registry],
});

export const wsPayloadSerializations = new Counter({
  name: "graphql_ws_next_payload_serializations_total",
  help: "JSON serialisations of graphql-ws `next` payloads; the sockets sent one shared result serialise it once " +
    "(src/graphql/ws.ts).",
  registers: [registry],
});

export const httpRequests = new Counter({
  name: "http_requests_total",
  help: "HTTP requests answered, by route, status and GraphQL operation name.",
  labelNames: ["route", "status", "operation"] as const,
  registers: [registry],
});

export const httpDuration = new Histogram({
  name: "http_request_duration_seconds",
  help: "Time to the response headers (an SSE stream counts until it starts), by route, status and operation.",
  labelNames: ["route", "status", "operation"] as const,
  buckets: HTTP_BUCKETS,
  registers: [registry],
});

export const deliveryResults = new Counter({
  name: "notification_deliveries_total",
  help: "Notification delivery attempts recorded by this process, by channel (webhook, email) and result: delivered, " +
    "retry (failed, tried again later), failed (given up), disabled (the failure disabled the endpoint), " +
    "released (not sent: this process's configuration cannot send it).",
  labelNames: ["channel", "result"] as const,
  registers: [registry],
});
