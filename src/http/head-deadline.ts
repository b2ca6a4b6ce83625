/**
 * The TCP front door of the API: it accepts each connection, gives the client
 * `headerTimeoutMs` to send one complete request head (answering 408 and closing otherwise),
 * then hands the connection over to the Deno.serve listening on a private Unix socket and
 * copies bytes both ways until either side ends.
 *
 * Why a front door: Deno.serve has no header-read timeout and no way to close a connection
 * from the handler (measured on Deno 2.9.6: a client sending one header byte a second, and a
 * client sending nothing, were both still connected after 75 s), and Deno.serve cannot be
 * given an accepted connection through a public API (`Deno.serveHttp` is gone from Deno 2's
 * types). Deno's node:http does enforce `headersTimeout` (a slow head got 408 after 3 s with
 * `connectionsCheckingInterval: 500`), but it has no `Deno.upgradeWebSocket`, on which the
 * graphql-ws path is built.
 *
 * One request per connection: every head but a protocol upgrade is passed on with
 * `Connection: close`, so each head this door reads is the only one its connection carries and
 * a keep-alive connection cannot dribble its second head past the deadline. Clients open a new
 * connection per request (measured 0.5-1.8 ms more per request on the shared test machine,
 * docs/performance.md). A WebSocket upgrade keeps its connection, which then carries
 * WebSocket frames, not heads.
 *
 * The client's address travels in `PEER_HEADER`, which this door strips from what clients send:
 * the inner server sees only the Unix socket as its peer.
 */
import { errorMessage } from "../guards.ts";
import { log } from "../log.ts";

/** Set by the front door only (any copy a client sends is removed). */
export const PEER_HEADER = "x-bulk-ops-peer";

/** Largest request head accepted (431 above). Node's default is 16 KiB; hyper's ~400 KiB. */
export const MAX_HEAD_BYTES = 64 * 1024;

const END_OF_HEAD = new Uint8Array([13, 10, 13, 10]);
const encoder = new TextEncoder();

export interface FrontDoor {
  addr: Deno.NetAddr;
  /** Stops accepting and closes connections still sending their head. */
  close(): void;
  /**
   * After close() and the inner server's shutdown: closes the upgraded connections and resolves
   * once every other request passed on has been copied to its end (the inner server closed its
   * side after answering), so that nothing cut a graceful shutdown's last answers short.
   */
  drain(): Promise<void>;
}

/** The connections one door holds, by state (close() and drain() act on them). */
interface Held {
  /** Still sending their head. */
  waiting: Set<Deno.Conn>;
  /** Passed on: a request being answered, or an upgraded connection (closed by drain()). */
  handedOver: Map<Promise<void>, { upgrade: boolean; end: () => void }>;
}

export interface FrontDoorOptions {
  hostname: string;
  port: number;
  /** The Unix socket of the inner Deno.serve. */
  upstreamPath: string;
  headerTimeoutMs: number;
  /** BODY_READ_TIMEOUT_MS: request bytes after it (but for an upgrade) end the connection. */
  bodyTimeoutMs: number;
}

function indexOfEnd(buffer: Uint8Array, from: number): number {
  for (let i = Math.max(0, from); i + 3 < buffer.length; i++) {
    if (
      buffer[i] === END_OF_HEAD[0] && buffer[i + 1] === END_OF_HEAD[1] && buffer[i + 2] === END_OF_HEAD[2] &&
      buffer[i + 3] === END_OF_HEAD[3]
    ) return i;
  }
  return -1;
}

const reply = (status: string, message: string) =>
  encoder.encode(
    `HTTP/1.1 ${status}\r\ncontent-type: text/plain\r\ncontent-length: ${message.length}\r\nconnection: close\r\n\r\n${message}`,
  );

/**
 * The head as passed on: the peer header set by us, and `Connection: close` unless the client
 * asks for an upgrade (Connection and Keep-Alive lines of its own then go).
 */
export function rewriteHead(head: string, peer: string): { head: string; upgrade: boolean } {
  const [requestLine, ...lines] = head.split("\r\n");
  const named = (line: string) => line.slice(0, line.indexOf(":")).trim().toLowerCase();
  const upgrade = lines.some((line) => named(line) === "upgrade");
  const kept = lines.filter((line) => {
    const name = named(line);
    return name !== PEER_HEADER && (upgrade || (name !== "connection" && name !== "keep-alive"));
  });
  if (!upgrade) kept.push("connection: close");
  kept.push(`${PEER_HEADER}: ${peer}`);
  return { head: [requestLine, ...kept].join("\r\n"), upgrade };
}

/**
 * Reads one head within the deadline; null when the client was refused or went away. The bytes
 * are read straight into one buffer that doubles when full (4 KiB first: heads are usually
 * under 1 KiB), so a head sent a byte per segment costs linear time, not a copy per byte.
 */
async function readHead(conn: Deno.TcpConn, timeoutMs: number): Promise<{ head: string; rest: Uint8Array } | null> {
  let buffer = new Uint8Array(4096);
  let size = 0;
  // Closing ends the pending read (it rejects), so a silent client costs no read after this.
  const timer = setTimeout(() => {
    conn.write(reply("408 Request Timeout", `Request head not received within ${timeoutMs} ms.\n`))
      .catch(() => {})
      .finally(() => close(conn));
  }, timeoutMs);
  try {
    while (true) {
      if (size === buffer.length) {
        const grown = new Uint8Array(buffer.length * 2);
        grown.set(buffer);
        buffer = grown;
      }
      const read = await conn.read(buffer.subarray(size, Math.min(buffer.length, MAX_HEAD_BYTES + 1)));
      if (read === null) return null;
      const end = indexOfEnd(buffer.subarray(0, size + read), size - 3);
      size += read;
      if (end >= 0) {
        return { head: new TextDecoder().decode(buffer.subarray(0, end)), rest: buffer.subarray(end + 4, size) };
      }
      if (size > MAX_HEAD_BYTES) {
        await conn.write(reply("431 Request Header Fields Too Large", `Request head over ${MAX_HEAD_BYTES} bytes.\n`))
          .catch(() => {});
        close(conn);
        return null;
      }
    }
  } catch {
    return null; // closed at the deadline, or reset by the client: nothing to answer, nothing to log
  } finally {
    clearTimeout(timer);
  }
}

function close(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch {
    // already closed by the other side or the other direction
  }
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  for (let written = 0; written < bytes.length;) written += await conn.write(bytes.subarray(written));
}

/**
 * What this door enforces on a request body; the deadlines themselves are the handlers' (a
 * GraphQL body must arrive within BODY_READ_TIMEOUT_MS, src/http/body-limit.ts; a staged upload
 * may take as long as it keeps sending, src/imports/uploads.ts), which answer 408.
 */
interface BodyDeadline {
  /** Client bytes that come after this AND after the answer began are cut (the handler gave up on them). */
  until: number;
  answered(): boolean;
}

const pastDeadline = (deadline: BodyDeadline | undefined) =>
  deadline !== undefined && deadline.answered() && performance.now() > deadline.until;

/**
 * Copies one direction until it ends or the body deadline (checked at each read, in
 * performance.now() time) passes; then ends the connection (`end`: both sides, hyper closes on a
 * read EOF too). A read/write loop on one buffer: per connection, stream pipes (pipeThrough +
 * pipeTo) cost more than the request itself.
 */
async function copy(
  from: Deno.Conn,
  to: Deno.Conn,
  end: () => void,
  deadline?: BodyDeadline,
  onFirstBytes?: () => void,
): Promise<void> {
  const buffer = new Uint8Array(64 * 1024);
  try {
    for (;;) {
      const read = await from.read(buffer);
      if (read === null || pastDeadline(deadline)) break;
      onFirstBytes?.();
      await writeAll(to, buffer.subarray(0, read));
    }
  } catch {
    // a reset, or the other direction ended the connection (its close rejects this read)
  }
  end();
}

/**
 * Closes both sides once, whichever direction ends first. Each direction used to close both itself,
 * so the second close of each side threw BadResource: two exceptions per connection, each building an
 * error with its stack, ~22 us per connection measured on the shared 2-core machine (a V8 profile of
 * 1,000 WebSocket clients leaving showed 120 ms in BadResource + buildCustomError); and every HTTP
 * request is a connection of its own here.
 */
function closeOnce(a: Deno.Conn, b: Deno.Conn): () => void {
  let open = true;
  return () => {
    if (!open) return;
    open = false;
    close(a);
    close(b);
  };
}

async function handOver(conn: Deno.TcpConn, options: FrontDoorOptions, { waiting, handedOver }: Held): Promise<void> {
  conn.setNoDelay(true); // as Deno.serve does: no Nagle delay on a response's last segment
  waiting.add(conn);
  let request: Awaited<ReturnType<typeof readHead>>;
  try {
    request = await readHead(conn, options.headerTimeoutMs);
  } finally {
    waiting.delete(conn);
  }
  if (!request) return;
  if (request.head.startsWith("PRI * HTTP/2")) {
    // HTTP/2 prior knowledge (h2c) carries no HTTP/1 head to rewrite: every browser and CLI here speaks HTTP/1.1.
    await conn.write(reply("505 HTTP Version Not Supported", "HTTP/1.1 only.\n")).catch(() => {});
    close(conn);
    return;
  }
  const passed = performance.now();
  const upstream = await Deno.connect({ transport: "unix", path: options.upstreamPath });
  const { head: rewritten, upgrade } = rewriteHead(request.head, conn.remoteAddr.hostname);
  const head = encoder.encode(`${rewritten}\r\n\r\n`);
  const first = new Uint8Array(head.length + request.rest.length);
  first.set(head);
  first.set(request.rest, head.length);
  await writeAll(upstream, first);
  // After a 408 for a slow body Deno.serve keeps reading the body and so the connection: a
  // client still sending past the body deadline once the answer began is cut off here. The cut
  // waits for the answer, so it never races the handler's 408 (it did under load), and a long
  // upload that keeps sending is never cut. An upgraded connection carries WebSocket frames, for
  // as long as it lives.
  let answered = false;
  const body: BodyDeadline | undefined = upgrade ? undefined : {
    until: passed + options.bodyTimeoutMs,
    answered: () => answered,
  };
  const end = closeOnce(conn, upstream);
  const copying = Promise.all([
    copy(conn, upstream, end, body),
    copy(upstream, conn, end, undefined, () => answered = true),
  ])
    .then(() => {});
  handedOver.set(copying, { upgrade, end });
  try {
    await copying;
  } finally {
    handedOver.delete(copying);
  }
}

export function openFrontDoor(options: FrontDoorOptions): FrontDoor {
  const listener = Deno.listen({ hostname: options.hostname, port: options.port });
  const held: Held = { waiting: new Set(), handedOver: new Map() };
  (async () => {
    while (true) {
      let conn: Deno.TcpConn;
      try {
        conn = await listener.accept();
      } catch (error) {
        if (error instanceof Deno.errors.BadResource) return; // closed by close()
        // Out of file descriptors and the like: keep serving the connections held, retry soon.
        log.warn("http", `accept failed: ${errorMessage(error)}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
        continue;
      }
      handOver(conn, options, held).catch((error) => {
        log.warn("http", `connection from ${conn.remoteAddr.hostname} ended: ${errorMessage(error)}`);
        close(conn);
      });
    }
  })();
  return {
    addr: listener.addr,
    close: () => {
      listener.close();
      for (const conn of held.waiting) close(conn);
    },
    drain: async () => {
      for (const { upgrade, end } of held.handedOver.values()) if (upgrade) end();
      await Promise.all(held.handedOver.keys());
    },
  };
}
