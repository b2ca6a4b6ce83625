/**
 * The watch over one chunk in flight. It renews the job's lease (the heartbeat, every third
 * of the lease) and stops the chunk at once when it must not go on:
 * - the lease is gone (expired and rescued, so another worker may hold the job): whatever
 *   this chunk would commit, completeJob refuses at the end, and meanwhile it holds the row locks
 *   the new holder waits for;
 * - it ran longer than the maximum chunk run time.
 * Stopping = no further statement is sent (a Kysely plugin refuses it) and the one running is
 * cancelled with pg_cancel_backend on the chunk's own backend; the transaction rolls back.
 * The chunk runs on a connection reserved for it, whose backend pid is read once per chunk
 * (one `SELECT pg_backend_pid()`: p50 0.07 ms over loopback next to a 2,000-item chunk's
 * ~100 ms, docs/performance.md), so the cancel can never hit another session.
 */
import { type KyselyPlugin, sql } from "kysely";
import type { Db } from "../db/database.ts";
import { extendLease } from "./queue/extend-lease.ts";
import { type Job, LeaseLostError } from "./queue/job.ts";
import { errorMessage } from "../guards.ts";

/** A chunk ran past BULK_CHUNK_TIMEOUT_MS and was stopped: a failed attempt like any other. */
export class ChunkTimeoutError extends Error {
  constructor(jobId: string, timeoutMs: number) {
    super(`chunk of job ${jobId} ran longer than ${timeoutMs} ms and was stopped; it was rolled back`);
    this.name = "ChunkTimeoutError";
  }
}

export interface ChunkWatchSettings {
  leaseMs: number;
  chunkTimeoutMs: number;
}

export class ChunkWatch {
  #stopReason: Error | null = null;
  #backendPid: number | null = null;
  #finished = false;
  /** A heartbeat is in flight. */
  #beating = false;
  #cancelling: Promise<void> = Promise.resolve();
  /** Refuses every statement of the chunk once it was told to stop. */
  #plugin: KyselyPlugin = {
    transformQuery: (args) => {
      if (this.#stopReason) throw this.#stopReason;
      return args.node;
    },
    transformResult: (args) => Promise.resolve(args.result),
  };

  constructor(
    private readonly db: Db,
    private readonly job: Job,
    private readonly workerId: string,
    private readonly settings: ChunkWatchSettings,
    private readonly onError: (message: string) => void,
  ) {}

  /**
   * Runs `work` (the chunk's transaction) on a connection of its own under the watch. When
   * the watch stopped it, the chunk fails with the reason (LeaseLostError, ChunkTimeoutError).
   */
  async run<T>(work: (db: Db) => Promise<T>): Promise<T> {
    return await this.db.connection().execute(async (connection) => {
      const { rows } = await sql<{ pid: number }>`SELECT pg_backend_pid() AS pid`.execute(connection);
      this.#backendPid = rows[0].pid;
      const heartbeat = setInterval(() => this.#beat(), Math.max(100, Math.floor(this.settings.leaseMs / 3)));
      const deadline = setTimeout(
        () => this.#stop(new ChunkTimeoutError(this.job.id, this.settings.chunkTimeoutMs)),
        this.settings.chunkTimeoutMs,
      );
      try {
        return await work(connection.withPlugin(this.#plugin));
      } catch (error) {
        throw this.#stopReason ?? error;
      } finally {
        this.#finished = true;
        clearInterval(heartbeat);
        clearTimeout(deadline);
        // The connection goes back to the pool only after a cancel in flight has landed.
        await this.#cancelling;
      }
    });
  }

  /**
   * Renews the lease, unless the previous beat is still waiting: once the chunk deleted its
   * job (queue/complete.ts) the row is locked until the chunk ends, and a beat waits for that; further
   * beats would only pile up on the same lock and take the connection a cancel needs (the
   * thread's pool holds the chunk's connection, one beat and the cancel).
   */
  #beat(): void {
    if (this.#beating) return;
    this.#beating = true;
    extendLease(this.db, this.job.id, this.workerId, this.settings.leaseMs)
      .then((held) => {
        if (!held) this.#stop(new LeaseLostError(this.job.id));
      })
      .catch((error) => this.onError(`heartbeat failed: ${errorMessage(error)}`))
      .finally(() => this.#beating = false);
  }

  #stop(reason: Error): void {
    if (this.#stopReason || this.#finished) return;
    this.#stopReason = reason;
    this.#cancelling = sql`SELECT pg_cancel_backend(${this.#backendPid}::int)`.execute(this.db)
      .then(() => {}, (error) => this.onError(`cancelling the chunk failed: ${errorMessage(error)}`));
  }
}
