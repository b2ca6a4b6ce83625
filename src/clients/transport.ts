/**
 * The clients' transport, typed by the generated documents (src/clients/generated/): queries
 * and mutations over HTTP (fetch), subscriptions over graphql-ws. Runs in Deno (the CLI, the
 * tests) and in the browser (the dashboard bundle) alike: no Deno APIs here.
 */
import type { TypedDocumentNode } from "@graphql-typed-document-node/core";
import { type DocumentNode, print } from "graphql";
import { type Client, type ClientOptions, createClient } from "graphql-ws";
import { fieldOf, stringField } from "../guards.ts";

export interface GraphQLErrorShape {
  message: string;
  path?: readonly (string | number)[];
  extensions?: Record<string, unknown>;
}

/** The server answered with `errors` (or not with GraphQL at all). */
export class GraphQLRequestError extends Error {
  constructor(readonly errors: readonly GraphQLErrorShape[], readonly status?: number) {
    super(errors.map((e) => e.message).join("; ") || `HTTP ${status}`);
    this.name = "GraphQLRequestError";
  }

  /** The first error's `extensions.code`, e.g. UNAUTHENTICATED. */
  get code(): string | undefined {
    const code = this.errors[0]?.extensions?.code;
    return typeof code === "string" ? code : undefined;
  }
}

const printed = new WeakMap<DocumentNode, string>();

/** The document's source text (printed once per document). */
export function queryText(document: DocumentNode): string {
  let text = printed.get(document);
  if (text === undefined) {
    text = print(document);
    printed.set(document, text);
  }
  return text;
}

/**
 * What identifies a document to the server: its hash when codegen embedded one (every
 * generated document: the server knows them, and with GRAPHQL_TRUSTED_DOCUMENTS_ONLY=1 runs
 * nothing else), otherwise its text.
 */
export function documentRef(document: DocumentNode): { query: string; extensions?: Record<string, unknown> } {
  const hash = fieldOf(fieldOf(document, "__meta__"), "hash");
  if (typeof hash !== "string") return { query: queryText(document) };
  return { query: "", extensions: { persistedQuery: { version: 1, sha256Hash: hash } } };
}

/** http://host:port[/graphql] -> ws://host:port/graphql (https -> wss). */
export function graphqlUrls(base: string): { http: string; ws: string } {
  const url = new URL(base);
  if (!url.pathname.endsWith("/graphql")) url.pathname = url.pathname.replace(/\/*$/, "/graphql");
  const http = url.toString();
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  return { http, ws: url.toString() };
}

/** Sends a query or mutation; resolves with `data`, rejects with GraphQLRequestError on any error. */
export async function request<T, V>(
  httpUrl: string,
  token: string,
  document: TypedDocumentNode<T, V>,
  variables: V,
  options: { signal?: AbortSignal } = {},
): Promise<T> {
  const response = await fetch(httpUrl, {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/json", authorization: `Bearer ${token}` },
    // An empty query is left out: the persisted-operations plugin wants either a text or a hash.
    body: JSON.stringify({ ...withoutEmptyQuery(documentRef(document)), variables }),
    signal: options.signal,
  });
  let body: { data?: T | null; errors?: GraphQLErrorShape[] };
  try {
    body = await response.json();
  } catch {
    throw new GraphQLRequestError([{ message: `HTTP ${response.status} ${response.statusText}` }], response.status);
  }
  if (body.errors?.length) throw new GraphQLRequestError(body.errors, response.status);
  if (body.data === undefined || body.data === null) {
    throw new GraphQLRequestError([{ message: `HTTP ${response.status}: no data` }], response.status);
  }
  return body.data;
}

/** A graphql-ws client that sends the token in connection_init. */
export function connect(wsUrl: string, token: string, options: Partial<ClientOptions> = {}): Client {
  return createClient({
    url: wsUrl,
    lazy: true,
    retryAttempts: 0,
    connectionParams: { authorization: `Bearer ${token}` },
    ...options,
  });
}

export interface Sink<T> {
  next(data: T): void;
  error(error: unknown): void;
  complete(): void;
}

/** Subscribes with a typed document; GraphQL errors in an event go to `error`. Returns the unsubscribe. */
export function subscribe<T, V extends Record<string, unknown>>(
  client: Client,
  document: TypedDocumentNode<T, V>,
  variables: V,
  sink: Sink<T>,
): () => void {
  let done = false;
  const unsubscribe = client.subscribe<T>(
    // graphql-ws requires a `query` string; "" with the hash in extensions (src/graphql/ws.ts resolves it).
    { ...documentRef(document), variables },
    {
      next(value) {
        if (done) return;
        if (value.errors?.length) {
          done = true;
          unsubscribe();
          sink.error(new GraphQLRequestError(value.errors));
          return;
        }
        if (value.data) sink.next(value.data);
      },
      error(error) {
        if (done) return;
        done = true;
        sink.error(closeError(error));
      },
      complete() {
        if (done) return;
        done = true;
        sink.complete();
      },
    },
  );
  return () => {
    done = true;
    unsubscribe();
  };
}

function withoutEmptyQuery(ref: { query: string; extensions?: Record<string, unknown> }) {
  return ref.query === "" ? { extensions: ref.extensions } : ref;
}

/** graphql-ws reports a refused connection as a CloseEvent or an array of GraphQL errors. */
export function closeError(error: unknown): Error {
  if (error instanceof Error) return error;
  if (Array.isArray(error)) {
    return new GraphQLRequestError(error.map((e) => ({ message: stringField(e, "message") ?? String(e) })));
  }
  const code = fieldOf(error, "code");
  if (typeof code === "number") {
    const reason = stringField(error, "reason");
    const hint = code === 4401 || code === 4403 ? " (check the token)" : "";
    return new Error(`WebSocket closed ${code}${reason ? `: ${reason}` : ""}${hint}`);
  }
  return new Error(String(error));
}
