/**
 * Entry module of one bulk worker thread (a Deno Web Worker): the engine's WorkerLoop with
 * the tickets domain plugged in, or the domain the init message names (BulkDomain.module). Its own 3-connection pool, each with the worker session
 * timeouts (statement, lock, idle in transaction) set at connect: the chunk transaction, the
 * lease heartbeat, and the ChunkWatch's cancel of a chunk that must stop. With 2, a heartbeat
 * waiting on the chunk's own job row (locked by its DELETE in queue/complete.ts until the chunk commits) held the only
 * free connection, and the cancel of that chunk queued behind it.
 */
/// <reference lib="deno.worker" />
import { createDb } from "./db/database.ts";
import type { FromWorker, ToWorker } from "./bulk/pool.ts";
import { WorkerLoop } from "./bulk/worker-loop.ts";
import type { BulkDomain } from "./bulk/action.ts";
import { ticketsDomain } from "./tickets/actions/domain.ts";

let loop: WorkerLoop | null = null;
const post = (message: FromWorker) => self.postMessage(message);

self.onmessage = async (event: MessageEvent<ToWorker>) => {
  const message = event.data;
  if (message.type === "init") {
    const db = createDb(message.databaseUrl, {
      poolSize: 3,
      applicationName: `bulk-ops ${message.workerId}`,
      keepAliveMs: message.settings.keepAliveMs,
      session: message.settings.session,
    });
    const domain: BulkDomain | undefined = message.domain
      ? (await import(message.domain.url))[message.domain.name]
      : ticketsDomain;
    if (!domain?.actions) throw new Error(`${message.domain?.url} exports no domain ${message.domain?.name}`);
    loop = new WorkerLoop(db, domain, message.workerId, message.settings, {
      onChunk: (report) => post({ type: "chunk", report }),
      onError: (text) => post({ type: "error", message: text }),
    });
    void loop.start().finally(async () => {
      await db.destroy();
      post({ type: "stopped" });
    });
    post({ type: "ready" });
  } else if (message.type === "wake") {
    loop?.wake();
  } else if (message.type === "stop") {
    await loop?.stop();
  }
};
