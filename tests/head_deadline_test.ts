/**
 * The head the front door passes on (src/http/head-deadline.ts): the peer address is the
 * door's, never a client's; every request but an upgrade is the connection's only one.
 */
import { expect } from "expect";
import { PEER_HEADER, rewriteHead } from "../src/http/head-deadline.ts";

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
