/**
 * The bulk-operations console (browser entry, bundled by src/http/dashboard.ts, served at /console): the token
 * form, the header's live indicator, and a hash router over the pages:
 *   #/tickets            select tickets, act on them (tickets-page.ts, start-flow.ts)
 *   #/operations/<id>    one operation live, then its items, events and lineage (operation-page.ts)
 *   #/history            every operation (history-page.ts)
 *   #/webhooks           ADMIN: endpoints, deliveries, redeliver (webhooks-page.ts)
 * The route is in the URL and the token in sessionStorage (this tab only), so a reload lands where it was.
 */
import { historyPage } from "./history-page.ts";
import { operationPage } from "./operation-page.ts";
import type { Page, PageContext } from "./page.ts";
import { describe, type LiveState, Session } from "./session.ts";
import { ticketsPage } from "./tickets-page.ts";
import { webhooksPage } from "./webhooks-page.ts";

const TOKEN_KEY = "bulk-console-token";

const byId = (id: string): HTMLElement => {
  const node = document.getElementById(id);
  if (!node) throw new Error(`index.html has no #${id}`);
  return node;
};
/** An element that must be of one kind (an input, a form). */
const byIdOf = <T extends HTMLElement>(id: string, kind: new () => T): T => {
  const node = byId(id);
  if (!(node instanceof kind)) throw new Error(`index.html's #${id} is not a ${kind.name}`);
  return node;
};
const view = byId("view");
const tokenInput = byIdOf("token", HTMLInputElement);
const live = byId("live");
const message = byId("message");
const webhooksLink = byId("nav-webhooks");

let session: Session | null = null;
let page: Page | null = null;

function say(text: string, kind: "info" | "error" = "info"): void {
  message.textContent = text;
  message.dataset.kind = kind;
  message.hidden = text === "";
}

const LIVE_TEXT: Record<LiveState, string> = {
  off: "offline",
  connecting: "connecting…",
  live: "live",
  reconnecting: "reconnecting…",
};

function setLive(state: LiveState): void {
  live.dataset.state = state;
  live.textContent = LIVE_TEXT[state];
}

function route(): void {
  page?.dispose();
  page = null;
  if (!session) {
    view.replaceChildren();
    return;
  }
  const ctx: PageContext = {
    session,
    navigate: (hash) => {
      if (location.hash === hash) route();
      else location.hash = hash;
    },
    say,
    fail: (error) => say(describe(error), "error"),
  };
  const hash = location.hash || "#/tickets";
  const operation = /^#\/operations\/([^/]+)$/.exec(hash);
  if (operation) page = operationPage(ctx, decodeURIComponent(operation[1]));
  else if (hash === "#/history") page = historyPage(ctx);
  else if (hash === "#/webhooks" && session.can.admin) page = webhooksPage(ctx);
  else page = ticketsPage(ctx);
  for (const link of document.querySelectorAll<HTMLAnchorElement>("#nav a")) {
    const current = link.hash === hash || (!!operation && link.hash === "#/history");
    if (current) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  view.replaceChildren(page.element);
}

function signOut(): void {
  page?.dispose();
  page = null;
  session?.close();
  session = null;
  view.replaceChildren();
  byId("viewer").textContent = "";
  webhooksLink.hidden = true;
  document.body.dataset.role = "";
  setLive("off");
}

async function signIn(token: string): Promise<void> {
  signOut();
  say("");
  setLive("connecting");
  try {
    session = await Session.open(token, new URL(location.href), setLive);
  } catch (error) {
    setLive("off");
    say(describe(error), "error");
    return;
  }
  const { user } = session;
  byId("viewer").textContent = `${user.email} (${user.role.toLowerCase()}) · ${session.tenant}`;
  document.body.dataset.role = user.role;
  webhooksLink.hidden = !session.can.admin;
  byId("intro").hidden = true;
  route();
}

byIdOf("token-form", HTMLFormElement).addEventListener("submit", (event) => {
  event.preventDefault();
  const token = tokenInput.value.trim();
  if (!token) return;
  sessionStorage.setItem(TOKEN_KEY, token);
  void signIn(token);
});

byId("forget").addEventListener("click", () => {
  sessionStorage.removeItem(TOKEN_KEY);
  tokenInput.value = "";
  signOut();
  byId("intro").hidden = false;
  say("Token forgotten.");
});

addEventListener("hashchange", () => {
  route();
  view.focus();
});

const saved = sessionStorage.getItem(TOKEN_KEY);
if (saved) {
  tokenInput.value = saved;
  void signIn(saved);
}
