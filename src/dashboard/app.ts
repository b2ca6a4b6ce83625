/**
 * The dashboard (browser entry, bundled by src/http/dashboard.ts): the tenant's recent
 * operations with live progress.
 *
 * Feeds, all over one graphql-ws connection (token in connection_init):
 * - bulkOperationsChanged: every change of any operation of the tenant (new ones appear);
 * - bulkOperationProgress: one per operation still running, until its terminal state.
 * Both deliver whole operation states; the later one wins (progress.ts isNewer). On every
 * (re)connection the list is re-read over HTTP, so nothing missed while offline stays stale.
 *
 * The token is kept in sessionStorage: this tab only, gone when it closes.
 */
import type { Client } from "graphql-ws";
import {
  CancelOperationDocument,
  ListOperationsDocument,
  OperationsChangedDocument,
  RetryOperationDocument,
  RollbackOperationDocument,
  WatchOperationDocument,
  WhoAmIDocument,
} from "../clients/generated/graphql.ts";
import { isNewer, isTerminal, type Operation, RateMeter } from "../clients/progress.ts";
import { closeError, connect, GraphQLRequestError, request, subscribe } from "../clients/transport.ts";
import { type Action, createCard, updateCard } from "./view.ts";

const TOKEN_KEY = "bulk-dashboard-token";
const SHOWN = 30;

const endpoint = new URL("/graphql", location.href);
const httpUrl = endpoint.toString();
endpoint.protocol = location.protocol === "https:" ? "wss:" : "ws:";
const wsUrl = endpoint.toString();

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const list = $("operations");
const tokenInput = $<HTMLInputElement>("token");

interface Session {
  token: string;
  client: Client;
  ops: Map<string, Operation>;
  cards: Map<string, HTMLElement>;
  meters: Map<string, RateMeter>;
  watchers: Map<string, () => void>;
  stopFeed: () => void;
  ticker: ReturnType<typeof setInterval> | undefined;
  closed: boolean;
}

let session: Session | null = null;

function say(text: string, kind: "info" | "error" = "info"): void {
  const message = $("message");
  message.textContent = text;
  message.dataset.kind = kind;
  message.hidden = text === "";
}

function setLive(state: "off" | "connecting" | "live"): void {
  const live = $("live");
  live.dataset.state = state;
  live.textContent = state === "live" ? "live" : state === "connecting" ? "connecting…" : "offline";
}

function describe(error: unknown): string {
  if (error instanceof GraphQLRequestError) {
    return error.code === "UNAUTHENTICATED" ? "The token was rejected." : error.message;
  }
  return error instanceof Error ? error.message : String(error);
}

function render(s: Session, op: Operation): void {
  let card = s.cards.get(op.id);
  if (!card) {
    card = createCard(op.id);
    s.cards.set(op.id, card);
    // Newest first: before the first card created earlier than this one.
    const later = [...list.children].find((other) => {
      const shown = s.ops.get((other as HTMLElement).dataset.id!);
      return shown && shown.createdAt < op.createdAt;
    });
    list.insertBefore(card, later ?? null);
    while (list.children.length > SHOWN) {
      const last = list.lastElementChild as HTMLElement;
      s.cards.delete(last.dataset.id!);
      last.remove();
    }
    $("empty").hidden = true;
  }
  updateCard(card, op, op.throughput ?? s.meters.get(op.id)?.perSecond ?? null);
}

/** Takes a state from any feed; keeps it when it is not older than the one shown. */
function accept(s: Session, op: Operation): void {
  if (s.closed || !isNewer(op, s.ops.get(op.id))) return;
  s.ops.set(op.id, op);
  const meter = s.meters.get(op.id) ?? new RateMeter();
  s.meters.set(op.id, meter);
  meter.observe(op.counts.processed);
  render(s, op);
  watch(s, op);
}

/** Follows a running operation with its own progress subscription until its terminal state. */
function watch(s: Session, op: Operation): void {
  if (isTerminal(op.status) || s.watchers.has(op.id)) return;
  const stop = subscribe(s.client, WatchOperationDocument, { id: op.id }, {
    next: (data) => accept(s, data.bulkOperationProgress),
    error: () => s.watchers.delete(op.id), // the tenant feed still covers it
    complete: () => s.watchers.delete(op.id),
  });
  s.watchers.set(op.id, stop);
}

async function reload(s: Session): Promise<void> {
  const data = await request(httpUrl, s.token, ListOperationsDocument, { first: SHOWN });
  for (const edge of [...data.bulkOperations.edges].reverse()) accept(s, edge.node);
  if (data.bulkOperations.edges.length === 0 && s.ops.size === 0) {
    $("empty").hidden = false;
    $("empty").textContent = "No operations yet. Start one with `deno task cli -- start ...` or the API.";
  }
}

function stop(): void {
  if (!session) return;
  const s = session;
  session = null;
  s.closed = true;
  clearInterval(s.ticker);
  s.stopFeed();
  for (const unsubscribe of s.watchers.values()) unsubscribe();
  void s.client.dispose();
  list.replaceChildren();
  $("viewer").textContent = "";
  setLive("off");
}

async function start(token: string): Promise<void> {
  stop();
  say("");
  setLive("connecting");
  let viewer;
  try {
    viewer = await request(httpUrl, token, WhoAmIDocument, {});
  } catch (error) {
    setLive("off");
    say(describe(error), "error");
    return;
  }
  const { user, tenant } = viewer.viewer;
  $("viewer").textContent = `${user.email} (${user.role.toLowerCase()}) · ${tenant.name}`;
  let connections = 0;
  const client = connect(wsUrl, token, {
    retryAttempts: Infinity,
    shouldRetry: () => true,
    on: {
      connected: () => {
        setLive("live");
        if (connections++ > 0 && session) void reload(session).catch((e) => say(describe(e), "error"));
      },
      closed: (event) => {
        if (!session?.closed) setLive("connecting");
        const code = (event as CloseEvent | undefined)?.code;
        if (code === 4403 || code === 4401) say("The token was rejected by the WebSocket server.", "error");
      },
    },
  });
  const s: Session = {
    token,
    client,
    ops: new Map(),
    cards: new Map(),
    meters: new Map(),
    watchers: new Map(),
    stopFeed: () => {},
    ticker: undefined,
    closed: false,
  };
  session = s;
  // Subscribe first, then read the list: a change in between is not lost.
  s.stopFeed = subscribe(client, OperationsChangedDocument, {}, {
    next: (data) => accept(s, data.bulkOperationsChanged),
    error: (error) => say(`Live feed ended: ${describe(closeError(error))}`, "error"),
    complete: () => {},
  });
  // Keeps ETAs counting down between events.
  s.ticker = setInterval(() => {
    for (const op of s.ops.values()) {
      if (!isTerminal(op.status)) render(s, op);
    }
  }, 1000);
  try {
    await reload(s);
  } catch (error) {
    say(describe(error), "error");
  }
}

/** Each button's mutation, given the operation of its card. */
const mutations = {
  cancel: async (token: string, op: Operation) =>
    (await request(httpUrl, token, CancelOperationDocument, { id: op.id })).cancelBulkOperation,
  retry: async (token: string, op: Operation) =>
    (await request(httpUrl, token, RetryOperationDocument, { input: { id: op.id } })).retryFailedItems,
  rollback: async (token: string, op: Operation) =>
    (await request(httpUrl, token, RollbackOperationDocument, { input: { id: op.id } })).rollbackBulkOperation,
  // On a rollback card: roll its parent back again, overwriting the tickets changed since.
  force: async (token: string, op: Operation) =>
    (await request(httpUrl, token, RollbackOperationDocument, { input: { id: op.parent!.id, force: true } }))
      .rollbackBulkOperation,
};

list.addEventListener("click", async (event) => {
  const button = (event.target as HTMLElement).closest<HTMLButtonElement>("button[data-action]");
  const card = button?.closest<HTMLElement>(".op");
  if (!button || !card || !session) return;
  const s = session;
  const action = button.dataset.action as Action;
  const id = card.dataset.id!;
  button.disabled = true;
  button.dataset.busy = "1";
  const op = s.ops.get(id);
  if (!op) return;
  try {
    const payload = await mutations[action](s.token, op);
    if (payload.userErrors.length > 0) {
      say(payload.userErrors.map((e) => `${e.code}: ${e.message}`).join("\n"), "error");
    } else if (payload.bulkOperation) {
      accept(s, payload.bulkOperation);
      say(
        action === "cancel"
          ? "Cancel requested: the chunk in flight finishes, the rest ends cancelled."
          : `${action === "retry" ? "Retry" : action === "force" ? "Forced rollback" : "Rollback"} started.`,
      );
    }
  } catch (error) {
    say(describe(error), "error");
  } finally {
    delete button.dataset.busy;
    const latest = s.ops.get(id);
    if (latest && s.cards.get(id)) render(s, latest);
  }
});

$<HTMLFormElement>("token-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const token = tokenInput.value.trim();
  if (!token) return;
  sessionStorage.setItem(TOKEN_KEY, token);
  void start(token);
});

$("forget").addEventListener("click", () => {
  sessionStorage.removeItem(TOKEN_KEY);
  tokenInput.value = "";
  stop();
  $("empty").hidden = false;
  say("Token forgotten.");
});

const saved = sessionStorage.getItem(TOKEN_KEY);
if (saved) {
  tokenInput.value = saved;
  void start(saved);
}
