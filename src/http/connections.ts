/**
 * Long-lived connections (graphql-ws sockets, SSE streams) counted per token, in one place:
 * the per-token caps are checked here, metrics can read `count()`, and the token sweep
 * closes every connection whose token was revoked or expired.
 *
 * The sweep instead of a NOTIFY per revocation: one indexed query per interval covers every
 * open connection of the process (revoked, expired, deleted, or a token that never existed)
 * and works the same with several API processes and after a lost LISTEN connection; the
 * bound is TOKEN_SWEEP_MS (default 5 s, docs/security.md).
 */
import type { Db } from "../db/database.ts";
import { liveTokenKeys } from "../auth/tokens.ts";
import { log } from "../log.ts";
import { errorMessage } from "../guards.ts";

export type ConnectionKind = "socket" | "stream";

/** Closes one connection because its token stopped working. */
export type CloseForToken = () => void;

interface Entry {
  kind: ConnectionKind;
  close: CloseForToken;
}

export class ConnectionRegistry {
  #byToken = new Map<string, Set<Entry>>();

  constructor(private readonly caps: Record<ConnectionKind, number>) {}

  /**
   * Registers a connection of the token (its key, src/auth/tokens.ts tokenKey), or returns
   * null when the token already holds its cap of this kind. Call the returned release once
   * the connection ends.
   */
  open(kind: ConnectionKind, tokenKey: string, close: CloseForToken): (() => void) | null {
    const entries = this.#byToken.get(tokenKey) ?? new Set<Entry>();
    let held = 0;
    for (const entry of entries) if (entry.kind === kind) held++;
    if (held >= this.caps[kind]) return null;
    const entry = { kind, close };
    entries.add(entry);
    this.#byToken.set(tokenKey, entries);
    return () => {
      entries.delete(entry);
      if (entries.size === 0 && this.#byToken.get(tokenKey) === entries) this.#byToken.delete(tokenKey);
    };
  }

  /** Open connections of a kind (for metrics and tests). */
  count(kind: ConnectionKind): number {
    let total = 0;
    for (const entries of this.#byToken.values()) for (const entry of entries) if (entry.kind === kind) total++;
    return total;
  }

  /** Closes every connection whose token is not in `live`; returns how many it closed. */
  closeAllBut(live: Set<string>): number {
    let closed = 0;
    for (const [key, entries] of this.#byToken) {
      if (live.has(key)) continue;
      for (const entry of [...entries]) {
        entry.close();
        closed++;
      }
    }
    return closed;
  }

  /** One query for every open connection's token; closes those whose token stopped working. */
  async sweep(db: Db): Promise<number> {
    if (this.#byToken.size === 0) return 0;
    return this.closeAllBut(await liveTokenKeys(db, [...this.#byToken.keys()]));
  }

  /** Sweeps every `intervalMs` until the returned stop function is called. */
  startSweeping(db: Db, intervalMs: number): () => void {
    let running = false;
    const timer = setInterval(async () => {
      if (running) return; // a slow database: never two sweeps at once
      running = true;
      try {
        const closed = await this.sweep(db);
        if (closed > 0) log.info("auth", `closed ${closed} connection(s) of revoked or expired tokens`);
      } catch (error) {
        log.warn("auth", `token sweep failed: ${errorMessage(error)}`);
      } finally {
        running = false;
      }
    }, intervalMs);
    return () => clearInterval(timer);
  }
}

/** The key connections without a token are counted under (their sweep closes them). */
export const ANONYMOUS_KEY = "anonymous";
