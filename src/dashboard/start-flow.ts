/**
 * Start flow, in a modal <dialog> (focus stays inside; Escape closes it): the action's form -> the preview
 * (matched count, predicted outcomes per code, the sample before -> after) -> the confirmation (destructive
 * actions: type the number of tickets; optional schedule time and e-mail notice) -> start with the previewToken,
 * so the run is exactly the previewed snapshot. One idempotency key per dialog: a double click starts one
 * operation, not two.
 */
import {
  PreviewOperationDocument,
  type PreviewOperationMutation,
  type StartBulkOperationInput,
  StartOperationDocument,
} from "../clients/generated/graphql.ts";
import { count, duration } from "../clients/progress.ts";
import type { ActionDefinition } from "./actions.ts";
import { button, diff, el, field, humanize, table, time } from "./dom.ts";
import type { PageContext } from "./page.ts";
import { describe, userErrorText } from "./session.ts";
import { selectedCount, type Selection, targetsOf } from "./selection.ts";

type Preview = NonNullable<PreviewOperationMutation["previewBulkOperation"]["preview"]>;
type Predicted = Pick<Preview, "matchedCount" | "wouldChange" | "wouldSkip" | "wouldFail" | "predictedByCode">;

/**
 * A flow's modal <dialog> (focus stays inside; Escape closes it; it is removed once closed): a heading, the
 * steps (the current one marked), the body `step` replaces, and a problem line (role=alert).
 */
export function flowDialog(ctx: PageContext, label: string, steps: readonly string[], data: Record<string, string>) {
  const problem = el("p", { class: "problem", attrs: { role: "alert" } });
  const body = el("div", "dialog-body");
  const heading = el("h2", { attrs: { id: "start-title" } });
  const dialog = el(
    "dialog",
    { class: "start-flow", attrs: { "aria-labelledby": "start-title" }, data },
    heading,
    el("ol", "steps", ...steps.map((s) => el("li", { text: s }))),
    body,
    problem,
  );
  document.body.append(dialog);
  dialog.addEventListener("close", () => dialog.remove());
  dialog.showModal();
  const step = (n: number, title: string, ...content: HTMLElement[]) => {
    heading.textContent = `${label}: ${title}`;
    dialog.dataset.step = String(n);
    dialog.querySelectorAll(".steps li").forEach((li, i) => li.toggleAttribute("aria-current", i === n));
    problem.textContent = "";
    body.replaceChildren(...content);
    (body.querySelector<HTMLElement>("input, select, textarea, button.primary") ?? body).focus();
  };
  const cancel = () => button("Cancel", () => dialog.close(), { class: "secondary" });
  /**
   * The start: `go` disabled while `run` sends it; refusals (userErrors) shown in the dialog, which stays; once
   * started, the dialog closes, `onStarted` runs and the page goes to the operation's live view.
   */
  const launch = async (go: HTMLButtonElement, run: () => Promise<StartPayload>, onStarted = () => {}) => {
    go.disabled = true;
    problem.textContent = "Starting…";
    try {
      const result = await run();
      if (result.userErrors.length || !result.bulkOperation) {
        problem.textContent = userErrorText(result.userErrors);
        go.disabled = false;
        return;
      }
      dialog.close();
      onStarted();
      ctx.navigate(`#/operations/${encodeURIComponent(result.bulkOperation.id)}`);
    } catch (error) {
      problem.textContent = describe(error);
      go.disabled = false;
    }
  };
  return { dialog, problem, step, cancel, launch };
}

interface StartPayload {
  bulkOperation?: { id: string } | null;
  userErrors: readonly { code: string; message: string }[];
}

/** A preview step's buttons: Back, Cancel, and Continue (disabled when there is nothing to run). */
export const previewButtons = (back: () => void, cancel: HTMLElement, next: () => void, nothing: boolean) =>
  el(
    "div",
    "dialog-buttons",
    button("Back", back, { class: "secondary" }),
    cancel,
    button("Continue", next, { class: "primary", attrs: { disabled: nothing } }),
  );

/** A preview's predicted counts (labelled `labels`: matched, change, skip, fail) and its counts per code. */
export function predictedFigures(p: Predicted, labels: readonly [string, string, string, string]): HTMLElement[] {
  const figures = [p.matchedCount, p.wouldChange, p.wouldSkip, p.wouldFail];
  const outcomes = el(
    "dl",
    "outcomes",
    ...labels.flatMap((label, i) => [
      el("dt", { text: label }),
      el("dd", { text: count(figures[i]), data: { outcome: label } }),
    ]),
  );
  const codes = el(
    "ul",
    "codes",
    ...p.predictedByCode.map((c) => el("li", { text: `${c.code} ${count(c.count)}`, data: { code: c.code } })),
  );
  return [
    outcomes,
    p.predictedByCode.length ? codes : el("p", { class: "muted", text: "No failures or skips predicted." }),
  ];
}

export function openStartFlow(
  ctx: PageContext,
  action: ActionDefinition,
  selection: Selection,
  onStarted: () => void,
): void {
  const { session } = ctx;
  const form = action.form(session.users);
  const description = el("input", { attrs: { name: "description", maxlength: 500, placeholder: "optional" } });
  const { problem, step, cancel, launch } = flowDialog(ctx, action.label, ["Action", "Preview", "Confirm"], {
    action: action.key,
  });
  const idempotencyKey = crypto.randomUUID();
  const selected = selectedCount(selection);
  const target = selection.kind === "filter" ? "all tickets matching the filter" : "the selected tickets";

  function input(): StartBulkOperationInput | string {
    const built = form.build();
    if (typeof built === "string") return built;
    return { targets: targetsOf(selection), action: built, description: description.value.trim() || null };
  }

  function showForm(): void {
    const go = el("form", "flow-form", form.element, field("Description", description));
    go.addEventListener("submit", (event) => {
      event.preventDefault();
      void preview();
    });
    go.append(
      el(
        "div",
        "dialog-buttons",
        cancel(),
        el("button", { class: "primary", text: "Preview", attrs: { type: "submit" } }),
      ),
    );
    step(0, `${count(selected)} ${selection.kind === "filter" ? "matching" : "selected"} tickets`, go);
  }

  async function preview(): Promise<void> {
    const start = input();
    if (typeof start === "string") return void (problem.textContent = start);
    problem.textContent = "Previewing…";
    try {
      const { previewBulkOperation: result } = await session.query(PreviewOperationDocument, {
        input: start,
        sample: true,
      });
      if (result.userErrors.length || !result.preview) {
        return void (problem.textContent = userErrorText(result.userErrors));
      }
      showPreview(start, result.preview);
    } catch (error) {
      problem.textContent = describe(error);
    }
  }

  function showPreview(start: StartBulkOperationInput, p: Preview): void {
    const sample = table("A sample of the targets with their predicted change", ["#", "Ticket", "Outcome", "Change"]);
    sample.body.append(
      ...(p.sample ?? []).map((item) =>
        el(
          "tr",
          {},
          el("td", { text: String(item.position + 1) }),
          el("td", { text: item.target?.title ?? item.targetId }),
          el(
            "td",
            {},
            el("span", { class: `badge outcome-${item.outcome}`, text: item.code ?? humanize(item.outcome) }),
          ),
          el(
            "td",
            {},
            item.code && item.message
              ? el("span", { class: "muted", text: item.message })
              : diff(item.before, item.after),
          ),
        )
      ),
    );
    step(
      1,
      `preview of ${count(p.matchedCount)} tickets`,
      el("p", {
        text: `${
          p.estimatedDurationSeconds < 1 ? "Under a second" : `About ${duration(p.estimatedDurationSeconds * 1000)}`
        } at your recent throughput. This preview holds until ${time(p.expiresAt)}.`,
      }),
      ...predictedFigures(p, ["Matched", "Would change", "Would skip", "Would fail"]),
      el("div", "table-wrap sample", sample.table),
      previewButtons(showForm, cancel(), () => showConfirm(start, p), p.matchedCount === 0),
    );
  }

  function showConfirm(start: StartBulkOperationInput, p: Preview): void {
    const when = el("input", { attrs: { type: "datetime-local", name: "scheduledAt" } });
    const email = el("input", { attrs: { type: "checkbox", name: "notifyEmail" } });
    const typed = el("input", { attrs: { name: "confirmCount", inputmode: "numeric", autocomplete: "off" } });
    const go = el("button", {
      class: action.destructive ? "primary danger" : "primary",
      text: "Start",
      attrs: { type: "submit" },
    });
    const check = () => {
      go.disabled = action.destructive && typed.value.replace(/[,\s]/g, "") !== String(p.matchedCount);
    };
    typed.addEventListener("input", check);
    const confirm = el(
      "form",
      "flow-form",
      el("p", {
        class: "summary",
        text: `${form.summary().replace(/^./, (c) => c.toUpperCase())} ${count(p.matchedCount)} tickets (${target}).`,
      }),
      action.destructive ? field(`Type ${p.matchedCount} to confirm`, typed) : null,
      field("Run at (optional; empty: now)", when),
      field("E-mail me when it is accepted and when it ends", email, "field inline"),
      el("p", {
        class: "muted",
        text: "Webhook endpoints subscribed to operation events are notified as well (Webhooks page, admins).",
      }),
      el("div", "dialog-buttons", button("Back", () => showPreview(start, p), { class: "secondary" }), cancel(), go),
    );
    confirm.addEventListener("submit", async (event) => {
      event.preventDefault();
      check();
      if (go.disabled) return;
      await launch(go, async () =>
        (await session.query(StartOperationDocument, {
          input: {
            ...start,
            previewToken: p.previewToken,
            idempotencyKey,
            scheduledAt: when.value ? new Date(when.value).toISOString() : null,
            notify: email.checked ? { email: true } : null,
          },
        })).startBulkOperation, onStarted);
    });
    step(2, "confirm", confirm);
    check();
  }

  showForm();
}
