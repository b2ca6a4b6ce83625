/**
 * Webhooks (#/webhooks, ADMIN only: the link and the page are absent for other roles): the tenant's endpoints,
 * each with its latest deliveries, and Redeliver on any delivery (a new delivery, same webhook-id).
 */
import {
  type ConsoleDeliveryFragment,
  ConsoleRedeliverDocument,
  ConsoleWebhooksDocument,
  type ConsoleWebhooksQuery,
} from "../clients/generated/graphql.ts";
import { button, el, humanize, table, time } from "./dom.ts";
import type { Page, PageContext } from "./page.ts";
import { userErrorText } from "./session.ts";

type Endpoint = ConsoleWebhooksQuery["webhookEndpoints"]["edges"][number]["node"];

const ENDPOINTS = 20;
const DELIVERIES = 20;

export function webhooksPage(ctx: PageContext): Page {
  const list = el("div", "endpoints");
  const more = button("More endpoints", () => void load(), { class: "secondary" });
  let after: string | null = null;

  async function load(): Promise<void> {
    try {
      const data = await ctx.session.query(ConsoleWebhooksDocument, {
        first: ENDPOINTS,
        after,
        deliveries: DELIVERIES,
      });
      const edges = data.webhookEndpoints.edges;
      if (after === null && edges.length === 0) {
        list.replaceChildren(
          el("p", { class: "muted", text: "No webhook endpoints. Create one with createWebhookEndpoint." }),
        );
      }
      list.append(...edges.map(({ node }) => endpoint(ctx, node)));
      after = data.webhookEndpoints.pageInfo.endCursor ?? null;
      more.hidden = !data.webhookEndpoints.pageInfo.hasNextPage;
    } catch (error) {
      ctx.fail(error);
    }
  }

  const element = el(
    "section",
    { class: "page webhooks-page", attrs: { "aria-label": "Webhooks" } },
    el("h2", { text: "Webhooks" }),
    list,
    more,
  );
  void load();
  return { element, dispose: () => {} };
}

function endpoint(ctx: PageContext, e: Endpoint): HTMLElement {
  const grid = table(`Deliveries to ${e.url}`, [
    "Event",
    "Status",
    "Attempts",
    "Last response",
    "Created",
    "Delivered",
    "",
  ]);
  grid.body.append(...e.deliveries.edges.map(({ node }) => deliveryRow(ctx, node)));
  return el(
    "article",
    { class: "endpoint", data: { id: e.id, enabled: String(e.enabled) } },
    el(
      "header",
      {},
      el("h3", { text: e.url }),
      el("span", {
        class: `badge ${e.enabled ? "status-COMPLETED" : "status-FAILED"}`,
        text: e.enabled ? "enabled" : "disabled",
      }),
    ),
    el("p", {
      class: "muted",
      text: [e.description, e.events.map(humanize).join(", "), e.disabledReason].filter(Boolean).join(" · "),
    }),
    e.deliveries.edges.length
      ? el("div", "table-wrap", grid.table)
      : el("p", { class: "muted", text: "No deliveries yet." }),
  );
}

function deliveryRow(ctx: PageContext, d: ConsoleDeliveryFragment): HTMLTableRowElement {
  const row = el("tr", { data: { id: d.id, status: d.status } });
  const redeliver = button("Redeliver", async () => {
    redeliver.disabled = true;
    try {
      const { redeliverWebhook: r } = await ctx.session.query(ConsoleRedeliverDocument, { deliveryId: d.id });
      if (r.userErrors.length || !r.delivery) return ctx.say(userErrorText(r.userErrors), "error");
      row.before(deliveryRow(ctx, r.delivery));
      ctx.say(`Redelivery queued (${r.delivery.webhookId}).`);
    } catch (error) {
      ctx.fail(error);
    } finally {
      redeliver.disabled = false;
    }
  }, { class: "secondary", attrs: { "aria-label": `Redeliver ${d.event} of ${time(d.createdAt)}` } });
  row.append(
    el("td", { text: humanize(d.event) }),
    el("td", {}, el("span", { class: `badge delivery-${d.status}`, text: humanize(d.status) })),
    el("td", { class: "num", text: String(d.attempts) }),
    el("td", { text: [d.lastStatusCode, d.lastError].filter((v) => v !== null && v !== undefined).join(" ") }),
    el("td", { class: "nowrap", text: time(d.createdAt) }),
    el("td", {
      class: "nowrap",
      text: time(d.deliveredAt) || (d.nextAttemptAt ? `next ${time(d.nextAttemptAt)}` : "–"),
    }),
    el("td", {}, redeliver),
  );
  return row;
}
