/**
 * Tickets: every filter the tickets query has, keyset pages both ways, checkboxes per row and per page, "select
 * all N matching" (a filter target), the selection count always in view, and the action bar (one button per bulk
 * action the viewer's role may run; viewers get the table alone).
 */
import {
  ConsoleTicketCountDocument,
  ConsoleTicketsDocument,
  type ConsoleTicketsQuery,
  type ConsoleTicketsQueryVariables,
  type TicketFilter,
} from "../clients/generated/graphql.ts";
import { count } from "../clients/progress.ts";
import { type ActionDefinition, ACTIONS } from "./actions.ts";
import { button, controlId, el, field, humanize, picked, select, startOfDay, table, time } from "./dom.ts";
import { TICKET_CATEGORIES, TICKET_PRIORITIES, TICKET_STATUSES } from "./enums.ts";
import { OPTIONAL_FLOWS } from "./optional-flows.ts";
import type { Page, PageContext } from "./page.ts";
import { isSelected, NOTHING, selectedCount, type Selection, toggle } from "./selection.ts";
import { openStartFlow } from "./start-flow.ts";

type Ticket = ConsoleTicketsQuery["tickets"]["edges"][number]["node"];
type PageInfo = ConsoleTicketsQuery["tickets"]["pageInfo"];

const PAGE_SIZES = ["25", "50", "100"];

export function ticketsPage(ctx: PageContext): Page {
  const { session } = ctx;
  const canRun = session.can.run;
  let selection: Selection = NOTHING;
  let filter: TicketFilter = {};
  let rows: Ticket[] = [];
  let pageInfo: PageInfo | null = null;
  let cursor: Pick<ConsoleTicketsQueryVariables, "after" | "before"> = {};
  let loading: AbortController | null = null;

  // ---- filters ----
  const status = select(TICKET_STATUSES, { multiple: true, attrs: { name: "status", size: 4 } });
  const priority = select(TICKET_PRIORITIES, { multiple: true, attrs: { name: "priority", size: 4 } });
  const category = select(TICKET_CATEGORIES, { multiple: true, attrs: { name: "category", size: 4 } });
  const assignee = select([
    { value: "", label: "Anyone" },
    { value: "-", label: "Unassigned" },
    ...session.users.filter((u) => u.role !== "VIEWER").map((u) => ({ value: u.id, label: u.name })),
  ], { attrs: { name: "assignee" } });
  const title = el("input", {
    attrs: { type: "search", name: "title", maxlength: 200, placeholder: "words in the title" },
  });
  const createdAfter = el("input", { attrs: { type: "date", name: "createdAfter" } });
  const createdBefore = el("input", { attrs: { type: "date", name: "createdBefore" } });
  const deleted = el("input", { attrs: { type: "checkbox", name: "includeDeleted" } });
  const pageSize = select(PAGE_SIZES, { attrs: { name: "pageSize" }, value: "50" });
  const form = el(
    "form",
    { class: "filters", attrs: { "aria-label": "Ticket filters" } },
    field("Status", status),
    field("Priority", priority),
    field("Category", category),
    el(
      "div",
      "filter-column",
      field("Assignee", assignee),
      field("Title contains", title),
      field("Created from", createdAfter),
      field("Created before", createdBefore),
    ),
    el(
      "div",
      "filter-column",
      field("Include deleted", deleted, "field inline"),
      field("Per page", pageSize),
      el(
        "div",
        "filter-buttons",
        el("button", { text: "Apply filters", attrs: { type: "submit" } }),
        button("Reset", reset),
      ),
    ),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    applyFilters();
  });
  for (const control of [status, priority, category, assignee, createdAfter, createdBefore, deleted, pageSize]) {
    control.addEventListener("change", applyFilters);
  }

  function readFilter(): TicketFilter {
    const f: TicketFilter = {
      status: picked(status, TICKET_STATUSES),
      priority: picked(priority, TICKET_PRIORITIES),
      category: picked(category, TICKET_CATEGORIES),
      // Dates are the viewer's local days: from the start of "from" to the start of the day "before".
      createdAfter: startOfDay(createdAfter),
      createdBefore: startOfDay(createdBefore),
    };
    if (assignee.value === "-") f.unassigned = true;
    else if (assignee.value) f.assigneeId = assignee.value;
    if (title.value.trim()) f.titleContains = title.value.trim();
    if (deleted.checked) f.includeDeleted = true;
    return f;
  }

  function applyFilters(): void {
    filter = readFilter();
    // "All matching" meant the old filter: it does not carry over to a new one. Ticked ids do.
    if (selection.kind === "filter") selection = NOTHING;
    cursor = {};
    void load();
  }

  function reset(): void {
    form.reset();
    pageSize.value = "50";
    applyFilters();
  }

  // ---- table ----
  const pageBox = el("input", { attrs: { type: "checkbox", "aria-label": "Select every ticket on this page" } });
  pageBox.addEventListener("change", () => {
    selection = toggle(selection, rows.map((r) => r.id), pageBox.checked);
    render();
  });
  const headers = ["Title", "Status", "Priority", "Category", "Assignee", "Created"];
  const grid = table("Tickets", canRun ? ["", ...headers] : headers, "grid tickets");
  if (canRun) grid.table.querySelector("th")!.append(pageBox);
  const status_ = el("p", { class: "table-status", attrs: { role: "status" } });
  const prev = button("← Previous", () => turn("back"), { attrs: { "aria-label": "Previous page" } });
  const next = button("Next →", () => turn("forward"), { attrs: { "aria-label": "Next page" } });
  const pager = el("nav", { class: "pager", attrs: { "aria-label": "Ticket pages" } }, prev, next);

  function turn(direction: "forward" | "back"): void {
    if (!pageInfo) return;
    cursor = direction === "forward" ? { after: pageInfo.endCursor } : { before: pageInfo.startCursor };
    void load();
  }

  async function load(): Promise<void> {
    loading?.abort();
    const controller = (loading = new AbortController());
    const size = Number(pageSize.value);
    const variables: ConsoleTicketsQueryVariables = cursor.before
      ? { last: size, before: cursor.before, filter }
      : { first: size, after: cursor.after, filter };
    status_.textContent = "Loading…";
    try {
      const data = await session.query(ConsoleTicketsDocument, variables, controller.signal);
      rows = data.tickets.edges.map((e) => e.node);
      pageInfo = data.tickets.pageInfo;
      status_.textContent = rows.length === 0 ? "No tickets match these filters." : "";
      grid.body.replaceChildren(...rows.map(row));
      prev.disabled = !pageInfo.hasPreviousPage;
      next.disabled = !pageInfo.hasNextPage;
      render();
    } catch (error) {
      if (!controller.signal.aborted) ctx.fail(error);
    }
  }

  function row(ticket: Ticket): HTMLTableRowElement {
    const cells: HTMLElement[] = [];
    if (canRun) {
      const box = el("input", {
        attrs: { type: "checkbox", "aria-label": `Select ${ticket.title}` },
        data: { id: ticket.id },
      });
      box.addEventListener("change", () => {
        // Unticking one of "all matching": the rest of this page stays ticked.
        const base = selection.kind === "filter" ? toggle(selection, rows.map((r) => r.id), true) : selection;
        selection = toggle(base, [ticket.id], box.checked);
        render();
      });
      cells.push(el("td", "check", box));
    }
    cells.push(
      el(
        "td",
        "title",
        ticket.title,
        ticket.deletedAt ? el("span", { class: "badge deleted", text: "deleted" }) : null,
      ),
      el("td", {}, el("span", { class: `badge status-${ticket.status}`, text: humanize(ticket.status) })),
      el("td", { text: humanize(ticket.priority) }),
      el("td", { text: humanize(ticket.category) }),
      el("td", { text: ticket.assignee?.name ?? "–" }),
      el("td", { class: "nowrap", text: time(ticket.createdAt) }),
    );
    return el("tr", { data: { id: ticket.id } }, ...cells);
  }

  // ---- selection and actions ----
  const countLabel = el("span", { class: "selected-count", attrs: { role: "status", "aria-live": "polite" } });
  const selectAll = el("div", { class: "select-all", attrs: { hidden: true } });
  const actionButtons = ACTIONS.filter((a) => session.can[a.needs]).map((action) =>
    button(action.label, () => start(action), { data: { action: action.key } })
  );
  // Import and export come from optional-flows.ts: only what this server's schema has, only for roles that may run.
  const optionalButtons = OPTIONAL_FLOWS.filter((flow) => session.can.run && session.hasMutation(flow.mutation)).map(
    (flow) => {
      const node = button(flow.label, () => flow.open(ctx, selection, clearSelection), {
        data: { flow: flow.mutation },
      });
      node.dataset.needsSelection = String(flow.needsSelection);
      return node;
    },
  );
  const bar = el(
    "div",
    { class: "action-bar", attrs: { role: "toolbar", "aria-label": "Bulk actions on the selected tickets" } },
    countLabel,
    button("Clear selection", clearSelection, { class: "link", data: { role: "clear" } }),
    el("span", "spacer"),
    ...actionButtons,
    ...optionalButtons,
  );

  async function selectAllMatching(): Promise<void> {
    const counted = filter;
    try {
      const { ticketCount } = await session.query(ConsoleTicketCountDocument, { filter: counted });
      if (counted !== filter) return; // the filter changed meanwhile: this count is of the old one
      selection = { kind: "filter", filter: counted, count: ticketCount };
      render();
    } catch (error) {
      ctx.fail(error);
    }
  }

  function clearSelection(): void {
    selection = NOTHING;
    render();
  }

  function start(action: ActionDefinition): void {
    if (selectedCount(selection) === 0) return;
    openStartFlow(ctx, action, selection, clearSelection);
  }

  /** Writes the selection into the checkboxes, the count and the banner (in place: the focus stays put). */
  function render(): void {
    for (const box of grid.body.querySelectorAll<HTMLInputElement>("input[type=checkbox]")) {
      box.checked = isSelected(selection, box.dataset.id!);
    }
    const n = selectedCount(selection);
    countLabel.textContent = selection.kind === "filter"
      ? `All ${count(n)} matching tickets selected`
      : `${count(n)} selected`;
    countLabel.dataset.count = String(n);
    for (const b of actionButtons) b.disabled = n === 0;
    for (const b of optionalButtons) b.disabled = b.dataset.needsSelection === "true" && n === 0;
    const onPage = rows.filter((r) => isSelected(selection, r.id)).length;
    pageBox.checked = rows.length > 0 && onPage === rows.length;
    pageBox.indeterminate = onPage > 0 && onPage < rows.length;
    // The whole page is ticked and there may be more: offer the filter itself.
    const more = pageInfo?.hasNextPage || pageInfo?.hasPreviousPage;
    selectAll.hidden = !(canRun && ((pageBox.checked && more) || selection.kind === "filter"));
    selectAll.replaceChildren(
      ...(selection.kind === "filter"
        ? [`All ${count(n)} tickets matching the filter are selected (a filter target: tickets that match at start).`]
        : [
          `All ${rows.length} tickets on this page are selected. `,
          button("Select all matching this filter", () => void selectAllMatching(), {
            class: "link",
            data: { role: "select-all" },
          }),
        ]),
    );
  }

  const element = el(
    "section",
    { class: "page tickets-page", attrs: { "aria-labelledby": controlId("h") } },
    el("h2", { text: "Tickets" }),
    form,
    canRun ? selectAll : null,
    el("div", "table-wrap", grid.table),
    status_,
    pager,
    canRun ? bar : null,
  );
  element.querySelector("h2")!.id = element.getAttribute("aria-labelledby")!;
  void load();
  return { element, dispose: () => loading?.abort() };
}
