/**
 * Real receivers on loopback for the notification tests: an HTTP server that records every
 * request and answers with a handler the test chooses, and an SMTP server (npm smtp-server)
 * that records every message.
 */
import { SMTPServer } from "smtp-server";

export interface ReceivedRequest {
  at: number;
  headers: Record<string, string>;
  body: string;
}

export interface Receiver {
  url: string;
  requests: ReceivedRequest[];
  /** Resolves with the requests once `predicate` holds; fails with `what` after the deadline. */
  waitFor(predicate: (requests: ReceivedRequest[]) => boolean, what: string, timeoutMs?: number): Promise<
    ReceivedRequest[]
  >;
  [Symbol.asyncDispose](): Promise<void>;
}

export type Handler = (request: ReceivedRequest, index: number) => Response | Promise<Response>;

/** Polls `condition` until it returns a value; throws `what` after the deadline. */
export async function waitUntil<T>(
  condition: () => T | undefined | null | false | Promise<T | undefined | null | false>,
  what: string,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (true) {
    const value = await condition();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** With `tls`, an https receiver (its URL names `localhost`, the name in tests/fixtures/localhost-cert.pem). */
export function startReceiver(handler: Handler, tls?: { cert: string; key: string }): Receiver {
  const requests: ReceivedRequest[] = [];
  const closing = new AbortController();
  const options = { port: 0, hostname: "127.0.0.1", onListen() {}, signal: closing.signal, ...tls };
  const server = Deno.serve(options, async (req) => {
    const received = { at: Date.now(), headers: Object.fromEntries(req.headers), body: await req.text() };
    requests.push(received);
    return await handler(received, requests.length - 1);
  });
  return {
    url: tls ? `https://localhost:${server.addr.port}/hooks` : `http://127.0.0.1:${server.addr.port}/hooks`,
    requests,
    waitFor: (predicate, what, timeoutMs) => waitUntil(() => predicate(requests) && requests, what, timeoutMs),
    async [Symbol.asyncDispose]() {
      closing.abort();
      await server.finished;
    },
  };
}

/** A handler that never answers (until the receiver closes): for timeouts. */
export function hang(): Promise<Response> {
  return new Promise(() => {});
}

export interface ReceivedMail {
  from: string;
  to: string[];
  raw: string;
}

export interface MailReceiver {
  url: string;
  mails: ReceivedMail[];
  [Symbol.asyncDispose](): Promise<void>;
}

/** `rejectFirst`: answer the first n messages with a temporary failure (451), as a struggling server does. */
export async function startSmtpReceiver(options: { rejectFirst?: number } = {}): Promise<
  MailReceiver & {
    rejected: number;
  }
> {
  const mails: ReceivedMail[] = [];
  let rejected = 0;
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ["STARTTLS"],
    logger: false,
    onData(stream, session, callback) {
      const chunks: Uint8Array[] = [];
      stream.on("data", (chunk: Uint8Array) => chunks.push(chunk));
      stream.on("end", () => {
        if (rejected < (options.rejectFirst ?? 0)) {
          rejected++;
          return callback(Object.assign(new Error("try again later"), { responseCode: 451 }));
        }
        mails.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : "",
          to: session.envelope.rcptTo.map((r) => r.address),
          raw: new TextDecoder().decode(new Uint8Array(chunks.flatMap((c) => [...c]))),
        });
        callback();
      });
    },
  });
  const port = await new Promise<number>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve((server.server.address() as { port: number }).port));
  });
  return {
    url: `smtp://127.0.0.1:${port}`,
    mails,
    get rejected() {
      return rejected;
    },
    [Symbol.asyncDispose]: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
