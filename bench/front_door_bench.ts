/**
 * What the front door (src/http/head-deadline.ts) costs a request: the same handler served by
 * Deno.serve on TCP directly, behind the door on this thread, and behind the door on a thread of its
 * own as the app runs it (src/http/door-thread.ts; Deno.serve on a Unix socket). Measures
 * sequential `fetch` round trips of a tiny response (keep-alive where the server allows it;
 * the door closes each connection after one request) and the streaming rate of a large one.
 * Two rounds each, alternating, to see the noise of a shared machine.
 *
 *   deno run --allow-net --allow-read=/tmp,src --allow-write=/tmp bench/front_door_bench.ts [--requests 2000] [--mb 200]
 */
import { parseArgs } from "node:util";
import { openFrontDoor } from "../src/http/head-deadline.ts";
import { openFrontDoorThread } from "../src/http/door-thread.ts";

const { values } = parseArgs({
  options: { requests: { type: "string", default: "2000" }, mb: { type: "string", default: "200" } },
});
const requests = Number(values.requests);
const megabytes = Number(values.mb);

const MEGABYTE = new Uint8Array(1024 * 1024);
function handler(request: Request): Response {
  if (new URL(request.url).pathname !== "/big") return new Response("ok");
  let sent = 0;
  return new Response(
    new ReadableStream({
      pull(controller) {
        if (sent++ < megabytes) controller.enqueue(MEGABYTE);
        else controller.close();
      },
    }),
  );
}

const direct = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen: () => {} }, handler);
const socketDir = await Deno.makeTempDir({ prefix: "front-door-bench-" });
const inner = Deno.serve({ transport: "unix", path: `${socketDir}/api.sock`, onListen: () => {} }, handler);
const doorOptions = {
  hostname: "127.0.0.1",
  port: 0,
  upstreamPath: inner.addr.path,
  headerTimeoutMs: 10_000,
  bodyTimeoutMs: 30_000,
};
const door = openFrontDoor(doorOptions);
const doorThread = await openFrontDoorThread(doorOptions, { logLevel: "warn", logFormat: "text" });

async function measure(name: string, base: string): Promise<void> {
  for (let i = 0; i < 100; i++) await (await fetch(`${base}/health`)).text(); // warm-up
  let started = performance.now();
  for (let i = 0; i < requests; i++) await (await fetch(`${base}/health`)).text();
  const perRequest = (performance.now() - started) / requests;
  started = performance.now();
  let bytes = 0;
  for await (const chunk of (await fetch(`${base}/big`)).body!) bytes += chunk.length;
  const rate = bytes / 1024 / 1024 / ((performance.now() - started) / 1000);
  console.log(`${name.padEnd(18)} ${perRequest.toFixed(3)} ms per request, ${rate.toFixed(0)} MB/s streaming`);
}

try {
  for (let round = 0; round < 2; round++) {
    await measure("Deno.serve direct", `http://127.0.0.1:${direct.addr.port}`);
    await measure("behind the door", `http://127.0.0.1:${door.addr.port}`);
    await measure("door on a thread", `http://127.0.0.1:${doorThread.port}`);
  }
} finally {
  door.close();
  await doorThread.close();
  await Promise.all([direct.shutdown(), inner.shutdown()]);
  await doorThread.terminate();
  await Deno.remove(socketDir, { recursive: true });
}
