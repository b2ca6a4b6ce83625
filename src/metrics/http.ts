/**
 * HTTP-side metrics: requests by route, status and GraphQL operation name (with their
 * duration), open graphql-ws sockets and SSE streams, active subscriptions, and the /metrics
 * route itself.
 *
 * Operation names are a label only when they are one of the operations of the committed
 * client documents (src/clients/operations, the dashboard and CLI use them) or GraphiQL's
 * introspection; any other name becomes "other" and a request without one "none", so a client
 * cannot grow the label set (a name could even hold an id).
 */
import { AsyncLocalStorage } from "node:async_hooks";
import type { Plugin } from "graphql-yoga";
import { type DocumentNode, getOperationAST, Kind } from "graphql";
import * as clientDocuments from "../clients/generated/graphql.ts";
import { httpDuration, httpRequests, registry, sseStreams, subscriptions, wsSockets } from "./registry.ts";

const KNOWN_OPERATIONS: ReadonlySet<string> = new Set([
  "IntrospectionQuery",
  ...Object.values(clientDocuments).flatMap((value) =>
    typeof value === "object" && value !== null && "definitions" in value
      ? value.definitions.flatMap((d) => (d.kind === Kind.OPERATION_DEFINITION && d.name ? [d.name.value] : []))
      : []
  ),
]);

/** The bounded `operation` label for a request's GraphQL operation name. */
export function operationLabel(name: string | null | undefined): string {
  if (!name) return "none";
  return KNOWN_OPERATIONS.has(name) ? name : "other";
}

/** The bounded `route` label: the fixed paths, the download route's pattern, else "other". */
export function routeLabel(pathname: string): string {
  if (["/graphql", "/health", "/ready", "/metrics"].includes(pathname)) return pathname;
  // /dashboard only redirects to /console now: one label for both.
  if (/^\/(console|dashboard)(\/|$)/.test(pathname)) return "/console";
  if (/^\/bulk-operations\/[^/]+\/items\.(jsonl|csv)$/.test(pathname)) return "/bulk-operations/:id/items";
  return "other";
}

/** What one HTTP request learns while it is handled: its GraphQL operation name (set by the plugin). */
export interface RequestScope {
  operationName?: string;
}

const requestScope = new AsyncLocalStorage<RequestScope>();

/** Handles a request in its own scope and records it (route, status, operation name, duration). */
export async function measured(pathname: string, handle: (scope: RequestScope) => Promise<Response>) {
  const started = performance.now();
  const scope: RequestScope = {};
  let status = 500; // a thrown handler becomes Deno.serve's 500
  try {
    const response = await requestScope.run(scope, () => handle(scope));
    status = response.status;
    return response;
  } finally {
    const labels = {
      route: routeLabel(pathname),
      status: String(status),
      operation: operationLabel(scope.operationName),
    };
    httpRequests.inc(labels);
    httpDuration.observe(labels, (performance.now() - started) / 1000);
  }
}

/** The executed operation's name (the document may hold several; operationName picks one). */
function noteOperationName(args: { document: DocumentNode; operationName?: string | null }): void {
  const scope = requestScope.getStore();
  if (scope) scope.operationName = getOperationAST(args.document, args.operationName)?.name?.value;
}

/**
 * Yoga/envelop plugin: notes each HTTP request's operation name in its scope (for the label), and
 * counts active subscriptions on every transport (graphql-ws runs through the same envelop).
 */
export function useRequestMetrics(): Plugin {
  return {
    onExecute({ args }) {
      noteOperationName(args);
    },
    onSubscribe({ args }) {
      noteOperationName(args);
      return {
        onSubscribeResult({ result }) {
          if (!(typeof result === "object" && result !== null && Symbol.asyncIterator in result)) return;
          subscriptions.inc();
          let ended = false;
          return {
            onEnd() {
              if (!ended) subscriptions.dec();
              ended = true;
            },
          };
        },
      };
    },
  };
}

/** Counts an SSE response as open until its stream ends or the client goes away. */
export function countSseStream(response: Response): Response {
  if (!response.body || !response.headers.get("content-type")?.startsWith("text/event-stream")) return response;
  const reader = response.body.getReader();
  sseStreams.inc();
  let open = true;
  const close = () => {
    if (open) sseStreams.dec();
    open = false;
  };
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const { done, value } = await reader.read();
        if (done) {
          close();
          controller.close();
        } else controller.enqueue(value);
      } catch (error) {
        close();
        controller.error(error);
      }
    },
    async cancel(reason) {
      close();
      await reader.cancel(reason);
    },
  });
  return new Response(body, { status: response.status, statusText: response.statusText, headers: response.headers });
}

/** Counts a graphql-ws WebSocket as open from its open event to its close event. */
export function trackSocket(socket: WebSocket): void {
  socket.addEventListener("open", () => {
    wsSockets.inc();
    socket.addEventListener("close", () => wsSockets.dec(), { once: true });
  }, { once: true });
}

/** GET /metrics: the process registry in the Prometheus text format. */
export async function metricsResponse(): Promise<Response> {
  return new Response(await registry.metrics(), { headers: { "content-type": registry.contentType } });
}
