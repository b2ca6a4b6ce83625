/**
 * One operation (#/operations/<id>): the live panel on top, fed by bulkOperationProgress (graphql-ws; after a
 * socket drop graphql-ws re-subscribes, and the first event of a subscription is the state now, so the page is
 * current again), then the detail: items with outcome and code filters and keyset pages, each item's
 * before -> after, the events (who, what, when) and the lineage (parent, retries, rollbacks).
 * The URL holds the id, so a reload lands on the same live view.
 */
import {
  type BulkItemCode,
  type BulkItemFilter,
  type BulkItemOutcome,
  CancelOperationDocument,
  ConsoleEventsDocument,
  type ConsoleEventsQuery,
  type ConsoleItemFragment,
  ConsoleItemsDocument,
  type ConsoleItemsQuery,
  type ConsoleItemsQueryVariables,
  ConsoleOperationDocument,
  RetryOperationDocument,
  RollbackOperationDocument,
  WatchOperationDocument,
} from "../clients/generated/graphql.ts";
import { count, isNewer, isTerminal, type Operation, RateMeter } from "../clients/progress.ts";
import { button, diff, el, field, humanize, picked, select, table, time } from "./dom.ts";
import { ITEM_CODES, ITEM_OUTCOMES } from "./enums.ts";
import { actionText, type Detail, livePanel } from "./live-panel.ts";
import { filesSection } from "./operation-files.ts";
import type { Page, PageContext } from "./page.ts";
import { userErrorText } from "./session.ts";

type ItemsPage = NonNullable<ConsoleItemsQuery["bulkOperation"]>["items"]["pageInfo"];
type Event = NonNullable<ConsoleEventsQuery["bulkOperation"]>["events"]["edges"][number]["node"];

const ITEMS_PAGE = 50;
const EVENTS_PAGE = 50;
/**
 * The latest items are re-read at most this often while events arrive. Measured (2-core shared machine, 100,000-item
 * operation, 10,000 processed, after ANALYZE): 16 ms, a backward primary-key scan that filters out the 90,000
 * pending items; one query per outcome was no better (the planner picked the same scan, 14 ms each). An API
 * ordered by processed_at would make it constant; until then, once a second.
 */
const LATEST_EVERY_MS = 1000;
/** The outcomes of processed items. */
const PROCESSED: BulkItemOutcome[] = ["SUCCEEDED", "FAILED", "SKIPPED", "CANCELLED"];
/** How many latest items the live panel shows. */
const LATEST = 8;

export function operationPage(ctx: PageContext, id: string): Page {
  const { session } = ctx;
  const element = el("section", { class: "page operation-page", attrs: { "aria-label": "Operation" } });
  const disposers: (() => void)[] = [];
  let disposed = false;
  element.append(el("p", { class: "muted", text: "Loading…" }));

  void (async () => {
    let detail: Detail | null;
    try {
      detail = (await session.query(ConsoleOperationDocument, { id })).bulkOperation;
    } catch (error) {
      return ctx.fail(error);
    }
    if (disposed) return;
    if (!detail) {
      element.replaceChildren(
        el("h2", { text: "Not found" }),
        el("p", { text: "No operation with this id in your tenant." }),
      );
      return;
    }
    build(detail);
  })();

  function build(detail: Detail): void {
    let op: Operation = detail;
    const meter = new RateMeter();
    const commands = {
      cancel: async () => {
        const { cancelBulkOperation: r } = await session.query(CancelOperationDocument, { id });
        if (r.userErrors.length) return ctx.say(userErrorText(r.userErrors), "error");
        if (r.bulkOperation) accept(r.bulkOperation);
        ctx.say("Cancel requested: the chunk in flight finishes, the rest ends cancelled.");
      },
      retry: async (codes: BulkItemCode[] | null) => {
        const { retryFailedItems: r } = await session.query(RetryOperationDocument, {
          input: { id, errorCodes: codes },
        });
        if (r.userErrors.length || !r.bulkOperation) return ctx.say(userErrorText(r.userErrors), "error");
        ctx.navigate(`#/operations/${encodeURIComponent(r.bulkOperation.id)}`);
        ctx.say("Retry started.");
      },
      rollback: async (force: boolean) => {
        // Forcing is asked of the rolled-back operation again, from its rollback that met conflicts.
        const target = force ? detail.parent?.id : id;
        if (!target) return;
        const { rollbackBulkOperation: r } = await session.query(RollbackOperationDocument, {
          input: { id: target, force },
        });
        if (r.userErrors.length || !r.bulkOperation) return ctx.say(userErrorText(r.userErrors), "error");
        ctx.navigate(`#/operations/${encodeURIComponent(r.bulkOperation.id)}`);
        ctx.say(force ? "Forced rollback started." : "Rollback started.");
      },
      download: async (format: "jsonl" | "csv", outcome?: "FAILED") => {
        const suffix = outcome ? `?outcome=${outcome}` : "";
        const name = `bulk-operation-${id}-${outcome ? "failed" : "items"}.${format}`;
        await session.download(`/bulk-operations/${encodeURIComponent(id)}/items.${format}${suffix}`, name)
          .catch(ctx.fail);
      },
      showCode: (code: BulkItemCode) => items.show({ errorCode: [code] }),
    };
    const panel = livePanel(detail, session.can, commands, LATEST);
    const items = itemsSection(ctx, id);
    const events = eventsSection(ctx, id);
    const lineage = el("section", { class: "lineage", attrs: { "aria-label": "Lineage" } });
    const files = filesSection(ctx, detail);
    element.replaceChildren(
      header(detail),
      panel.element,
      files?.element ?? "",
      lineage,
      items.element,
      events.element,
    );
    files?.refresh(op);
    renderLineage(lineage, detail);

    let latestAt = 0;
    let latestTimer: ReturnType<typeof setTimeout> | undefined;
    const refreshLatest = () => {
      clearTimeout(latestTimer);
      const wait = Math.max(0, latestAt + LATEST_EVERY_MS - Date.now());
      latestTimer = setTimeout(async () => {
        latestAt = Date.now();
        try {
          const data = await session.query(ConsoleItemsDocument, { id, last: LATEST, filter: { outcome: PROCESSED } });
          if (!disposed) {
            panel.showLatest((data.bulkOperation?.items.edges ?? []).map(({ node }) => ({
              position: node.position,
              title: node.target?.title ?? node.targetId,
              outcome: node.outcome,
              code: node.error?.code ?? null,
            })));
          }
        } catch { /* the next event tries again */ }
      }, wait);
    };
    disposers.push(() => clearTimeout(latestTimer));

    function accept(next: Operation): void {
      if (disposed || !isNewer(next, op)) return;
      const wasDone = isTerminal(op.status);
      op = next;
      meter.observe(op.counts.processed);
      panel.update(op, op.throughput ?? meter.perSecond);
      refreshLatest();
      if (!wasDone && isTerminal(op.status)) {
        // The end: items, events and lineage now hold their final state.
        items.reload();
        events.reload();
        files?.refresh(op);
        void session.query(ConsoleOperationDocument, { id }).then((d) =>
          d.bulkOperation && renderLineage(lineage, d.bulkOperation)
        );
      }
    }

    panel.update(op, op.throughput);
    refreshLatest();
    const watch = () =>
      session.subscribe(WatchOperationDocument, { id }, {
        next: (data) => accept(data.bulkOperationProgress),
        error: (error) => ctx.fail(error),
        complete: () => {},
      });
    disposers.push(watch());
    disposers.push(session.onReconnected(() => refreshLatest()));
    // Keeps the ETA counting down between events.
    const ticker = setInterval(
      () => !isTerminal(op.status) && panel.update(op, op.throughput ?? meter.perSecond),
      1000,
    );
    disposers.push(() => clearInterval(ticker));
  }

  return {
    element,
    dispose: () => {
      disposed = true;
      for (const dispose of disposers) dispose();
    },
  };
}

function header(detail: Detail): HTMLElement {
  const facts: [string, string][] = [
    ["Kind", humanize(detail.kind)],
    ["Targets", targetText(detail)],
    ["Created", `${time(detail.createdAt)} by ${detail.createdBy?.name ?? detail.createdBy?.email ?? "?"}`],
  ];
  if (detail.scheduledAt) facts.push(["Scheduled", time(detail.scheduledAt)]);
  if (detail.description) facts.push(["Description", detail.description]);
  return el(
    "header",
    "op-header",
    el("h2", { text: actionText(detail) }),
    el("dl", "facts", ...facts.flatMap(([k, v]) => [el("dt", { text: k }), el("dd", { text: v })])),
    el("p", { class: "muted op-id", text: detail.id }),
  );
}

function targetText(detail: Detail): string {
  const t = detail.targets;
  if (t.kind === "FILTER") return `tickets matching ${JSON.stringify(t.filter)}`;
  if (t.kind === "IDS") return `${count(t.requestedIds ?? detail.counts.total)} tickets by id`;
  return "items of the parent operation";
}

const opLink = (o: { id: string; kind: string; status: string; actionType: string; createdAt: string }) =>
  el(
    "a",
    { attrs: { href: `#/operations/${encodeURIComponent(o.id)}` }, data: { kind: o.kind, status: o.status } },
    `${humanize(o.kind)} · ${humanize(o.actionType)} · ${humanize(o.status)} · ${time(o.createdAt)}`,
  );

function renderLineage(section: HTMLElement, detail: Detail): void {
  section.replaceChildren(
    el("h3", { text: "Lineage" }),
    el(
      "ul",
      "lineage-list",
      detail.parent
        ? el("li", {}, "Parent: ", opLink(detail.parent))
        : el("li", { class: "muted", text: "No parent." }),
      ...detail.children.map((child) =>
        el(
          "li",
          {},
          child.kind === "RETRY" ? "Retry: " : "Rollback: ",
          opLink(child),
          ` (${count(child.counts.succeeded)} succeeded)`,
        )
      ),
    ),
  );
}

/** The items table: outcome and code filters, keyset pages both ways, each item's before -> after. */
function itemsSection(ctx: PageContext, id: string) {
  const outcome = select(ITEM_OUTCOMES, { multiple: true, attrs: { name: "outcome", size: 5 } });
  const code = select(ITEM_CODES, { multiple: true, attrs: { name: "code", size: 5 } });
  const grid = table("Items", ["#", "Ticket", "Outcome", "Before → after", "Attempts", "Processed"]);
  const prev = button("← Previous", () => turn("back"), { attrs: { "aria-label": "Previous items" } });
  const next = button("Next →", () => turn("forward"), { attrs: { "aria-label": "Next items" } });
  const status = el("p", { class: "table-status", attrs: { role: "status" } });
  let page: ItemsPage | null = null;
  let cursor: Pick<ConsoleItemsQueryVariables, "after" | "before"> = {};

  const filter = (): BulkItemFilter => ({
    outcome: picked(outcome, ITEM_OUTCOMES),
    errorCode: picked(code, ITEM_CODES),
  });
  for (const control of [outcome, code]) {
    control.addEventListener("change", () => {
      cursor = {};
      void load();
    });
  }

  function turn(direction: "forward" | "back"): void {
    if (!page) return;
    cursor = direction === "forward" ? { after: page.endCursor } : { before: page.startCursor };
    void load();
  }

  async function load(): Promise<void> {
    status.textContent = "Loading…";
    try {
      const variables: ConsoleItemsQueryVariables = cursor.before
        ? { id, last: ITEMS_PAGE, before: cursor.before, filter: filter() }
        : { id, first: ITEMS_PAGE, after: cursor.after, filter: filter() };
      const data = await ctx.session.query(ConsoleItemsDocument, variables);
      const items = data.bulkOperation?.items;
      page = items?.pageInfo ?? null;
      grid.body.replaceChildren(...(items?.edges ?? []).map(({ node }) => itemRow(node)));
      status.textContent = items?.edges.length ? "" : "No items match.";
      prev.disabled = !page?.hasPreviousPage;
      next.disabled = !page?.hasNextPage;
    } catch (error) {
      ctx.fail(error);
    }
  }

  const element = el(
    "section",
    { class: "items", attrs: { "aria-label": "Items" } },
    el("h3", { text: "Items" }),
    el("div", "filters compact", field("Outcome", outcome), field("Code", code)),
    el("div", "table-wrap", grid.table),
    status,
    el("nav", { class: "pager", attrs: { "aria-label": "Item pages" } }, prev, next),
  );
  void load();
  return {
    element,
    reload: () => void load(),
    /** Shows only the items matching `f` (from a code in the errors box). */
    show(f: BulkItemFilter): void {
      for (const option of outcome.options) option.selected = f.outcome?.some((o) => o === option.value) ?? false;
      for (const option of code.options) option.selected = f.errorCode?.some((c) => c === option.value) ?? false;
      cursor = {};
      void load();
      element.scrollIntoView({ block: "start" });
    },
  };
}

function itemRow(item: ConsoleItemFragment): HTMLTableRowElement {
  return el(
    "tr",
    { data: { position: String(item.position), outcome: item.outcome } },
    el("td", { text: String(item.position + 1) }),
    el("td", { class: "title", text: item.target?.title ?? item.targetId }),
    el(
      "td",
      {},
      el("span", { class: `badge outcome-${item.outcome}`, text: humanize(item.outcome) }),
      item.error
        ? el("span", { class: "code", text: ` ${item.error.code}`, attrs: { title: item.error.message } })
        : null,
    ),
    el(
      "td",
      {},
      item.error && !item.after
        ? el("span", { class: "muted", text: item.error.message })
        : diff(item.before, item.after),
    ),
    el("td", { text: String(item.attempts) }),
    el("td", { class: "nowrap", text: time(item.processedAt) }),
  );
}

/** The audit trail, oldest first, a page at a time. */
function eventsSection(ctx: PageContext, id: string) {
  const grid = table("Events", ["When", "What", "Who", "Details"]);
  let after: string | null = null;
  const more = button("Load more events", () => void load(false), { class: "secondary" });

  async function load(fresh: boolean): Promise<void> {
    if (fresh) {
      after = null;
      grid.body.replaceChildren();
    }
    try {
      const data = await ctx.session.query(ConsoleEventsDocument, { id, first: EVENTS_PAGE, after });
      const events = data.bulkOperation?.events;
      grid.body.append(...(events?.edges ?? []).map(({ node }) => eventRow(node)));
      after = events?.pageInfo.endCursor ?? null;
      more.hidden = !events?.pageInfo.hasNextPage;
    } catch (error) {
      ctx.fail(error);
    }
  }

  const element = el(
    "section",
    { class: "events", attrs: { "aria-label": "Events" } },
    el("h3", { text: "Events" }),
    el("div", "table-wrap", grid.table),
    more,
  );
  void load(true);
  return { element, reload: () => void load(true) };
}

function eventRow(event: Event): HTMLTableRowElement {
  const who = event.actor ? `${event.actor.name} (${event.actor.email})` : "the engine";
  const origin = [event.ip, event.userAgent].filter(Boolean).join(" · ");
  return el(
    "tr",
    { data: { type: event.type } },
    el("td", { class: "nowrap", text: time(event.createdAt) }),
    el("td", { text: event.type }),
    el("td", { text: who, attrs: { title: origin } }),
    el("td", {}, el("code", { text: JSON.stringify(event.data) })),
  );
}
