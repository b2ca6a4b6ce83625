/**
 * graphql-ws (protocol graphql-transport-ws) on Deno, sharing Yoga's envelop (parse,
 * validate with the depth limit, execute, subscribe, error masking).
 *
 * Built on `makeServer` because graphql-ws's own Deno adapter is broken on Deno 2.9:
 * `socket.protocol` reads "" on the server even after upgrading with a protocol, so the
 * adapter closes every connection with 4406. We negotiate the protocol ourselves and hand
 * the negotiated string to `server.opened()` (../shared/STACK.md).
 *
 * Auth: the token travels in the connection_init payload `{ authorization: "Bearer ..." }`.
 * Or, when connection_init carries none, in each subscribe message's
 * `extensions.headers.authorization`: that is where GraphiQL puts the headers typed in its
 * Headers tab (it has no way to set connection params).
 * No token in either: close 4401. Unknown or revoked token: close 4403 (the token is checked
 * again at every subscribe, so revoking it stops an open socket from starting more).
 *
 * Limits (docs/security.md): connection_init within WS_CONNECTION_INIT_TIMEOUT_MS (4408), and a
 * valid token within the same time when connection_init carried none (4401); at most
 * WS_MAX_SOCKETS_PER_TOKEN sockets per token (4008) and WS_MAX_SUBSCRIPTIONS_PER_SOCKET
 * operations at once per socket (error TOO_MANY_SUBSCRIPTIONS, the socket stays); a message
 * over MAX_BODY_BYTES closes the socket with 1009 before it is parsed. A socket whose token is
 * revoked or expires is closed with 4403 by the token sweep (src/http/connections.ts).
 */
import { type ExecutionArgs, type ExecutionResult, type FormattedExecutionResult, GraphQLError } from "graphql";
import { CloseCode, handleProtocols, makeServer, MessageType } from "graphql-ws";
import { inWsOperationSpan } from "../telemetry/tracing.ts";
import { bearerToken, type Viewer, viewerForToken } from "../auth/tokens.ts";
import type { RequestOrigin } from "../audit/record.ts";
import type { ConnectionRegistry } from "../http/connections.ts";
import { requestOrigin } from "../http/origin.ts";
import { createContext, rateKeyOf, type Services } from "./context.ts";
import { apiError } from "./errors.ts";
import { wsQuery } from "./trusted-documents.ts";
import { maskError, type YogaServer } from "./yoga.ts";
import { errorText, log } from "../log.ts";
import { trackSocket } from "../metrics/http.ts";
import { wsPayloadSerializations } from "../metrics/registry.ts";

/** Close codes of our own, beside graphql-ws's (4400, 4401, 4403, 4408, ...). */
export const WsClose = {
  /** The token already holds WS_MAX_SOCKETS_PER_TOKEN sockets. */
  TooManySockets: 4008,
  /** A message over MAX_BODY_BYTES (RFC 6455 "Message Too Big"). */
  MessageTooBig: 1009,
} as const;

interface Extra {
  socket: WebSocket;
  request: Request;
  /** The upgrade request's IP and User-Agent (the audit trail's origin for every operation). */
  origin: RequestOrigin;
  viewer?: Viewer;
  /** The connection_init token, checked again at each subscribe (a revoked one stops working). */
  token?: string;
  /** Set once the socket counts against a token's cap; called when it closes. */
  release?: () => void;
  /** Closes a socket that has not presented a valid token in time (cleared on close). */
  tokenDeadline?: ReturnType<typeof setTimeout>;
}

type Enveloped = ReturnType<YogaServer["getEnveloped"]>;

/**
 * The envelope each operation was parsed and validated with, keyed by the ExecutionArgs onSubscribe returned:
 * graphql-ws hands that same object to execute / subscribe (6.4.2: `(execute ?? graphqlExecute)(execArgs)`), so an
 * operation runs through the plugins that validated it. A WeakMap rather than the args' rootValue, which would
 * need a cast back on the way out; an entry lives as long as its operation's args.
 */
const envelopedOf = new WeakMap<ExecutionArgs, Enveloped>();

function envelopedFor(args: ExecutionArgs): Enveloped {
  const enveloped = envelopedOf.get(args);
  if (!enveloped) throw new Error("graphql-ws ran an operation that onSubscribe did not prepare");
  return enveloped;
}

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === "object" && value !== null;

/**
 * An error as a socket client sees it: without `extensions.http`, the status and headers meant for an HTTP
 * response, which Yoga strips from what it sends (a refusal carried `{ status: 400, spec: false }` to sockets).
 */
function withoutHttp(error: GraphQLError): GraphQLError {
  if (error.extensions?.http === undefined) return error;
  const { http: _http, ...extensions } = error.extensions;
  return new GraphQLError(error.message, {
    nodes: error.nodes,
    source: error.source,
    positions: error.positions,
    path: error.path,
    originalError: error.originalError,
    extensions,
  });
}

const forClient = (error: unknown) => withoutHttp(maskError(error));

/**
 * The payload of a `next` message, one object per result: the result itself when it has no errors, else a copy
 * with its errors masked for the client. One per result rather than graphql-ws's copy per socket, so that the
 * subscribers of one shared event result (shared-events.ts) send the same payload, serialised once (`NextPayloads`).
 */
const payloadOf = new WeakMap<ExecutionResult, ExecutionResult | FormattedExecutionResult>();

function maskedPayload(result: ExecutionResult): ExecutionResult | FormattedExecutionResult {
  let payload = payloadOf.get(result);
  if (payload === undefined) {
    payload = result.errors ? { ...result, errors: result.errors.map((error) => forClient(error).toJSON()) } : result;
    payloadOf.set(result, payload);
  }
  return payload;
}

/**
 * `next` payloads serialised once per payload object, not once per socket. Why (issue 18): an execution result is
 * made of graphql-js's null-prototype objects, which JSON.stringify walks on its slow path: 3.7-4.3 us for the
 * bench's progress message against 1.1 us for the same message as plain objects (Deno 2.9.6, 200,000 times), and
 * graphql-ws's stringifyMessage was 8% of the main thread's busy time in a V8 profile of 1,000 subscribers
 * (docs/performance.md, "Session 4: the fan-out"). graphql-ws stringifies each message itself and hands the string
 * to `send`, synchronously (`socket.send(stringifyMessage(message, replacer))`): the replacer leaves a `next`
 * message's payload out and keeps its cached JSON, which `splice` appends as the message's last member, where
 * graphql-ws puts it ({ id, type, payload }).
 */
class NextPayloads {
  #json = new WeakMap<object, string>();
  #message: unknown;
  #pending: string | undefined;

  /** graphql-ws's jsonMessageReplacer; `this` is the holder of `key`. */
  readonly replacer = (holder: unknown, key: string, value: unknown): unknown => {
    if (key === "") {
      this.#message = value;
      return value;
    }
    if (key !== "payload" || holder !== this.#message || !isRecord(holder) || holder.type !== MessageType.Next) {
      return value;
    }
    if (!isRecord(value)) return value;
    let json = this.#json.get(value);
    if (json === undefined) {
      wsPayloadSerializations.inc();
      json = JSON.stringify(value);
      this.#json.set(value, json);
    }
    this.#pending = json;
    return undefined; // left out here, appended by splice()
  };

  /** The message as sent: with the payload the replacer left out, if it left one out. */
  splice(message: string): string {
    const json = this.#pending;
    if (json === undefined) return message;
    this.#pending = undefined;
    return `${message.slice(0, -1)},"payload":${json}}`;
  }
}

/** Counts the socket against the viewer's token; false (and the socket closed 4008) at the cap. */
function holdSocket(extra: Extra, viewer: Viewer, connections: ConnectionRegistry, cap: number): boolean {
  if (extra.release || !viewer.token) return true;
  const release = connections.open(
    "socket",
    viewer.token.key,
    () => extra.socket.close(CloseCode.Forbidden, "Forbidden: the token was revoked or expired"),
  );
  if (!release) {
    extra.socket.close(WsClose.TooManySockets, `Too many sockets for this token (limit ${cap})`);
    return false;
  }
  extra.release = release;
  return true;
}

export function createWsHandler(yoga: YogaServer, services: Services, connections: ConnectionRegistry) {
  const { config } = services;
  const payloads = new NextPayloads();
  const server = makeServer<Record<string, unknown>, Extra>({
    jsonMessageReplacer: function (this: unknown, key, value) {
      return payloads.replacer(this, key, value);
    },
    connectionInitWaitTimeout: config.wsConnectionInitTimeoutMs,
    onConnect: async (ctx) => {
      const raw = ctx.connectionParams?.authorization ?? ctx.connectionParams?.Authorization;
      if (raw === undefined) {
        // No token at all: it may come with each subscribe instead (GraphiQL); checked there.
        // A socket that sends no valid one in time is closed: anonymous sockets cannot pile up.
        ctx.extra.tokenDeadline = setTimeout(() => {
          if (!ctx.extra.release) {
            ctx.extra.socket.close(
              CloseCode.Unauthorized,
              `Unauthorized: no valid token within ${config.wsConnectionInitTimeoutMs} ms`,
            );
          }
        }, config.wsConnectionInitTimeoutMs);
        return true;
      }
      const token = typeof raw === "string" ? bearerToken(raw) : null;
      if (!token) {
        ctx.extra.socket.close(CloseCode.Unauthorized, 'Unauthorized: send { authorization: "Bearer <token>" }');
        return false;
      }
      const viewer = await viewerForToken(services.db, token);
      if (!viewer) return false; // 4403 Forbidden
      if (!holdSocket(ctx.extra, viewer, connections, config.wsMaxSocketsPerToken)) return false;
      ctx.extra.viewer = viewer;
      ctx.extra.token = token;
      return true;
    },
    onSubscribe: async (ctx, _id, payload) => {
      // ctx.subscriptions already holds this one (graphql-ws reserves the id before onSubscribe).
      if (Object.keys(ctx.subscriptions).length > config.wsMaxSubscriptionsPerSocket) {
        return [
          apiError(
            "TOO_MANY_SUBSCRIPTIONS",
            `At most ${config.wsMaxSubscriptionsPerSocket} operations may run at once on one socket.`,
          ),
        ];
      }
      if (ctx.extra.token && !(await viewerForToken(services.db, ctx.extra.token))) {
        ctx.extra.socket.close(CloseCode.Forbidden, "Forbidden: the token was revoked");
        return [new GraphQLError("The token was revoked.")];
      }
      let viewer = ctx.extra.viewer;
      let token = ctx.extra.token ?? null;
      if (!viewer) {
        const headers: unknown = payload.extensions?.headers;
        const raw = isRecord(headers) ? headers.authorization ?? headers.Authorization : undefined;
        token = typeof raw === "string" ? bearerToken(raw) : null;
        viewer = token ? await viewerForToken(services.db, token) ?? undefined : undefined;
        if (!viewer) {
          const [code, reason] = token
            ? [CloseCode.Forbidden, "Forbidden"]
            : [CloseCode.Unauthorized, 'Unauthorized: send { authorization: "Bearer <token>" }'];
          ctx.extra.socket.close(code, reason);
          return [new GraphQLError(reason)];
        }
        if (!holdSocket(ctx.extra, viewer, connections, config.wsMaxSocketsPerToken)) {
          return [apiError("TOO_MANY_SOCKETS", "Too many sockets for this token.")];
        }
      }
      // No `request` here: Yoga's usePreventMutationViaGET checks request.method, and the upgrade
      // request is a GET, so every mutation over the socket was refused with 405 BAD_REQUEST.
      // `rateKey`: the bucket a refused document is charged to, before the context exists (cost-throttle.ts).
      const enveloped: Enveloped = yoga.getEnveloped({ params: payload, rateKey: rateKeyOf(token) });
      const query = wsQuery(payload, config.trustedDocumentsOnly);
      if (typeof query !== "string") return [query];
      let document;
      try {
        document = enveloped.parse(query);
      } catch (error) {
        // Masked like every other error: a non-GraphQL one (a bug) is never shown as it is.
        return [forClient(error)];
      }
      const errors = enveloped.validate(enveloped.schema, document);
      if (errors.length > 0) return errors.map(withoutHttp);
      const contextValue = await enveloped.contextFactory(createContext(viewer, services, token, ctx.extra.origin));
      const args: ExecutionArgs = {
        schema: enveloped.schema,
        document,
        variableValues: payload.variables,
        operationName: payload.operationName,
        contextValue,
      };
      envelopedOf.set(args, enveloped);
      return args;
    },
    // Masking in onNext, the hook graphql-ws calls for every result it sends (a query's, a mutation's, each
    // subscription event's), instead of mapping each subscription's stream through one more async iterator:
    // in a V8 profile of 1,000 subscribers (22 events) that layer's next() alone had 53 ms of self time, plus
    // its promises (docs/performance.md, "at scale"). One payload object per result (maskedPayload), serialised once
    // for all the sockets it goes to (NextPayloads).
    onNext: (_ctx, _id, _payload, _args, result) => maskedPayload(result),
    execute: (args) => inWsOperationSpan(args.operationName, async () => await envelopedFor(args).execute(args)),
    subscribe: (args) => envelopedFor(args).subscribe(args),
  });

  return (request: Request, clientIp: string | null): Response => {
    const protocol = handleProtocols(request.headers.get("sec-websocket-protocol") ?? "");
    if (!protocol) return new Response("Unsupported WebSocket subprotocol", { status: 400 });
    const origin = requestOrigin(request, clientIp); // read before the upgrade closes the request
    const { socket, response } = Deno.upgradeWebSocket(request, { protocol, idleTimeout: 30 });
    trackSocket(socket);
    const extra: Extra = { socket, request, origin };
    let closed: (code?: number, reason?: string) => Promise<void> = async () => {};
    socket.onopen = () => {
      closed = server.opened({
        protocol, // the negotiated one: socket.protocol reads "" here
        send: (message) => {
          const spliced = payloads.splice(message); // always: the next message must not get this one's payload
          if (socket.readyState === WebSocket.OPEN) socket.send(spliced);
        },
        close: (code, reason) => socket.close(code, reason),
        onMessage: (callback) => {
          socket.onmessage = async (event) => {
            if (overLimit(event.data, config.maxBodyBytes)) {
              socket.close(WsClose.MessageTooBig, `Message over ${config.maxBodyBytes} bytes`);
              return;
            }
            try {
              await callback(String(event.data));
            } catch (error) {
              log.error("ws", "message handling failed", { error: errorText(error) });
              socket.close(CloseCode.InternalServerError, "Internal server error");
            }
          };
        },
      }, extra);
    };
    socket.onclose = (event) => {
      clearTimeout(extra.tokenDeadline);
      extra.release?.();
      void closed(event.code, event.reason);
    };
    return response;
  };
}

/**
 * Whether a message is over `maxBytes` of UTF-8. A UTF-16 unit is 1 to 3 bytes, so the length
 * alone decides unless it lies between maxBytes/3 and maxBytes; only then are the bytes counted.
 */
function overLimit(data: string | ArrayBuffer | Blob, maxBytes: number): boolean {
  if (data instanceof ArrayBuffer) return data.byteLength > maxBytes;
  if (data instanceof Blob) return data.size > maxBytes;
  if (data.length > maxBytes) return true;
  if (data.length * 3 <= maxBytes) return false;
  return new TextEncoder().encode(data).byteLength > maxBytes;
}
