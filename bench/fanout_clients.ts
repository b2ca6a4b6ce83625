/**
 * The graphql-ws subscribers of bench/api_bench.ts (b), in a process of their own: the bench spawns
 * this script so that the clients' own work (reading frames, parsing messages, graphql-ws's checks)
 * no longer runs on the server's event loop and inflates the latency it measures (issue 18: with
 * 1,000 in-process clients the one process spent 141 ms of CPU per event, the clients' share in it).
 *
 *   deno run --allow-net --allow-env=NODE_ENV bench/fanout_clients.ts '<json: { url, token, operationId, query, count }>'
 *
 * Lines on stdout, one JSON object each:
 *   { "type": "subscribed" }      every client has its first event (the snapshot)
 *   { "type": "done", cpuMs, received: [[[at, processed, status], ...], ...] }
 *                                 every subscription completed; `at` is the receive time,
 *                                 performance.timeOrigin + performance.now() (the wall clock, in ms, as
 *                                 the database's clock_timestamp() the bench compares it with), taken
 *                                 first thing in graphql-ws's `next`; cpuMs is this process's user +
 *                                 system CPU from "subscribed" to "done"
 *   { "type": "error", message }  a subscription failed (the process then exits 1)
 */
import { cpuUsage } from "node:process";
import { createClient } from "graphql-ws";

export interface FanoutClientsInput {
  url: string;
  token: string;
  operationId: string;
  query: string;
  count: number;
}

/** One received event: receive time (ms, wall clock), processed count, status. */
export type Receipt = [number, number, string];

export type FanoutClientsLine =
  | { type: "subscribed" }
  | { type: "done"; cpuMs: number; received: Receipt[][] }
  | { type: "error"; message: string };

interface ProgressView {
  bulkOperationProgress: { status: string; counts: { processed: number } };
}

const say = (line: FanoutClientsLine) => console.log(JSON.stringify(line));
const wallNow = () => performance.timeOrigin + performance.now();

if (import.meta.main) {
  const input: FanoutClientsInput = JSON.parse(Deno.args[0]);
  const received: Receipt[][] = Array.from({ length: input.count }, () => []);
  let snapshots = 0;
  let cpuAtSubscribed: NodeJS.CpuUsage | undefined;
  const clients = Array.from({ length: input.count }, () =>
    createClient({
      url: input.url,
      lazy: true,
      retryAttempts: 0,
      connectionParams: { authorization: `Bearer ${input.token}` },
    }));
  try {
    await Promise.all(clients.map((client, i) =>
      new Promise<void>((resolve, reject) => {
        client.subscribe<ProgressView>({ query: input.query, variables: { id: input.operationId } }, {
          next: (value) => {
            const at = wallNow();
            if (value.errors || !value.data) return reject(new Error(JSON.stringify(value)));
            const { status, counts } = value.data.bulkOperationProgress;
            received[i].push([at, counts.processed, status]);
            if (received[i].length === 1 && ++snapshots === input.count) {
              cpuAtSubscribed = cpuUsage();
              say({ type: "subscribed" });
            }
          },
          error: (error) => reject(error instanceof Error ? error : new Error(JSON.stringify(error))),
          complete: resolve,
        });
      })
    ));
    const cpu = cpuUsage(cpuAtSubscribed);
    say({ type: "done", cpuMs: (cpu.user + cpu.system) / 1000, received });
  } catch (error) {
    say({ type: "error", message: error instanceof Error ? error.message : String(error) });
    Deno.exitCode = 1;
  } finally {
    await Promise.all(clients.map((client) => client.dispose()));
  }
}
