/** Real clients: GraphQL over HTTP (fetch) and over WebSocket (graphql-ws createClient). */
import type { TypedDocumentNode } from "@graphql-typed-document-node/core";
import { type DocumentNode, print } from "graphql";
import { type Client, createClient } from "graphql-ws";

export interface GraphQLResponse<T = Record<string, unknown>> {
  status: number;
  data?: T | null;
  errors?: { message: string; path?: string[]; extensions?: Record<string, unknown> }[];
  /** The cost report every result carries (src/graphql/cost-throttle.ts). */
  extensions?: Record<string, unknown>;
}

/**
 * POSTs a query; `token` null sends no Authorization header. `T` defaults to `any` so a test
 * can walk an untyped result; codegen-typed documents (TypedDocumentNode) give a real type.
 */
// deno-lint-ignore no-explicit-any
export async function gql<T = any, V = Record<string, unknown>>(
  url: string,
  token: string | null,
  query: string | DocumentNode | TypedDocumentNode<T, V>,
  variables?: V,
): Promise<GraphQLResponse<T>> {
  const response = await fetch(url, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      ...(token !== null && { authorization: `Bearer ${token}` }),
    },
    body: JSON.stringify({ query: typeof query === "string" ? query : print(query), variables }),
  });
  const body = await response.json();
  return { status: response.status, ...body };
}

/** A graphql-ws client; close it with `dispose()` or `await using`. Connection errors reject lazily. */
export function wsClient(
  url: string,
  token: string | null,
  options: { lazy?: boolean } = {},
): Client & AsyncDisposable {
  const client = createClient({
    url,
    lazy: options.lazy ?? true,
    retryAttempts: 0,
    connectionParams: token === null ? {} : { authorization: `Bearer ${token}` },
  });
  // `await using client = wsClient(...)` closes its socket when the scope ends.
  return Object.assign(client, { [Symbol.asyncDispose]: async () => await client.dispose() });
}

/** Collects a subscription's events until it completes (or `until` returns true). */
export function collect<T>(
  client: Client,
  query: string,
  variables: Record<string, unknown>,
  options: { until?: (event: T) => boolean; timeoutMs?: number } = {},
): Promise<T[]> {
  return new Promise((resolve, reject) => {
    const events: T[] = [];
    const timer = setTimeout(() => {
      unsubscribe();
      reject(new Error(`subscription timed out after ${events.length} events: ${JSON.stringify(events.at(-1))}`));
    }, options.timeoutMs ?? 20_000);
    const unsubscribe = client.subscribe<T>({ query, variables }, {
      next: (value) => {
        if (value.errors) {
          clearTimeout(timer);
          reject(new Error(JSON.stringify(value.errors)));
          return;
        }
        events.push(value.data as T);
        if (options.until?.(value.data as T)) {
          clearTimeout(timer);
          unsubscribe();
          resolve(events);
        }
      },
      error: (error) => {
        clearTimeout(timer);
        reject(error);
      },
      complete: () => {
        clearTimeout(timer);
        resolve(events);
      },
    });
  });
}

/** The first thing a subscribe over `client` gets back: a result, or the error it ends with. */
export function firstAnswer(client: Client, query: string, timeoutMs = 10_000): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no answer over WebSocket within ${timeoutMs} ms`)), timeoutMs);
    const settle = (value: unknown) => {
      clearTimeout(timer);
      resolve(value);
    };
    client.subscribe({ query }, { next: settle, error: settle, complete: () => {} });
  });
}
