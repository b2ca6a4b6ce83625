/**
 * The head the front door passes on (src/http/head-deadline.ts): the peer address is the
 * door's, never a client's; every request but an upgrade is the connection's only one.
 */
import { expect } from "expect";
import { MAX_HEAD_BYTES, openFrontDoor, PEER_HEADER, rewriteHead } from "../src/http/head-deadline.ts";
import { within } from "./helpers/wait.ts";

Deno.test("front door: a client's own peer header and keep-alive are dropped; Connection: close and the peer added", () => {
  const head = "POST /graphql HTTP/1.1\r\nHost: x\r\nX-Bulk-Ops-Peer: 203.0.113.9\r\nConnection: keep-alive\r\n" +
    "Keep-Alive: timeout=5\r\ncontent-length: 2";
  expect(rewriteHead(head, "127.0.0.1")).toEqual({
    head: `POST /graphql HTTP/1.1\r\nHost: x\r\ncontent-length: 2\r\nconnection: close\r\n${PEER_HEADER}: 127.0.0.1`,
    upgrade: false,
  });
});

Deno.test("front door: a WebSocket upgrade keeps its Connection header", () => {
  const head = "GET /graphql HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
    `${PEER_HEADER}: 203.0.113.9`;
  expect(rewriteHead(head, "::1")).toEqual({
    head: `GET /graphql HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n${PEER_HEADER}: ::1`,
    upgrade: true,
  });
});

/** A front door over a Deno.serve on a Unix socket that answers with the peer header it was given. */
async function doorOverEcho() {
  const socketDir = await Deno.makeTempDir({ prefix: "head-deadline-test-" });
  const inner = Deno.serve(
    { transport: "unix", path: `${socketDir}/api.sock`, onListen: () => {} },
    (request) => new Response(request.headers.get(PEER_HEADER)),
  );
  const door = openFrontDoor({
    hostname: "127.0.0.1",
    port: 0,
    upstreamPath: inner.addr.path,
    headerTimeoutMs: 5000,
    bodyTimeoutMs: 5000,
  });
  return {
    port: door.addr.port,
    async [Symbol.asyncDispose]() {
      door.close();
      await inner.shutdown();
      await Deno.remove(socketDir, { recursive: true });
    },
  };
}

/** Sends `parts` one write each, then reads until the server closes. */
async function exchange(port: number, parts: string[]): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  conn.setNoDelay(true);
  for (const part of parts) await conn.write(new TextEncoder().encode(part)).catch(() => {});
  let text = "";
  const buffer = new Uint8Array(4096);
  for (;;) {
    const read = await conn.read(buffer).catch(() => null);
    if (read === null) break;
    text += new TextDecoder().decode(buffer.subarray(0, read));
  }
  conn.close();
  return text;
}

Deno.test("front door: a head over MAX_HEAD_BYTES gets 431; a head sent a byte per write is served", async () => {
  await using door = await doorOverEcho();
  const huge = `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(MAX_HEAD_BYTES)}\r\n\r\n`;
  expect(await within(exchange(door.port, [huge]), 10_000, "the answer to a 64 KiB head")).toMatch(
    /^HTTP\/1\.1 431 /,
  );
  const head = `GET / HTTP/1.1\r\nHost: x\r\n${PEER_HEADER}: 203.0.113.9\r\n\r\n`;
  const answer = await within(exchange(door.port, [...head]), 10_000, "the answer to a head sent byte by byte");
  expect(answer).toMatch(/^HTTP\/1\.1 200 /);
  expect(answer.endsWith("\r\n\r\n127.0.0.1")).toBe(true); // the door's peer, not the client's claim
});
