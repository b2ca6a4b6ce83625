/**
 * One signed-in console: the token, who it belongs to, what the server offers, and the one graphql-ws
 * connection every live view shares. The client retries for ever (a dropped socket is re-opened and graphql-ws
 * re-sends every active subscription); `onLive` reports "live" / "reconnecting" so the header can show it, and
 * `onReconnected` lets a page re-read what it shows over HTTP (nothing missed while offline stays stale).
 */
import type { TypedDocumentNode } from "@graphql-typed-document-node/core";
import type { Client } from "graphql-ws";
import { ConsoleSessionDocument, type ConsoleSessionQuery, type Role } from "../clients/generated/graphql.ts";
import { connect, GraphQLRequestError, request, type Sink, subscribe } from "../clients/transport.ts";

export type LiveState = "off" | "connecting" | "live" | "reconnecting";

/** What a role may do: the buttons of the rest are left out, not just refused by the server. */
export interface Permissions {
  /** Start operations, cancel, retry, roll back (AGENT and ADMIN). */
  run: boolean;
  /** Delete and restore, and cancel/roll back those (ADMIN). */
  admin: boolean;
}

export type User = ConsoleSessionQuery["users"][number];

export class Session {
  readonly client: Client;
  readonly user: ConsoleSessionQuery["viewer"]["user"];
  readonly tenant: string;
  readonly users: readonly User[];
  readonly can: Permissions;
  readonly #mutations: ReadonlySet<string>;
  readonly #reconnected = new Set<() => void>();
  #closed = false;

  private constructor(
    readonly token: string,
    readonly httpUrl: string,
    wsUrl: string,
    data: ConsoleSessionQuery,
    onLive: (state: LiveState) => void,
  ) {
    this.user = data.viewer.user;
    this.tenant = data.viewer.tenant.name;
    this.users = data.users;
    this.#mutations = new Set(data.mutations?.fields?.map((f) => f.name) ?? []);
    this.can = roleCan(this.user.role);
    let connections = 0;
    onLive("connecting");
    this.client = connect(wsUrl, token, {
      lazy: false,
      retryAttempts: Infinity,
      shouldRetry: () => true,
      on: {
        connected: () => {
          onLive("live");
          if (connections++ > 0) { for (const listener of this.#reconnected) listener(); }
        },
        closed: () => {
          if (!this.#closed) onLive("reconnecting");
        },
      },
    });
  }

  /** Reads who the token belongs to, then opens the socket; rejects with the server's reason. */
  static async open(token: string, base: URL, onLive: (state: LiveState) => void): Promise<Session> {
    const http = new URL("/graphql", base);
    const ws = new URL(http);
    ws.protocol = http.protocol === "https:" ? "wss:" : "ws:";
    const data = await request(http.toString(), token, ConsoleSessionDocument, {});
    return new Session(token, http.toString(), ws.toString(), data, onLive);
  }

  /** Whether the server has this root mutation (e.g. startBulkExport, built on another branch). */
  hasMutation(name: string): boolean {
    return this.#mutations.has(name);
  }

  query<T, V>(document: TypedDocumentNode<T, V>, variables: V, signal?: AbortSignal): Promise<T> {
    return request(this.httpUrl, this.token, document, variables, { signal });
  }

  subscribe<T, V extends Record<string, unknown>>(
    document: TypedDocumentNode<T, V>,
    variables: V,
    sink: Sink<T>,
  ): () => void {
    return subscribe(this.client, document, variables, sink);
  }

  /** Calls `listener` after each reconnection of the socket; returns the unregister. */
  onReconnected(listener: () => void): () => void {
    this.#reconnected.add(listener);
    return () => this.#reconnected.delete(listener);
  }

  /**
   * A download (ledger files, failed rows, an export): the server wants the token as a header, which a plain link
   * cannot send, so it is fetched and saved through a Blob URL, named `filename` or the server's
   * Content-Disposition name. Size limit: the whole file passes through one Blob, which the browser keeps in
   * memory or its blob store (Chromium: a few GB at most, less on a phone); for exports past a few hundred MB use
   * `curl -C -` or `deno task cli -- export` (docs/clients.md), which stream to disk and resume.
   */
  async download(path: string, filename?: string): Promise<void> {
    const response = await fetch(new URL(path, this.httpUrl), { headers: { authorization: `Bearer ${this.token}` } });
    if (!response.ok) throw new Error(`Download failed: HTTP ${response.status}`);
    const given = /filename="?([^";]+)"?/.exec(response.headers.get("content-disposition") ?? "")?.[1];
    const url = URL.createObjectURL(await response.blob());
    const link = Object.assign(document.createElement("a"), {
      href: url,
      download: filename ?? given ?? path.split("/").pop() ?? "download",
    });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
  }

  close(): void {
    this.#closed = true;
    void this.client.dispose();
  }
}

export function roleCan(role: Role): Permissions {
  return { run: role !== "VIEWER", admin: role === "ADMIN" };
}

/** A message for the page from any error a request can end with. */
export function describe(error: unknown): string {
  if (error instanceof GraphQLRequestError) {
    return error.code === "UNAUTHENTICATED" ? "The token was rejected." : error.message;
  }
  return error instanceof Error ? error.message : String(error);
}

/** userErrors as one line each. */
export const userErrorText = (errors: readonly { code: string; message: string }[]) =>
  errors.map((e) => `${e.code}: ${e.message}`).join("\n");
