/**
 * The live part of the operation page: status, bar, counts, throughput, ETA, errors by code, the latest items,
 * and what may be done (cancel while it runs; retry failed by code, roll back, force over conflicts, downloads at
 * the end). Built once and updated in place on every event; every number sits in a box of fixed size with
 * tabular digits, so nothing moves while they change (tests/console_live_test.ts measures the layout shift).
 */
import type { BulkItemCode, ConsoleOperationQuery } from "../clients/generated/graphql.ts";
import { count, duration, eta, isTerminal, type Operation, rate } from "../clients/progress.ts";
import { button, el, humanize, time } from "./dom.ts";
import { SKIP_CODES } from "./enums.ts";
import type { Permissions } from "./session.ts";

export type Detail = NonNullable<ConsoleOperationQuery["bulkOperation"]>;

export interface LatestItem {
  position: number;
  title: string;
  outcome: string;
  code: string | null;
}

/** What the panel's buttons ask the page to do. */
export interface LiveCommands {
  cancel(): Promise<void>;
  retry(codes: BulkItemCode[] | null): Promise<void>;
  rollback(force: boolean): Promise<void>;
  download(format: "jsonl" | "csv", outcome?: "FAILED"): Promise<void>;
  showCode(code: BulkItemCode): void;
}

const COUNTS = ["succeeded", "failed", "skipped", "cancelled", "pending"] as const;

/** Whether this role may act on the operation (delete/restore and rollbacks of them: ADMIN). */
export function mayControl(detail: Detail, can: Permissions): boolean {
  const underlying = detail.action.__typename === "RollbackAction" ? detail.action.parentActionType : detail.actionType;
  return underlying === "DELETE" || underlying === "RESTORE" ? can.admin : can.run;
}

/** What the operation says it does, in words. */
export function actionText(detail: Detail): string {
  const a = detail.action;
  switch (a.__typename) {
    case "SetStatusAction":
      return `Set status to ${humanize(a.status)}`;
    case "SetPriorityAction":
      return `Set priority to ${humanize(a.priority)}`;
    case "SetCategoryAction":
      return `Set category to ${humanize(a.category)}`;
    case "AssignAction":
      return a.assignee ? `Assign to ${a.assignee.name}` : "Unassign";
    case "AddCommentAction":
      return "Add a comment";
    case "ImportTicketsAction":
      return `Import tickets (${humanize(a.mode)}, ${a.importFormat})`;
    case "ExportAction":
      return `Export to ${a.exportFormat}${a.compression === "GZIP" ? " (gzip)" : ""}`;
    case "RollbackAction":
      return `Roll back (${humanize(a.parentActionType)})${a.force ? ", forced" : ""}`;
    default:
      return humanize(detail.actionType).replace(/^./, (c) => c.toUpperCase());
  }
}

/** `latestRows`: how many latest items it shows (a fixed number of rows: the box keeps its height). */
export function livePanel(detail: Detail, can: Permissions, commands: LiveCommands, latestRows: number) {
  const status = el("span", { class: "badge op-status", attrs: { role: "status" } });
  const fill = el("div", "fill");
  const bar = el(
    "div",
    { class: "progress", attrs: { role: "progressbar", "aria-valuemin": 0, "aria-valuemax": 100 } },
    fill,
  );
  const figure = (name: string, label: string) => {
    const value = el("b", { class: "value" });
    return {
      value,
      node: el("div", { class: `figure ${name}`, data: { figure: name } }, el("span", { text: label }), value),
    };
  };
  const figures = {
    percent: figure("percent", "done"),
    processed: figure("processed", "processed"),
    // A cast kept: Object.fromEntries types its keys as string, not as COUNTS's.
    ...Object.fromEntries(COUNTS.map((name) => [name, figure(name, name)])) as Record<
      typeof COUNTS[number],
      ReturnType<typeof figure>
    >,
    rate: figure("rate", "throughput"),
    eta: figure("eta", "ETA"),
  };
  const errors = el("ul", { class: "errors", attrs: { "aria-label": "Errors by code" } });
  const latest = el("ol", { class: "latest", attrs: { "aria-label": "Latest items" } });
  const controls = el("div", { class: "controls", attrs: { role: "group", "aria-label": "What to do" } });
  const confirmBox = el("div", {
    class: "confirm",
    attrs: { role: "alertdialog", "aria-label": "Cancel the operation?" },
  });
  confirmBox.hidden = true;

  const element = el(
    "section",
    { class: "live-panel", attrs: { "aria-label": "Progress" } },
    el("div", "live-head", status, el("span", { class: "action-text", text: actionText(detail) })),
    bar,
    el("div", "figures", ...Object.values(figures).map((f) => f.node)),
    el(
      "div",
      "live-lists",
      el("div", "box", el("h3", { text: "Errors by code" }), errors),
      el("div", "box", el("h3", { text: "Latest items" }), latest),
    ),
    controls,
    confirmBox,
  );

  let shownControls = "";
  let shownErrors = "";

  function renderControls(op: Operation): void {
    const done = isTerminal(op.status);
    const may = mayControl(detail, can);
    const failedCodes = op.errorSummary.filter((e) => !SKIP_CODES.has(e.code));
    const conflicts = op.errorSummary.some((e) => e.code === "CONFLICT");
    // Rebuilt only when what is offered changes: a button under the pointer or the focus stays put.
    const key = JSON.stringify([op.status, !!op.cancelRequestedAt, failedCodes, conflicts, op.counts.succeeded > 0]);
    if (key === shownControls) return;
    shownControls = key;
    const list: HTMLElement[] = [];
    if (!done && may && !op.cancelRequestedAt) {
      list.push(button("Cancel operation", () => askCancel(), { class: "danger", data: { command: "cancel" } }));
    }
    if (done) {
      list.push(el("span", { class: "final", text: finalText(op) }));
      if (may && op.counts.failed > 0 && op.kind !== "ROLLBACK") {
        list.push(button("Retry all failed", () => void commands.retry(null), { data: { command: "retry" } }));
        if (failedCodes.length > 1) {
          for (const e of failedCodes) {
            list.push(
              button(`Retry ${e.code} (${count(e.count)})`, () => void commands.retry([e.code]), {
                data: { command: "retry", code: e.code },
              }),
            );
          }
        }
      }
      // An export changed nothing: the server refuses its rollback (NOTHING_TO_ROLL_BACK), so no button.
      if (may && op.kind !== "ROLLBACK" && detail.action.__typename !== "ExportAction" && op.counts.succeeded > 0) {
        list.push(button("Roll back", () => void commands.rollback(false), { data: { command: "rollback" } }));
      }
      if (may && op.kind === "ROLLBACK" && conflicts && op.parent) {
        list.push(
          button("Overwrite conflicts", () => void commands.rollback(true), {
            class: "danger",
            data: { command: "force" },
          }),
        );
      }
    }
    list.push(
      el("span", "spacer"),
      button("Download JSONL", () => void commands.download("jsonl"), {
        class: "secondary",
        data: { download: "jsonl" },
      }),
      button("Download CSV", () => void commands.download("csv"), { class: "secondary", data: { download: "csv" } }),
    );
    if (op.counts.failed > 0) {
      list.push(
        button("Failed rows (CSV)", () => void commands.download("csv", "FAILED"), {
          class: "secondary",
          data: { download: "failed" },
        }),
      );
    }
    controls.replaceChildren(...list);
  }

  function askCancel(): void {
    confirmBox.hidden = false;
    const yes = button("Yes, cancel it", async () => {
      confirmBox.hidden = true;
      await commands.cancel();
    }, { class: "danger", data: { command: "confirm-cancel" } });
    confirmBox.replaceChildren(
      el("p", { text: "Cancel? The chunk in flight finishes; every item not yet processed ends cancelled." }),
      yes,
      button("Keep running", () => (confirmBox.hidden = true), { class: "secondary" }),
    );
    yes.focus();
  }

  function update(op: Operation, itemsPerSecond: number | null, now = Date.now()): void {
    const done = isTerminal(op.status);
    element.dataset.status = op.status;
    status.textContent = humanize(op.status);
    status.className = `badge op-status status-${op.status}`;
    const percent = Math.max(0, Math.min(100, op.percent));
    bar.setAttribute("aria-valuenow", String(Math.round(percent * 10) / 10));
    bar.setAttribute("aria-label", `${percent.toFixed(1)}% processed`);
    fill.style.transform = `scaleX(${percent / 100})`;
    const c = op.counts;
    figures.percent.value.textContent = `${percent.toFixed(1)}%`;
    figures.processed.value.textContent = `${count(c.processed)} / ${count(c.total)}`;
    for (const name of COUNTS) figures[name].value.textContent = count(c[name]);
    const waiting = op.status === "SCHEDULED" || op.status === "QUEUED";
    figures.rate.value.textContent = done
      ? (op.throughput ? `avg ${rate(op.throughput)}` : "–")
      : waiting
      ? "–"
      : rate(itemsPerSecond);
    const left = eta(op, itemsPerSecond, now);
    figures.eta.value.textContent = done
      ? (op.finishedAt && op.startedAt ? `took ${duration(Date.parse(op.finishedAt) - Date.parse(op.startedAt))}` : "–")
      : waiting
      ? (op.scheduledAt ? `at ${time(op.scheduledAt)}` : "queued")
      : left === null
      ? "–"
      : duration(left);
    renderErrors(op);
    renderControls(op);
  }

  /** The codes and their counts; rebuilt only when they change (the ETA ticks every second: focus stays put). */
  function renderErrors(op: Operation): void {
    const key = JSON.stringify(op.errorSummary);
    if (key === shownErrors) return;
    shownErrors = key;
    errors.replaceChildren(
      ...op.errorSummary.map((e) =>
        el(
          "li",
          { class: SKIP_CODES.has(e.code) ? "skip" : "fail", data: { code: e.code } },
          button(`${e.code} ${count(e.count)}`, () => commands.showCode(e.code), {
            class: "link",
            attrs: { "aria-label": `Show the ${count(e.count)} items with ${e.code}` },
          }),
        )
      ),
    );
    if (op.errorSummary.length === 0) errors.append(el("li", { class: "muted", text: "none so far" }));
  }

  function showLatest(items: readonly LatestItem[]): void {
    const rows = items.slice(-latestRows).reverse().map((item) =>
      el(
        "li",
        { data: { outcome: item.outcome } },
        el("span", { class: "pos", text: `#${item.position + 1}` }),
        el("span", { class: "ttl", text: item.title }),
        el("span", { class: `badge outcome-${item.outcome}`, text: item.code ?? humanize(item.outcome) }),
      )
    );
    // Always latestRows rows: the box keeps its height as items arrive.
    while (rows.length < latestRows) {
      rows.push(el("li", { class: "placeholder", attrs: { "aria-hidden": "true" } }, "\u00a0"));
    }
    latest.replaceChildren(...rows);
  }
  showLatest([]);

  return { element, update, showLatest };
}

function finalText(op: Operation): string {
  const c = op.counts;
  const parts = [`${count(c.succeeded)} succeeded`];
  if (c.failed) parts.push(`${count(c.failed)} failed`);
  if (c.skipped) parts.push(`${count(c.skipped)} skipped`);
  if (c.cancelled) parts.push(`${count(c.cancelled)} cancelled`);
  return `${humanize(op.status).replace(/^./, (ch) => ch.toUpperCase())}: ${parts.join(", ")}.`;
}
