/**
 * Worker registration: a row per worker thread in bulk_workers (host, pid, started, last seen,
 * chunks done), heartbeated by its process's pool every third of WORKER_STALE_MS in ONE
 * statement for all of the process's threads, which also deletes rows whose heartbeat expired
 * (their process died without deregistering). A graceful stop deletes the process's rows.
 * Readers count a row as alive while expires_at > now(): a killed process leaves the `workers`
 * query at most WORKER_STALE_MS after its last heartbeat.
 *
 * The pool heartbeats rather than each thread, so a wedged thread still looks alive; its
 * job's lease expires and the rescuer hands the chunk to another worker (queue/rescue.ts).
 */
import { sql } from "kysely";
import type { Db } from "../db/database.ts";
import type { WorkerPool } from "./pool.ts";

export type ProcessKind = "api" | "worker";

export interface WorkerRow {
  id: string;
  host: string;
  pid: number;
  processKind: ProcessKind;
  startedAt: Date;
  lastSeenAt: Date;
  chunksDone: number;
}

export class WorkerRegistry {
  #ids: string[] = [];
  #chunksDone = new Map<string, number>();
  #timer: ReturnType<typeof setInterval> | undefined;
  #unsubscribe: () => void = () => {};

  constructor(
    private readonly db: Db,
    private readonly pool: WorkerPool,
    private readonly options: { processKind: ProcessKind; staleMs: number; onError: (message: string) => void },
  ) {}

  /** Registers the pool's threads now, then heartbeats until stop(). */
  async start(): Promise<void> {
    this.#ids = this.pool.workerIds;
    this.#unsubscribe = this.pool.on("chunk", ({ workerId }) => {
      this.#chunksDone.set(workerId, (this.#chunksDone.get(workerId) ?? 0) + 1);
    });
    await this.#heartbeat();
    this.#timer = setInterval(() => {
      this.#heartbeat().catch((error) => this.options.onError(`worker heartbeat failed: ${error.message}`));
    }, Math.max(100, Math.floor(this.options.staleMs / 3)));
  }

  async #heartbeat(): Promise<void> {
    const ids = this.#ids;
    await sql`
      WITH purged AS (DELETE FROM bulk_workers WHERE expires_at < now())
      INSERT INTO bulk_workers (id, host, pid, process_kind, expires_at, chunks_done)
      SELECT id, ${Deno.hostname()}, ${Deno.pid}, ${this.options.processKind},
        now() + ${this.options.staleMs} * interval '1 millisecond', done
      FROM unnest(${ids}::text[], ${ids.map((id) => this.#chunksDone.get(id) ?? 0)}::bigint[]) AS t(id, done)
      ON CONFLICT (id) DO UPDATE SET last_seen_at = now(), expires_at = excluded.expires_at,
        chunks_done = excluded.chunks_done`.execute(this.db);
  }

  /** Stops heartbeating and deregisters this process's threads. */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#unsubscribe();
    if (this.#ids.length > 0) await this.db.deleteFrom("bulk_workers").where("id", "in", this.#ids).execute();
  }
}

/**
 * The most worker threads `workers` lists (a bound the cost rule needs for every list field): far
 * above a real deployment's (64 threads per process, WORKERS' maximum, times a few dozen processes);
 * /ready and bulk_workers_alive count them all.
 */
export const MAX_WORKERS_LISTED = 1000;

/** Worker threads whose heartbeat has not expired, oldest first, at most MAX_WORKERS_LISTED. */
export async function aliveWorkers(db: Db): Promise<WorkerRow[]> {
  const rows = await db.selectFrom("bulk_workers").selectAll().where("expires_at", ">", sql<Date>`now()`)
    .orderBy("started_at").orderBy("id").limit(MAX_WORKERS_LISTED).execute();
  return rows.map((row) => ({
    id: row.id,
    host: row.host,
    pid: row.pid,
    processKind: row.process_kind,
    startedAt: row.started_at,
    lastSeenAt: row.last_seen_at,
    chunksDone: Number(row.chunks_done),
  }));
}

/** How many worker threads are alive (for /ready). */
export async function aliveWorkerCount(db: Db): Promise<number> {
  const row = await db.selectFrom("bulk_workers").select((eb) => eb.fn.countAll<number>().as("n"))
    .where("expires_at", ">", sql<Date>`now()`).executeTakeFirstOrThrow();
  return Number(row.n);
}
