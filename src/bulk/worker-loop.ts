/**
 * The loop one worker thread runs: claim a job, work it under a ChunkWatch (heartbeat on
 * its lease, stopped at once when the lease is lost or the chunk runs too long), repeat;
 * sleep until a wake-up (NOTIFY, forwarded by the pool) or the polling fallback.
 */
import { errorMessage } from "../guards.ts";
import type { Db, SessionTimeouts } from "../db/database.ts";
import type { BulkDomain } from "./action.ts";
import { admitUser } from "./admit.ts";
import { ChunkWatch } from "./chunk-watch.ts";
import { claimJob } from "./queue/claim.ts";
import { msUntilNextDueJob } from "./queue/next-due.ts";
import { type Job, LeaseLostError } from "./queue/job.ts";
import { failChunk, handleChunkFailure } from "./chunk-failure.ts";
import { type ChunkReport, runChunk } from "./run-chunk.ts";
import { inChunkSpan } from "../telemetry/tracing.ts";

export interface WorkerSettings {
  leaseMs: number;
  /** Longest total run time of one chunk. */
  chunkTimeoutMs: number;
  maxAttempts: number;
  pollMs: number;
  maxActivePerUser: number;
  /** TCP keepalive of the thread's connections. */
  keepAliveMs: number;
  /** Server-side timeouts of the thread's sessions (its chunk transactions). */
  session: SessionTimeouts;
}

export interface WorkerHooks {
  onChunk?: (report: ChunkReport & { ms: number }) => void;
  onError?: (message: string) => void;
}

export class WorkerLoop {
  #stopping = false;
  #wake: (() => void) | null = null;
  #done: Promise<void> | null = null;

  constructor(
    private readonly db: Db,
    private readonly domain: BulkDomain,
    private readonly workerId: string,
    private readonly settings: WorkerSettings,
    private readonly hooks: WorkerHooks = {},
  ) {}

  start(): Promise<void> {
    this.#done ??= this.#run();
    return this.#done;
  }

  /** New jobs may be claimable: stop sleeping. */
  wake(): void {
    this.#wake?.();
  }

  /** Finishes the chunk in flight (if any), then resolves. */
  async stop(): Promise<void> {
    this.#stopping = true;
    this.wake();
    await this.#done;
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.#wake = done;
    });
  }

  async #run(): Promise<void> {
    let idleErrors = 0;
    while (!this.#stopping) {
      let job: Job | undefined;
      try {
        job = await claimJob(this.db, this.workerId, this.settings.leaseMs);
        idleErrors = 0;
      } catch (error) {
        // Database unreachable: back off (capped) and try again; nothing is held.
        this.hooks.onError?.(`claim failed: ${errorMessage(error)}`);
        await this.#sleep(Math.min(this.settings.pollMs * 2 ** idleErrors++, 10_000));
        continue;
      }
      if (!job) {
        // A job retried after a failure is due at its backoff, which no NOTIFY announces:
        // sleep until then if that is sooner than the next poll.
        const dueInMs = await msUntilNextDueJob(this.db).catch(() => null);
        await this.#sleep(Math.max(10, Math.min(this.settings.pollMs, dueInMs ?? Infinity)));
        continue;
      }
      await this.#work(job);
    }
  }

  async #work(job: Job): Promise<void> {
    const started = performance.now();
    const watch = new ChunkWatch(this.db, job, this.workerId, this.settings, (m) => this.hooks.onError?.(m));
    let report: ChunkReport | null = null;
    try {
      report = await watch.run((db) =>
        inChunkSpan(job, () =>
          job.attempts > this.settings.maxAttempts
            // Rescued too often (its workers keep dying): give its items up as FAILED/INTERNAL.
            ? failChunk(db, job)
            : runChunk(db, this.domain, job))
      );
    } catch (error) {
      report = await this.#recordFailure(job, error);
    }
    // After the chunk's transaction: a failure here (admission) must not count as the chunk's.
    if (report) {
      this.hooks.onChunk?.({ ...report, ms: performance.now() - started });
      if (report.finished) {
        await admitUser(this.db, report.createdBy, this.settings.maxActivePerUser)
          .catch((error) => this.hooks.onError?.(`admission failed: ${error.message}`));
      }
    }
  }

  /** A chunk failed and rolled back: schedule its retry, or give it up; the report if it gave up. */
  async #recordFailure(job: Job, error: unknown): Promise<ChunkReport | null> {
    if (error instanceof LeaseLostError) {
      this.hooks.onError?.(error.message);
      return null;
    }
    this.hooks.onError?.(`chunk ${job.id} failed (attempt ${job.attempts}): ${errorMessage(error)}`);
    try {
      return await handleChunkFailure(this.db, job, error, { maxAttempts: this.settings.maxAttempts });
    } catch (inner) {
      // The lease will expire and the rescuer re-queues the job.
      this.hooks.onError?.(`could not record failure of job ${job.id}: ${errorMessage(inner)}`);
      return null;
    }
  }
}
