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
 */
import { type ExecutionArgs, GraphQLError } from "graphql";
import { CloseCode, handleProtocols, makeServer } from "graphql-ws";
import { bearerToken, type Viewer, viewerForToken } from "../auth/tokens.ts";
import { createContext, rateKeyOf, type Services } from "./context.ts";
import { maskError, type YogaServer } from "./yoga.ts";

interface Extra {
  socket: WebSocket;
  request: Request;
  viewer?: Viewer;
  /** The connection_init token, checked again at each subscribe (a revoked one stops working). */
  token?: string;
}

type Enveloped = ReturnType<YogaServer["getEnveloped"]>;

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

function masked(result: unknown): unknown {
  const value = result as { errors?: readonly unknown[] };
  if (value && typeof value === "object" && Array.isArray(value.errors)) {
    return { ...value, errors: value.errors.map(forClient) };
  }
  return result;
}

export function createWsHandler(yoga: YogaServer, services: Services) {
  const server = makeServer<Record<string, unknown>, Extra>({
    onConnect: async (ctx) => {
      const raw = ctx.connectionParams?.authorization ?? ctx.connectionParams?.Authorization;
      // No token at all: it may come with each subscribe instead (GraphiQL); checked there.
      if (raw === undefined) return true;
      const token = typeof raw === "string" ? bearerToken(raw) : null;
      if (!token) {
        ctx.extra.socket.close(CloseCode.Unauthorized, 'Unauthorized: send { authorization: "Bearer <token>" }');
        return false;
      }
      const viewer = await viewerForToken(services.db, token);
      if (!viewer) return false; // 4403 Forbidden
      ctx.extra.viewer = viewer;
      ctx.extra.token = token;
      return true;
    },
    onSubscribe: async (ctx, _id, payload) => {
      if (ctx.extra.token && !(await viewerForToken(services.db, ctx.extra.token))) {
        ctx.extra.socket.close(CloseCode.Forbidden, "Forbidden: the token was revoked");
        return [new GraphQLError("The token was revoked.")];
      }
      let viewer = ctx.extra.viewer;
      let token = ctx.extra.token ?? null;
      if (!viewer) {
        const headers = (payload.extensions?.headers ?? {}) as Record<string, unknown>;
        const raw = headers.authorization ?? headers.Authorization;
        token = typeof raw === "string" ? bearerToken(raw) : null;
        viewer = token ? await viewerForToken(services.db, token) ?? undefined : undefined;
        if (!viewer) {
          const [code, reason] = token
            ? [CloseCode.Forbidden, "Forbidden"]
            : [CloseCode.Unauthorized, 'Unauthorized: send { authorization: "Bearer <token>" }'];
          ctx.extra.socket.close(code, reason);
          return [new GraphQLError(reason)];
        }
      }
      // No `request` here: Yoga's usePreventMutationViaGET checks request.method, and the upgrade
      // request is a GET, so every mutation over the socket was refused with 405 BAD_REQUEST.
      // `rateKey`: the bucket a refused document is charged to, before the context exists (cost-throttle.ts).
      const enveloped: Enveloped = yoga.getEnveloped({ params: payload, rateKey: rateKeyOf(token) });
      let document;
      try {
        document = enveloped.parse(payload.query);
      } catch (error) {
        // Masked like every other error: a non-GraphQL one (a bug) is never shown as it is.
        return [forClient(error)];
      }
      const errors = enveloped.validate(enveloped.schema, document);
      if (errors.length > 0) return errors.map(withoutHttp);
      const contextValue = await enveloped.contextFactory(createContext(viewer, services, token));
      const args: ExecutionArgs = {
        schema: enveloped.schema,
        document,
        variableValues: payload.variables,
        operationName: payload.operationName,
        contextValue,
        rootValue: { execute: enveloped.execute, subscribe: enveloped.subscribe },
      };
      return args;
    },
    execute: async (args) => masked(await (args.rootValue as Enveloped).execute(args)) as never,
    subscribe: async (args) => {
      const result = await (args.rootValue as Enveloped).subscribe(args);
      if (result && typeof result === "object" && Symbol.asyncIterator in result) {
        return mapAsync(result as AsyncGenerator, masked) as never;
      }
      return masked(result) as never;
    },
  });

  return (request: Request): Response => {
    const protocol = handleProtocols(request.headers.get("sec-websocket-protocol") ?? "");
    if (!protocol) return new Response("Unsupported WebSocket subprotocol", { status: 400 });
    const { socket, response } = Deno.upgradeWebSocket(request, { protocol, idleTimeout: 30 });
    let closed: (code?: number, reason?: string) => Promise<void> = async () => {};
    socket.onopen = () => {
      closed = server.opened({
        protocol, // the negotiated one: socket.protocol reads "" here
        send: (message) => {
          if (socket.readyState === WebSocket.OPEN) socket.send(message);
        },
        close: (code, reason) => socket.close(code, reason),
        onMessage: (callback) => {
          socket.onmessage = async (event) => {
            try {
              await callback(String(event.data));
            } catch (error) {
              console.error("[ws] message handling failed:", error);
              socket.close(CloseCode.InternalServerError, "Internal server error");
            }
          };
        },
      }, { socket, request });
    };
    socket.onclose = (event) => void closed(event.code, event.reason);
    return response;
  };
}

/** Maps each value of an async iterator, forwarding return() so unsubscribing cleans up. */
function mapAsync<T, U>(source: AsyncGenerator<T>, map: (value: T) => U): AsyncGenerator<U> {
  const iterator = source[Symbol.asyncIterator]();
  return {
    async next() {
      const step = await iterator.next();
      return step.done ? step : { done: false, value: map(step.value) };
    },
    async return(value?: unknown) {
      await iterator.return?.(value as T);
      return { done: true, value: undefined as U };
    },
    async throw(error?: unknown) {
      await iterator.throw?.(error);
      return { done: true, value: undefined as U };
    },
    [Symbol.asyncIterator]() {
      return this;
    },
    async [Symbol.asyncDispose]() {
      await iterator.return?.(undefined as T);
    },
  } as AsyncGenerator<U>;
}
