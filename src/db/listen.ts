/**
 * One LISTEN connection of a process, shared by every channel it listens on (handlers per
 * channel, added before or after start). It is kept alive:
 * - a lost connection (error, end) is replaced, retrying with backoff (100 ms doubling to 5 s);
 * - a connection that stops answering without closing (half-open: a dead peer, a dropped
 *   NAT entry, a frozen proxy) delivers nothing and reports no error, so a round trip
 *   (`SELECT 1`) runs every `checkMs`, and a connection that does not answer within
 *   `checkMs` is replaced too. Silence is detected within 2 x checkMs.
 * NOTIFYs sent while no connection listened are gone (the database state is not): after a
 * replacement the reconnect listeners run, so subscribers re-read.
 */
import pg from "pg";
import { keepAliveOptions } from "./database.ts";
import { errorMessage } from "../guards.ts";

export interface ListenOptions {
  /** application_name seen in pg_stat_activity. */
  applicationName: string;
  /** Interval of the liveness round trip, and how long it may take. */
  checkMs: number;
  /** TCP keepalive idle time (default DEFAULT_KEEPALIVE_MS). */
  keepAliveMs?: number;
  /** Connection problems, for the log. */
  onError?: (message: string) => void;
}

type Handler = (payload: string) => void;

const FIRST_RECONNECT_DELAY_MS = 100;
const MAX_RECONNECT_DELAY_MS = 5000;

export class ListenConnection {
  #handlers = new Map<string, Set<Handler>>();
  #reconnectListeners = new Set<() => void>();
  #client: pg.Client | null = null;
  #check: ReturnType<typeof setTimeout> | undefined;
  #reconnect: ReturnType<typeof setTimeout> | undefined;
  #reconnectDelayMs = FIRST_RECONNECT_DELAY_MS;
  #stopped = false;

  constructor(private readonly url: string, private readonly options: ListenOptions) {}

  /** Calls `handler` with the payload of every NOTIFY on `channel`; returns the unsubscribe function. */
  on(channel: string, handler: Handler): () => void {
    const handlers = this.#handlers.get(channel) ?? new Set();
    const first = handlers.size === 0;
    handlers.add(handler);
    this.#handlers.set(channel, handlers);
    if (first && this.#client) {
      const client = this.#client;
      client.query(`LISTEN ${pg.escapeIdentifier(channel)}`).catch((error) => this.#lost(client, error.message));
    }
    return () => handlers.delete(handler);
  }

  /** Calls `listener` each time a replacement connection listens again. */
  onReconnect(listener: () => void): () => void {
    this.#reconnectListeners.add(listener);
    return () => this.#reconnectListeners.delete(listener);
  }

  /** Connects and listens; rejects when the first connection cannot be made. */
  async start(): Promise<void> {
    const client = new pg.Client({
      connectionString: this.url,
      application_name: this.options.applicationName,
      ...keepAliveOptions(this.options.keepAliveMs),
    });
    client.on("notification", (message) => {
      this.#handlers.get(message.channel)?.forEach((handler) => handler(message.payload ?? ""));
    });
    client.on("error", (error) => this.#lost(client, error.message));
    client.on("end", () => this.#lost(client, "connection ended"));
    try {
      await client.connect();
      for (const channel of this.#handlers.keys()) await client.query(`LISTEN ${pg.escapeIdentifier(channel)}`);
    } catch (error) {
      close(client);
      throw error;
    }
    if (this.#stopped) return close(client); // stop() was called while connecting
    this.#client = client;
    this.#reconnectDelayMs = FIRST_RECONNECT_DELAY_MS;
    this.#scheduleCheck(client);
  }

  /** The next liveness round trip, `checkMs` after the previous one answered. */
  #scheduleCheck(client: pg.Client): void {
    this.#check = setTimeout(async () => {
      if (this.#client !== client) return;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const answered = await Promise.race([
        client.query("SELECT 1").then(() => true, () => false),
        new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), this.options.checkMs))),
      ]);
      clearTimeout(timer);
      if (answered) this.#scheduleCheck(client);
      else this.#lost(client, `no answer to the liveness check within ${this.options.checkMs} ms`);
    }, this.options.checkMs);
  }

  /** The live connection failed or went silent: drop it and connect a new one. */
  #lost(client: pg.Client, reason: string): void {
    if (this.#stopped || this.#client !== client) return;
    this.options.onError?.(`LISTEN connection lost (${reason}); reconnecting`);
    this.#client = null;
    clearTimeout(this.#check);
    close(client);
    this.#scheduleReconnect();
  }

  #scheduleReconnect(): void {
    const delay = this.#reconnectDelayMs;
    this.#reconnectDelayMs = Math.min(delay * 2, MAX_RECONNECT_DELAY_MS);
    this.#reconnect = setTimeout(async () => {
      if (this.#stopped) return;
      try {
        await this.start();
      } catch (error) {
        this.options.onError?.(`LISTEN reconnect failed: ${errorMessage(error)}`);
        this.#scheduleReconnect();
        return;
      }
      this.#reconnectListeners.forEach((listener) => listener());
    }, delay);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#check);
    clearTimeout(this.#reconnect);
    const client = this.#client;
    this.#client = null;
    if (!client) return;
    // A graceful goodbye, but never waiting on a peer that has gone silent.
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      client.end().catch(() => {}),
      new Promise<void>((resolve) => (timer = setTimeout(resolve, this.options.checkMs))),
    ]);
    clearTimeout(timer);
    client.connection.stream.destroy();
  }
}

/**
 * Ends a client without waiting for the server: on a half-open connection the goodbye is
 * never answered, so the socket is destroyed right after (which also settles end()).
 */
function close(client: pg.Client): void {
  client.end().catch(() => {});
  client.connection.stream.destroy();
}
