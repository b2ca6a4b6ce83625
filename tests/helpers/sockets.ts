/**
 * Long-lived connections for the limit tests: a graphql-ws client over a real socket that connects
 * at once (reporting its ack or its close code), and an SSE subscription over fetch.
 */
import { type Client, createClient } from "graphql-ws";

/** A graphql-ws client that connects at once; `state` settles on the ack or on the close. */
export function socket(url: string, token: string | null) {
  let settle!: (outcome: { connected: true } | { connected: false; code: number; reason: string }) => void;
  const state = new Promise<{ connected: true } | { connected: false; code: number; reason: string }>((resolve) =>
    settle = resolve
  );
  let closeEvent: { code: number; reason: string } | null = null;
  let onClose: ((event: { code: number; reason: string }) => void) | null = null;
  const client: Client = createClient({
    url,
    lazy: false,
    retryAttempts: 0,
    connectionParams: token === null ? {} : { authorization: `Bearer ${token}` },
    on: {
      connected: () => settle({ connected: true }),
      closed: (event) => {
        const { code, reason } = event as CloseEvent;
        closeEvent = { code, reason };
        settle({ connected: false, code, reason });
        onClose?.(closeEvent);
      },
    },
    onNonLazyError: () => {},
  });
  return {
    client,
    state,
    /** Resolves with the close code once the server closed the socket. */
    closed: () =>
      new Promise<{ code: number; reason: string }>((resolve) => {
        if (closeEvent) resolve(closeEvent);
        else onClose = resolve;
      }),
    dispose: () => client.dispose(),
    /** `await using ws = socket(...)` disposes the client when the scope ends. */
    [Symbol.asyncDispose]: async () => await client.dispose(),
  };
}

/** POSTs a subscription asking for Yoga's SSE transport; resolves once the response headers arrive. */
export function openSse(url: string, token: string, query: string, signal?: AbortSignal): Promise<Response> {
  return fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", accept: "text/event-stream", authorization: `Bearer ${token}` },
    body: JSON.stringify({ query }),
    signal: signal ?? AbortSignal.timeout(30_000),
  });
}

/** An AbortController that `using` aborts when the scope ends: the SSE requests it signals end on every path. */
export function abortOnExit(): AbortController & Disposable {
  const controller = new AbortController();
  return Object.assign(controller, { [Symbol.dispose]: () => controller.abort() });
}
