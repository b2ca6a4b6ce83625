/**
 * History (#/history): every operation, newest first, with the API's filters (status, action, kind, creator,
 * created range) and keyset pages. Rows of running operations update live from bulkOperationsChanged.
 *
 * "Newer" re-reads the page before with the `after` cursor it was read with (a stack of them), not with
 * `last/before`: the operations cursor holds created_at at millisecond precision while PostgreSQL keeps
 * microseconds, so a `before` seek returned the next page's first operation again (seen in
 * tests/console_detail_test.ts; the cursor is src/bulk/history.ts's, reported to be fixed there).
 */
import {
  type BulkOperationFilter,
  ListOperationsDocument,
  type ListOperationsQuery,
  OperationsChangedDocument,
} from "../clients/generated/graphql.ts";
import { count, isNewer, type Operation } from "../clients/progress.ts";
import { button, el, field, humanize, picked, select, startOfDay, table, time } from "./dom.ts";
import { ACTION_TYPES, OPERATION_KINDS, OPERATION_STATUSES } from "./enums.ts";
import type { Page, PageContext } from "./page.ts";

type PageInfo = ListOperationsQuery["bulkOperations"]["pageInfo"];

const PAGE = 25;

export function historyPage(ctx: PageContext): Page {
  const { session } = ctx;
  const status = select(OPERATION_STATUSES, { multiple: true, attrs: { name: "status", size: 4 } });
  const action = select(ACTION_TYPES, { multiple: true, attrs: { name: "actionType", size: 4 } });
  const kind = select(OPERATION_KINDS, { multiple: true, attrs: { name: "kind", size: 3 } });
  const creator = select([
    { value: "", label: "Anyone" },
    ...session.users.map((u) => ({ value: u.id, label: u.name })),
  ], {
    attrs: { name: "createdBy" },
  });
  const after = el("input", { attrs: { type: "date", name: "createdAfter" } });
  const before = el("input", { attrs: { type: "date", name: "createdBefore" } });
  const form = el(
    "form",
    { class: "filters", attrs: { "aria-label": "History filters" } },
    field("Status", status),
    field("Action", action),
    field("Kind", kind),
    el(
      "div",
      "filter-column",
      field("Created by", creator),
      field("Created from", after),
      field("Created before", before),
    ),
  );
  form.addEventListener("submit", (e) => e.preventDefault());
  for (const control of [status, action, kind, creator, after, before]) {
    control.addEventListener("change", () => {
      pageCursor = null;
      earlier.length = 0;
      void load();
    });
  }

  const grid = table("Operations", ["Status", "Action", "Kind", "Progress", "Failed", "Created", "By", "Description"]);
  const prev = button("← Newer", () => turn("back"), { attrs: { "aria-label": "Newer operations" } });
  const next = button("Older →", () => turn("forward"), { attrs: { "aria-label": "Older operations" } });
  const note = el("p", { class: "table-status", attrs: { role: "status" } });
  let page: PageInfo | null = null;
  /** The `after` cursor of the page shown (null: the first), and those of the pages before it. */
  let pageCursor: string | null = null;
  const earlier: (string | null)[] = [];
  const shown = new Map<string, { op: Operation; row: HTMLTableRowElement }>();

  function filter(): BulkOperationFilter {
    return {
      status: picked(status, OPERATION_STATUSES),
      actionType: picked(action, ACTION_TYPES),
      kind: picked(kind, OPERATION_KINDS),
      createdBy: creator.value || undefined,
      createdAfter: startOfDay(after),
      createdBefore: startOfDay(before),
    };
  }

  function turn(direction: "forward" | "back"): void {
    if (!page) return;
    if (direction === "forward") {
      earlier.push(pageCursor);
      pageCursor = page.endCursor ?? null;
    } else {
      pageCursor = earlier.pop() ?? null;
    }
    void load();
  }

  async function load(): Promise<void> {
    note.textContent = "Loading…";
    try {
      const data = await session.query(ListOperationsDocument, { first: PAGE, after: pageCursor, filter: filter() });
      page = data.bulkOperations.pageInfo;
      shown.clear();
      grid.body.replaceChildren(...data.bulkOperations.edges.map(({ node }) => {
        const row = el("tr", { data: { id: node.id } });
        fill(row, node);
        shown.set(node.id, { op: node, row });
        return row;
      }));
      note.textContent = data.bulkOperations.edges.length ? "" : "No operations match.";
      prev.disabled = earlier.length === 0;
      next.disabled = !page.hasNextPage;
    } catch (error) {
      ctx.fail(error);
    }
  }

  const stopFeed = session.subscribe(OperationsChangedDocument, {}, {
    next: ({ bulkOperationsChanged: op }) => {
      const entry = shown.get(op.id);
      if (entry && isNewer(op, entry.op)) {
        entry.op = op;
        fill(entry.row, op);
      }
    },
    error: (error) => ctx.fail(error),
    complete: () => {},
  });
  const stopReconnect = session.onReconnected(() => void load());

  const element = el(
    "section",
    { class: "page history-page", attrs: { "aria-label": "History" } },
    el("h2", { text: "History" }),
    form,
    el("div", "table-wrap", grid.table),
    note,
    el("nav", { class: "pager", attrs: { "aria-label": "History pages" } }, prev, next),
  );
  void load();
  return {
    element,
    dispose: () => {
      stopFeed();
      stopReconnect();
    },
  };
}

function fill(row: HTMLTableRowElement, op: Operation): void {
  row.dataset.status = op.status;
  row.dataset.kind = op.kind;
  row.replaceChildren(
    el("td", {}, el("span", { class: `badge status-${op.status}`, text: humanize(op.status) })),
    el(
      "td",
      {},
      el("a", { attrs: { href: `#/operations/${encodeURIComponent(op.id)}` }, text: humanize(op.actionType) }),
    ),
    el("td", { text: humanize(op.kind) }),
    el("td", { class: "num", text: `${count(op.counts.processed)} / ${count(op.counts.total)}` }),
    el("td", { class: "num", text: count(op.counts.failed) }),
    el("td", { class: "nowrap", text: time(op.createdAt) }),
    el("td", { text: op.createdBy?.email ?? "" }),
    el("td", { class: "title", text: op.description ?? "" }),
  );
}
