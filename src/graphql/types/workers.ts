/**
 * `workers`: the worker threads alive right now in every process (API with WORKERS=N and
 * `deno task worker` processes), from their heartbeat rows. ADMIN only: it describes the
 * shared service (hosts, pids), not tenant data, so it is the same for every tenant's admin.
 */
import { aliveWorkers, MAX_WORKERS_LISTED, type WorkerRow } from "../../bulk/worker-registry.ts";
import { builder } from "../builder.ts";

const WorkerProcessKindEnum = builder.enumType("WorkerProcessKind", {
  description: "API: a worker thread inside the API process (WORKERS=N). WORKER: one of a `deno task worker` process.",
  values: ["API", "WORKER"] as const,
});

const WorkerRef = builder.objectRef<WorkerRow>("Worker").implement({
  description: "A bulk worker thread whose heartbeat is current (within WORKER_STALE_MS).",
  fields: (t) => ({
    id: t.exposeString("id", { description: "host:pid:instance:thread, as it appears in job leases." }),
    host: t.exposeString("host"),
    pid: t.exposeInt("pid"),
    processKind: t.field({
      type: WorkerProcessKindEnum,
      resolve: (worker) => (worker.processKind === "api" ? "API" : "WORKER"),
    }),
    startedAt: t.field({ type: "DateTime", resolve: (worker) => worker.startedAt }),
    lastSeenAt: t.field({ type: "DateTime", resolve: (worker) => worker.lastSeenAt }),
    chunksDone: t.exposeInt("chunksDone", { description: "Chunks this thread committed since it started." }),
  }),
});

builder.queryField("workers", (t) =>
  t.field({
    type: [WorkerRef],
    extensions: { maxItems: MAX_WORKERS_LISTED },
    description: "Live bulk worker threads of all processes, oldest first. A worker that stops heartbeating " +
      "(killed, crashed) disappears after WORKER_STALE_MS (default 30 s). At most 1,000 listed. ADMIN only.",
    authScopes: { admin: true },
    resolve: async (_root, _args, ctx) => await aliveWorkers(ctx.services.db),
  }));
