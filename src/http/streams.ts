/**
 * Streamed GraphQL responses over HTTP (SSE, and Yoga's multipart/mixed), counted per token in
 * the ConnectionRegistry: over SSE_MAX_STREAMS_PER_TOKEN a request is refused with 429
 * TOO_MANY_STREAMS before Yoga runs it; when the token sweep finds the token revoked or
 * expired the stream gets a last TOKEN_REVOKED error event and ends, and Yoga's subscription
 * is cancelled (its iterator returns, so the LISTEN fan-out forgets it).
 */
import { bearerToken, tokenKey } from "../auth/tokens.ts";
import { ANONYMOUS_KEY, type ConnectionRegistry } from "./connections.ts";

const encoder = new TextEncoder();

/** Whether the client asked for a streamed answer (these are the requests counted). */
export function wantsStream(request: Request): boolean {
  const accept = request.headers.get("accept") ?? "";
  return accept.includes("text/event-stream") || accept.includes("multipart/mixed");
}

const REVOKED_EVENT = encoder.encode(
  "event: next\ndata: " +
    JSON.stringify({
      errors: [{ message: "The token was revoked or expired.", extensions: { code: "TOKEN_REVOKED" } }],
    }) + "\n\nevent: complete\ndata:\n\n",
);

export async function countedStream(
  request: Request,
  connections: ConnectionRegistry,
  cap: number,
  run: (request: Request) => Response | Promise<Response>,
): Promise<Response> {
  const token = bearerToken(request.headers.get("authorization"));
  const key = token ? await tokenKey(token) : ANONYMOUS_KEY;
  const revoked = new AbortController();
  const release = connections.open("stream", key, () => revoked.abort());
  if (!release) {
    return new Response(
      JSON.stringify({
        errors: [{
          message: `At most ${cap} streams may be open at once per token.`,
          extensions: { code: "TOO_MANY_STREAMS" },
        }],
      }),
      { status: 429, headers: { "content-type": "application/json", "retry-after": "5" } },
    );
  }
  let response: Response;
  try {
    response = await run(request);
  } catch (error) {
    release();
    throw error;
  }
  if (!response.body) {
    release();
    return response;
  }
  const sse = response.headers.get("content-type")?.startsWith("text/event-stream") ?? false;
  const source = response.body.getReader();
  let ended = false;
  const end = () => {
    if (ended) return;
    ended = true;
    release();
  };
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      revoked.signal.addEventListener("abort", () => {
        if (ended) return;
        end();
        if (sse) controller.enqueue(REVOKED_EVENT);
        controller.close();
        source.cancel().catch(() => {});
      });
    },
    async pull(controller) {
      let step: ReadableStreamReadResult<Uint8Array>;
      try {
        step = await source.read();
      } catch (error) {
        end();
        throw error;
      }
      const { done, value } = step;
      if (ended) return;
      if (done) {
        end();
        controller.close();
      } else {
        controller.enqueue(value);
      }
    },
    cancel(reason) {
      end();
      return source.cancel(reason);
    },
  });
  return new Response(body, { status: response.status, statusText: response.statusText, headers: response.headers });
}
