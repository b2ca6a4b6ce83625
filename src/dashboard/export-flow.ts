/**
 * Export flow (startBulkExport) on the tickets page's selection (ticked ids, a page, or "all N matching" sent as the
 * filter itself, as the action bar's actions do): format, fields (checkboxes in file order, all by default),
 * comments, gzip -> start -> the operation's live view, where the file's state and its download are shown once it
 * is READY (operation-files.ts).
 */
import { type BulkExportFormat, type StartBulkExportInput, StartExportDocument } from "../clients/generated/graphql.ts";
import { count } from "../clients/progress.ts";
import { TICKET_EXPORT_FIELDS } from "../tickets/model.ts";
import { el, field, select } from "./dom.ts";
import type { PageContext } from "./page.ts";
import { selectedCount, type Selection, targetsOf } from "./selection.ts";
import { flowDialog } from "./start-flow.ts";

const FORMATS: readonly BulkExportFormat[] = ["CSV", "JSONL", "JSON", "MARKDOWN"];

export function openExportFlow(ctx: PageContext, selection: Selection, onStarted: () => void): void {
  const { session } = ctx;
  const { problem, step, cancel, launch } = flowDialog(ctx, "Export", ["Format and fields"], { flow: "export" });
  const idempotencyKey = crypto.randomUUID();
  const n = selectedCount(selection);

  const format = select(FORMATS, { attrs: { name: "format" } });
  const boxes = TICKET_EXPORT_FIELDS.map((name) =>
    el("input", { attrs: { type: "checkbox", name: "field", value: name, checked: true } })
  );
  const fields = el(
    "fieldset",
    "export-fields",
    el("legend", { text: "Fields (file order)" }),
    ...boxes.map((box) => field(box.value, box, "field inline")),
  );
  const comments = el("input", { attrs: { type: "checkbox", name: "includeComments" } });
  const gzip = el("input", { attrs: { type: "checkbox", name: "gzip" } });
  const description = el("input", { attrs: { name: "description", maxlength: 500, placeholder: "optional" } });
  const go = el("button", { class: "primary", text: "Start export", attrs: { type: "submit" } });

  const form = el(
    "form",
    "flow-form",
    el("p", {
      class: "summary",
      text: selection.kind === "filter"
        ? `All ${count(n)} tickets matching the filter (those that match when it starts).`
        : `${count(n)} selected tickets.`,
    }),
    field("Format", format),
    fields,
    field("Include comments", comments, "field inline"),
    field("Compress (gzip)", gzip, "field inline"),
    field("Description", description),
    el("div", "dialog-buttons", cancel(), go),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const chosen = boxes.filter((b) => b.checked).map((b) => b.value);
    if (chosen.length === 0) return void (problem.textContent = "Tick at least one field.");
    const input: StartBulkExportInput = {
      targets: targetsOf(selection),
      format: FORMATS.find((f) => f === format.value) ?? "CSV",
      fields: chosen,
      includeComments: comments.checked,
      compression: gzip.checked ? "GZIP" : "NONE",
      description: description.value.trim() || null,
      idempotencyKey,
    };
    await launch(go, async () => (await session.query(StartExportDocument, { input })).startBulkExport, onStarted);
  });
  step(0, `${count(n)} tickets`, form);
}
