/**
 * The front door on its own thread (src/http/door-thread.ts): the port is known when it resolves,
 * a bind failure comes back as the typed Deno error the door threw, and a graceful stop lets the
 * answers already passed on reach their clients whole before the thread ends.
 */
import { expect } from "expect";
import { openFrontDoorThread } from "../src/http/door-thread.ts";
import { within } from "./helpers/wait.ts";

const LOG = { logLevel: "warn", logFormat: "text" } as const;
// Larger than what the loopback TCP buffers hold, so the tail is still in the door when the inner server is done.
const BIG_BYTES = 32 * 1024 * 1024;

async function innerServer() {
  const socketDir = await Deno.makeTempDir({ prefix: "door-thread-test-" });
  const server = Deno.serve(
    { transport: "unix", path: `${socketDir}/api.sock`, onListen: () => {} },
    () => new Response(new Uint8Array(BIG_BYTES).fill(7)),
  );
  return {
    server,
    options: (port: number) => ({
      hostname: "127.0.0.1",
      port,
      upstreamPath: server.addr.path,
      headerTimeoutMs: 5000,
      bodyTimeoutMs: 5000,
    }),
    async [Symbol.asyncDispose]() {
      await server.shutdown().catch(() => {}); // already shut down by the test that stops it
      await Deno.remove(socketDir, { recursive: true });
    },
  };
}

Deno.test("front door thread: a port in use is refused with Deno.errors.AddrInUse", async () => {
  await using inner = await innerServer();
  using taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const opening = openFrontDoorThread(inner.options(taken.addr.port), LOG);
  await expect(within(opening, 10_000, "the door thread's answer to a taken port")).rejects.toBeInstanceOf(
    Deno.errors.AddrInUse,
  );
});

Deno.test("front door thread: a graceful stop delivers the answer in flight whole, then refuses connections", async () => {
  await using inner = await innerServer();
  const door = await within(openFrontDoorThread(inner.options(0), LOG), 10_000, "the door thread listening");
  const response = await fetch(`http://127.0.0.1:${door.port}/big`);
  const reader = response.body!.getReader();
  const first = await reader.read(); // the answer has begun; most of it is still to be copied
  const stopped = (async () => {
    await door.close();
    await inner.server.shutdown();
    await door.terminate();
  })();
  let received = first.value?.length ?? 0;
  for (;;) {
    const { done, value } = await within(reader.read(), 10_000, "the rest of the answer");
    if (done) break;
    received += value.length;
    await new Promise((resolve) => setTimeout(resolve, 1)); // a slow reader: the rest waits in the sockets
  }
  await within(stopped, 10_000, "the graceful stop");
  expect(received).toBe(BIG_BYTES);
  await expect(Deno.connect({ hostname: "127.0.0.1", port: door.port })).rejects.toBeInstanceOf(
    Deno.errors.ConnectionRefused,
  );
});
