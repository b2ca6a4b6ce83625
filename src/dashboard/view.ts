/**
 * The dashboard's DOM: one card per operation, created once and updated in place on every
 * event (no framework, no innerHTML: every value is set as text, so descriptions are inert).
 */
import { count, duration, eta, isTerminal, type Operation, rate } from "../clients/progress.ts";

export type Action = "cancel" | "retry" | "rollback" | "force";

/** Codes that mark skipped items (the rest are failures). */
const SKIP_CODES = new Set(["NO_CHANGE", "CONFLICT"]);

function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  className?: string,
  text?: string,
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

/**
 * Which buttons apply: cancel while running; retry when items failed; rollback of a finished
 * non-rollback; on a finished rollback that skipped CONFLICT items, roll its parent back
 * again with force (overwriting what was changed since).
 */
export function allowed(op: Operation): Record<Action, boolean> {
  const done = isTerminal(op.status);
  const conflicts = op.errorSummary.some((e) => e.code === "CONFLICT");
  return {
    cancel: !done && !op.cancelRequestedAt,
    retry: done && op.counts.failed > 0 && op.kind !== "ROLLBACK",
    rollback: done && op.kind !== "ROLLBACK" && op.counts.succeeded > 0,
    force: done && op.kind === "ROLLBACK" && conflicts && op.parent !== null,
  };
}

/** 13:05:09 today, else 2030-01-01 00:00. */
function time(iso: string): string {
  const at = new Date(iso);
  if (at.toDateString() === new Date().toDateString()) return at.toLocaleTimeString([], { hour12: false });
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${at.getFullYear()}-${pad(at.getMonth() + 1)}-${pad(at.getDate())} ${pad(at.getHours())}:${
    pad(at.getMinutes())
  }`;
}

/** A new, empty card; `update` fills it. Buttons carry data-action for the click handler. */
export function createCard(id: string): HTMLElement {
  const card = el("article", "op");
  card.dataset.id = id;
  const header = el("header");
  header.append(
    el("span", "status"),
    el("span", "action"),
    el("span", "kind"),
    el("span", "description"),
    el("span", "meta"),
  );
  const progress = el("div", "progress");
  progress.setAttribute("role", "progressbar");
  progress.setAttribute("aria-valuemin", "0");
  progress.setAttribute("aria-valuemax", "100");
  progress.append(el("div", "fill"));
  const numbers = el("div", "numbers");
  numbers.append(el("span", "percent"), el("span", "count total"));
  for (const name of ["succeeded", "failed", "skipped", "cancelled", "pending"]) {
    const span = el("span", `count ${name}`);
    span.append(`${name} `, el("b"));
    numbers.append(span);
  }
  numbers.append(el("span", "rate"), el("span", "eta"));
  const footer = el("footer");
  const labels: Record<Action, string> = {
    cancel: "Cancel",
    retry: "Retry failed",
    rollback: "Roll back",
    force: "Overwrite conflicts",
  };
  for (const action of Object.keys(labels) as Action[]) {
    const button = el("button", action, labels[action]);
    button.type = "button";
    button.dataset.action = action;
    footer.append(button);
  }
  card.append(header, progress, numbers, el("ul", "errors"), footer);
  return card;
}

/** Writes the operation's state into its card. `itemsPerSecond` is the best rate known. */
export function updateCard(card: HTMLElement, op: Operation, itemsPerSecond: number | null, now = Date.now()): void {
  const q = <T extends Element = HTMLElement>(selector: string) => card.querySelector(selector) as T;
  card.dataset.status = op.status;
  card.dataset.kind = op.kind;
  q(".status").textContent = op.status.replaceAll("_", " ");
  q(".action").textContent = op.actionType.replaceAll("_", " ").toLowerCase();
  q(".kind").textContent = op.kind === "STANDARD"
    ? ""
    : `${op.kind.toLowerCase()}${op.parent ? " of an operation" : ""}`;
  q(".description").textContent = op.description ?? "";
  q(".meta").textContent = [
    op.createdBy?.email,
    op.scheduledAt && !op.startedAt ? `scheduled ${time(op.scheduledAt)}` : `created ${time(op.createdAt)}`,
    op.finishedAt && op.startedAt ? `took ${duration(Date.parse(op.finishedAt) - Date.parse(op.startedAt))}` : null,
  ].filter(Boolean).join(" · ");
  q(".meta").title = op.id;

  const percent = Math.max(0, Math.min(100, op.percent));
  const bar = q(".progress");
  bar.setAttribute("aria-valuenow", String(Math.round(percent * 10) / 10));
  bar.setAttribute("aria-label", `${percent.toFixed(1)}% processed`);
  q(".fill").style.width = `${percent}%`;

  const c = op.counts;
  q(".percent").textContent = `${percent.toFixed(1)}%`;
  q(".total").textContent = `${count(c.processed)} / ${count(c.total)}`;
  for (const name of ["succeeded", "failed", "skipped", "cancelled", "pending"] as const) {
    q(`.${name} b`).textContent = count(c[name]);
  }
  const done = isTerminal(op.status);
  const waiting = op.status === "SCHEDULED" || op.status === "QUEUED";
  q(".rate").textContent = done
    ? (op.throughput ? `avg ${rate(op.throughput)}` : "")
    : waiting
    ? ""
    : rate(itemsPerSecond);
  const left = eta(op, itemsPerSecond, now);
  q(".eta").textContent = done || waiting ? "" : `ETA ${left === null ? "-" : duration(left)}`;

  const errors = q(".errors");
  errors.replaceChildren(
    ...op.errorSummary.map((e) => {
      const li = el("li", SKIP_CODES.has(e.code) ? "skip" : "fail", `${e.code} ${count(e.count)}`);
      li.dataset.code = e.code;
      return li;
    }),
  );

  const can = allowed(op);
  for (const button of card.querySelectorAll<HTMLButtonElement>("footer button")) {
    const action = button.dataset.action as Action;
    if (!button.dataset.busy) button.disabled = !can[action];
    // The rare one is shown only where it applies; the others stay in place, greyed out.
    if (action === "force") button.hidden = !can.force;
  }
}
