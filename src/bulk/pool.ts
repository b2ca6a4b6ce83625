/**
 * The worker pool of one process: N Deno Web Workers (each a WorkerLoop with its own small
 * connection pool), ONE LISTEN connection that forwards `bulk_jobs` NOTIFYs as wake-ups,
 * a maintenance tick (rescue expired leases, admit queued/scheduled operations) and, on a
 * timer of its own, retention.
 * Used by the API process (WORKERS=N) and by `deno task worker` processes alike.
 */
import { errorMessage } from "../guards.ts";
import type { Db } from "../db/database.ts";
import { Deliverer, type DelivererSettings } from "../notify/deliverer.ts";
import { ListenConnection } from "../db/listen.ts";
import { admitWaiting } from "./admit.ts";
import { JOBS_CHANNEL } from "./notify.ts";
import { releaseJobs } from "./queue/release.ts";
import { rescueExpiredJobs } from "./queue/rescue.ts";
import { RetentionLoop } from "./retention.ts";
import { countRescued } from "../metrics/engine.ts";
import type { ChunkReport } from "./run-chunk.ts";
import type { WorkerSettings } from "./worker-loop.ts";
import type { BulkDomain } from "./action.ts";

/** Where a thread imports its domain from (BulkDomain.module); absent: the entry module's own. */
type DomainModule = BulkDomain["module"];

/** Messages from the pool to a worker thread. */
export type ToWorker =
  | { type: "init"; databaseUrl: string; workerId: string; settings: WorkerSettings; domain?: DomainModule }
  | { type: "wake" }
  | { type: "stop" };

/** Messages from a worker thread to the pool. */
export type FromWorker =
  | { type: "ready" }
  | { type: "chunk"; report: ChunkReport & { ms: number } }
  | { type: "error"; message: string }
  | { type: "stopped" };

/** The pool's typed events (for logs, metrics and the benchmark). */
export interface PoolEvents {
  chunk: ChunkReport & { ms: number; workerId: string };
  error: { workerId: string; message: string };
}

export interface PoolOptions {
  databaseUrl: string;
  /** Worker threads to start. */
  count: number;
  settings: WorkerSettings;
  /** The thread entry module (a composition root that plugs in the domain). */
  workerUrl: URL;
  /** The domain the threads run, when not the one workerUrl plugs in. */
  domain?: DomainModule;
  /** Used by the maintenance tick. */
  db: Db;
  /** How long stop() waits for in-flight chunks before terminating threads. */
  shutdownGraceMs: number;
  /** BULK_RETENTION_DAYS: retention deletes finished operations older than that. */
  retentionDays: number;
  /** The notification deliverer running beside the threads (on `db`, outside chunk work). */
  notifications: DelivererSettings;
  /** The LISTEN connection for wake-ups: where it goes (default databaseUrl) and its liveness check. */
  listen: { url?: string; checkMs: number; keepAliveMs: number };
}

interface Thread {
  id: string;
  worker: Worker;
  stopped: Promise<void>;
}

export class WorkerPool {
  #threads: Thread[] = [];
  #listener: ListenConnection | null = null;
  #tick: ReturnType<typeof setTimeout> | undefined;
  /** The maintenance tick in progress, if any (stop() waits for it). */
  #maintaining: Promise<void> | null = null;
  #stopping = false;
  #deliverer: Deliverer | null = null;
  #listeners: { [K in keyof PoolEvents]: Set<(event: PoolEvents[K]) => void> } = {
    chunk: new Set(),
    error: new Set(),
  };

  readonly #retention: RetentionLoop;

  constructor(private readonly options: PoolOptions) {
    // Not in the maintenance tick: a large purge there delayed rescue and admission by as long as it ran.
    this.#retention = new RetentionLoop(options.db, {
      retentionDays: options.retentionDays,
      firstRunMs: options.settings.pollMs,
      onError: (message) => this.#emit("error", { workerId: "pool", message }),
    });
  }

  on<K extends keyof PoolEvents>(event: K, listener: (event: PoolEvents[K]) => void): () => void {
    this.#listeners[event].add(listener);
    return () => this.#listeners[event].delete(listener);
  }

  #emit<K extends keyof PoolEvents>(event: K, payload: PoolEvents[K]): void {
    this.#listeners[event].forEach((listener) => listener(payload));
  }

  get workerIds(): string[] {
    return this.#threads.map((t) => t.id);
  }

  async start(): Promise<void> {
    const prefix = `${Deno.hostname()}:${Deno.pid}:${crypto.randomUUID().slice(0, 8)}`;
    await Promise.all(Array.from({ length: this.options.count }, (_, i) => this.#spawn(`${prefix}:w${i}`)));
    await this.#listen();
    this.#scheduleMaintenance();
    this.#retention.start();
    this.#deliverer = new Deliverer(this.options.db, this.options.notifications).start();
  }

  /**
   * The next maintenance tick `pollMs` after the previous one ENDED: ticks are chained, so a
   * slow one (a large admission backlog, a database under load) is never overlapped by the
   * next, which would only queue behind the same row locks.
   */
  #scheduleMaintenance(): void {
    if (this.#stopping) return;
    this.#tick = setTimeout(() => {
      this.#maintaining = this.#maintain().finally(() => {
        this.#maintaining = null;
        this.#scheduleMaintenance();
      });
    }, this.options.settings.pollMs);
  }

  #spawn(id: string): Promise<void> {
    const worker = new Worker(this.options.workerUrl, { type: "module", name: id });
    let resolveStopped!: () => void;
    const stopped = new Promise<void>((resolve) => (resolveStopped = resolve));
    const thread: Thread = { id, worker, stopped };
    this.#threads.push(thread);
    return new Promise((resolveReady, rejectReady) => {
      worker.onmessage = (event: MessageEvent<FromWorker>) => {
        const message = event.data;
        if (message.type === "ready") resolveReady();
        else if (message.type === "chunk") this.#emit("chunk", { ...message.report, workerId: id });
        else if (message.type === "error") this.#emit("error", { workerId: id, message: message.message });
        else if (message.type === "stopped") resolveStopped();
      };
      worker.onerror = (event) => {
        event.preventDefault();
        this.#emit("error", { workerId: id, message: `worker thread crashed: ${event.message}` });
        rejectReady(new Error(event.message));
        resolveStopped();
      };
      const init: ToWorker = {
        type: "init",
        databaseUrl: this.options.databaseUrl,
        workerId: id,
        settings: this.options.settings,
        domain: this.options.domain,
      };
      worker.postMessage(init);
    });
  }

  #broadcast(message: ToWorker): void {
    for (const thread of this.#threads) thread.worker.postMessage(message);
  }

  async #listen(): Promise<void> {
    const { url, checkMs, keepAliveMs } = this.options.listen;
    // A lost LISTEN connection only costs latency: the workers keep polling until it is replaced.
    const listener = new ListenConnection(url ?? this.options.databaseUrl, {
      applicationName: "bulk-ops pool",
      checkMs,
      keepAliveMs,
      onError: (message) => this.#emit("error", { workerId: "pool", message: `listen: ${message}` }),
    });
    listener.on(JOBS_CHANNEL, () => this.#broadcast({ type: "wake" }));
    listener.onReconnect(() => this.#broadcast({ type: "wake" })); // jobs may have come meanwhile
    await listener.start();
    this.#listener = listener;
  }

  async #maintain(): Promise<void> {
    try {
      const rescued = await rescueExpiredJobs(this.options.db);
      countRescued(rescued);
      const admitted = await admitWaiting(this.options.db, this.options.settings.maxActivePerUser);
      if (rescued > 0 || admitted.length > 0) this.#broadcast({ type: "wake" });
    } catch (error) {
      this.#emit("error", { workerId: "pool", message: `maintenance: ${errorMessage(error)}` });
    }
  }

  /** `await using pool = await startPool(...)` stops it when the scope ends. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }

  /**
   * Graceful stop: no new claims, in-flight chunks get `shutdownGraceMs` to commit; threads
   * still busy then are terminated (their transactions roll back when the connection
   * closes) and their leases released so other workers take the jobs at once.
   */
  async stop(): Promise<void> {
    this.#stopping = true;
    clearTimeout(this.#tick);
    const delivererStopped = this.#deliverer?.stop(); // no new claims; sends in flight end meanwhile
    // Ends after its statement in flight (each deletes at most one batch), so it is waited for in full.
    const retentionStopped = this.#retention.stop();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<"timeout">((resolve) =>
      timer = setTimeout(() => resolve("timeout"), this.options.shutdownGraceMs)
    );
    // A tick in progress finishes before the caller closes the database (within the grace period).
    await Promise.race([this.#maintaining, timeout]);
    await this.#listener?.stop();
    this.#listener = null;
    this.#broadcast({ type: "stop" });
    await Promise.all(this.#threads.map(async (thread) => {
      const result = await Promise.race([thread.stopped.then(() => "stopped" as const), timeout]);
      if (result === "timeout") {
        this.#emit("error", { workerId: thread.id, message: "chunk still running after the grace period: terminated" });
      }
      thread.worker.terminate();
    }));
    clearTimeout(timer); // else the process lingers for the rest of the grace period
    // Jobs a thread claimed but did not commit (terminated, or claimed while stopping).
    await releaseJobs(this.options.db, this.workerIds);
    this.#threads = [];
    await delivererStopped;
    await retentionStopped;
  }
}
