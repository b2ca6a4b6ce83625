/**
 * Import flow (startBulkImport), in the start flow's dialog: a file (picker or drop zone), its format (guessed
 * from the extension), the mode, and the column mapping read from the file's header row in the browser (each
 * column -> ticket field, defaults as the server's: src/imports/record.ts DEFAULT_NAMES) -> upload (createUpload,
 * then PUT /uploads/{id} with the File as the body: the browser streams it from disk, the page never holds it as a
 * string) and previewBulkImport over that upload (counts per outcome and code, a sample) -> confirm ->
 * startBulkImport with the same input and the previewToken -> the operation's live view.
 *
 * The upload comes before the preview because the preview judges the file's rows on the server; the start then
 * names the same upload, so the run is exactly what was previewed.
 */
import { parse } from "csv-parse/browser/esm/sync";
import {
  type BulkImportField,
  type BulkImportFormat,
  type BulkImportMode,
  ConsoleImportPreviewDocument,
  type ConsoleImportPreviewMutation,
  CreateUploadDocument,
  type StartBulkImportInput,
  StartImportDocument,
} from "../clients/generated/graphql.ts";
import { count } from "../clients/progress.ts";
import { fieldOf } from "../guards.ts";
import { DEFAULT_NAMES, IMPORT_FIELDS, type ImportField } from "../imports/record.ts";
import { button, el, field, humanize, select, table, time } from "./dom.ts";
import type { PageContext } from "./page.ts";
import { describe, type Session, userErrorText } from "./session.ts";
import { flowDialog, predictedFigures, previewButtons } from "./start-flow.ts";

type Preview = NonNullable<ConsoleImportPreviewMutation["previewBulkImport"]["preview"]>;

const FORMATS: readonly BulkImportFormat[] = ["CSV", "JSONL"];
const MODES: readonly BulkImportMode[] = ["CREATE", "UPSERT"];
/** The server's field names as the schema's enum values. */
const FIELD_ENUM: Record<ImportField, BulkImportField> = {
  title: "TITLE",
  body: "BODY",
  status: "STATUS",
  priority: "PRIORITY",
  category: "CATEGORY",
  assignee: "ASSIGNEE",
  externalId: "EXTERNAL_ID",
};
const FIELD_VALUES = Object.values(FIELD_ENUM);
/**
 * How much of the file is read for its header row: a header is a line of names, far below this; the rest of the
 * file is never read by the page.
 */
const HEADER_BYTES = 64 * 1024;

export const guessFormat = (name: string): BulkImportFormat | null =>
  /\.csv$/i.test(name) ? "CSV" : /\.(jsonl|ndjson)$/i.test(name) ? "JSONL" : null;

/** The column names of the file: a CSV's header row (csv-parse, RFC 4180 quoting, BOM), a JSONL's first keys. */
export async function readColumns(file: File, format: BulkImportFormat): Promise<string[]> {
  const head = await file.slice(0, HEADER_BYTES).text();
  if (format === "CSV") {
    const rows: unknown[] = parse(head, { bom: true, to_line: 1, relax_column_count: true });
    return Array.isArray(rows[0]) ? rows[0].map(String) : [];
  }
  const line = head.replace(/^\uFEFF/, "").split("\n").find((l) => l.trim() !== "");
  if (!line) return [];
  const first: unknown = JSON.parse(line);
  return first && typeof first === "object" && !Array.isArray(first) ? Object.keys(first) : [];
}

/** column -> field as the server resolves it without a mapping (first unused column per field, in field order). */
export function defaultMapping(columns: readonly string[]): Map<string, ImportField> {
  const mapped = new Map<string, ImportField>();
  for (const f of IMPORT_FIELDS) {
    const column = columns.find((name) => !mapped.has(name) && DEFAULT_NAMES[f].includes(name.toLowerCase()));
    if (column !== undefined) mapped.set(column, f);
  }
  return mapped;
}

/** Stages the file: createUpload, then PUT the File itself (streamed by the browser). Returns the upload id. */
async function upload(session: Session, file: File): Promise<string> {
  const { createUpload: created } = await session.query(CreateUploadDocument, {});
  if (created.userErrors.length || !created.upload) throw new Error(userErrorText(created.userErrors));
  if (file.size > created.upload.maxBytes) {
    throw new Error(`The file is ${count(file.size)} bytes; uploads take at most ${count(created.upload.maxBytes)}.`);
  }
  // Same origin as the page (the CSP allows no other): the path of the url the server gave.
  const target = new URL(new URL(created.upload.url).pathname, session.httpUrl);
  const response = await fetch(target, {
    method: "PUT",
    body: file,
    headers: { authorization: `Bearer ${session.token}`, "content-type": "application/octet-stream" },
  });
  if (!response.ok) throw new Error(`Upload failed: HTTP ${response.status} ${await response.text()}`);
  return created.upload.id;
}

/** A previewed row's ticket in one line: its title, then status, priority and category. */
function rowSummary(after: unknown): HTMLElement {
  const facts = ["status", "priority", "category"].map((name) => fieldOf(after, name)).filter((v) =>
    typeof v === "string"
  ).map((v) => humanize(v));
  return el(
    "span",
    {},
    el("b", { text: String(fieldOf(after, "title") ?? "") }),
    el("span", { class: "muted", text: ` ${facts.join(" · ")}` }),
  );
}

export function openImportFlow(ctx: PageContext): void {
  const { session } = ctx;
  const { problem, step, cancel, launch } = flowDialog(ctx, "Import", ["File", "Preview", "Confirm"], {
    flow: "import",
  });
  const idempotencyKey = crypto.randomUUID();
  let file: File | null = null;
  let columns: string[] = [];
  /** The last upload and the file it holds: going back to change the mapping does not upload again. */
  let staged: { file: File; id: string } | null = null;

  const picker = el("input", { attrs: { type: "file", name: "file", accept: ".csv,.jsonl,.ndjson,text/csv" } });
  const fileName = el("span", { class: "file-name", text: "No file chosen." });
  const zone = el(
    "div",
    { class: "drop-zone", data: { role: "drop-zone" } },
    el("p", { text: "Drop a CSV or JSONL file here, or choose one:" }),
    field("File", picker),
    fileName,
  );
  const format = select(FORMATS, { attrs: { name: "format" } });
  const mode = select(MODES, { attrs: { name: "mode" } });
  const description = el("input", { attrs: { name: "description", maxlength: 500, placeholder: "optional" } });
  const mappingGrid = table("Column mapping: each column of the file and the ticket field it fills", [
    "Column",
    "Ticket field",
  ], "grid mapping");
  const mappingBox = el("div", { class: "table-wrap mapping-box", attrs: { hidden: true } }, mappingGrid.table);

  zone.addEventListener("dragover", (event) => {
    event.preventDefault();
    zone.classList.add("over");
  });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("over");
    const dropped = event.dataTransfer?.files[0];
    if (dropped) void choose(dropped);
  });
  picker.addEventListener("change", () => picker.files?.[0] && void choose(picker.files[0]));
  format.addEventListener("change", () => void readMapping());

  async function choose(chosen: File): Promise<void> {
    file = chosen;
    fileName.textContent = `${chosen.name} (${count(chosen.size)} bytes)`;
    format.value = guessFormat(chosen.name) ?? format.value;
    await readMapping();
  }

  async function readMapping(): Promise<void> {
    if (!file) return;
    problem.textContent = "";
    try {
      columns = await readColumns(file, format.value === "JSONL" ? "JSONL" : "CSV");
    } catch (error) {
      columns = [];
      problem.textContent = `Could not read the header row: ${describe(error)}`;
    }
    const defaults = defaultMapping(columns);
    mappingGrid.body.replaceChildren(...columns.map((column) => {
      const byDefault = defaults.get(column);
      const choice = select([
        // A column named like a field is read as that field unless mapped to another (the server's rule).
        { value: "", label: byDefault ? "(read by its name)" : "(not imported)" },
        ...IMPORT_FIELDS.map((f) => ({ value: FIELD_ENUM[f], label: humanize(FIELD_ENUM[f]) })),
      ], { attrs: { "aria-label": `Ticket field for column ${column}` }, data: { column } });
      choice.value = byDefault ? FIELD_ENUM[byDefault] : "";
      return el("tr", { data: { column } }, el("td", { class: "column", text: column }), el("td", {}, choice));
    }));
    mappingBox.hidden = columns.length === 0;
  }

  /** The mapping the selects show, or why it cannot be sent. */
  function mapping(): { column: string; field: BulkImportField }[] | string {
    const chosen = [...mappingGrid.body.querySelectorAll<HTMLSelectElement>("select")]
      .filter((s) => s.value !== "")
      .flatMap((s) => {
        const field = FIELD_VALUES.find((value) => value === s.value); // the select's options are FIELD_ENUM's
        return field ? [{ column: s.dataset.column!, field }] : [];
      });
    const fields = chosen.map((m) => m.field);
    const twice = fields.find((f, i) => fields.indexOf(f) !== i);
    if (twice) return `Two columns are mapped to ${humanize(twice)}: pick one.`;
    if (!fields.includes("TITLE")) return "Map a column to title (a new ticket needs one).";
    return chosen;
  }

  function showForm(): void {
    const go = el(
      "form",
      "flow-form",
      zone,
      el("div", "flow-row", field("Format", format), field("Mode", mode)),
      el("p", {
        class: "muted",
        text: "Create: every row is a new ticket. Upsert: a row whose externalId exists updates that ticket.",
      }),
      mappingBox,
      field("Description", description),
      el(
        "div",
        "dialog-buttons",
        cancel(),
        el("button", { class: "primary", text: "Upload and preview", attrs: { type: "submit" } }),
      ),
    );
    go.addEventListener("submit", (event) => {
      event.preventDefault();
      void preview();
    });
    step(0, "a CSV or JSONL file", go);
  }

  async function preview(): Promise<void> {
    if (!file) return void (problem.textContent = "Choose a file first.");
    const columnMap = mapping();
    if (typeof columnMap === "string") return void (problem.textContent = columnMap);
    try {
      if (staged?.file !== file) {
        problem.textContent = `Uploading ${file.name}…`;
        staged = { file, id: await upload(session, file) };
      }
      const input: StartBulkImportInput = {
        format: format.value === "JSONL" ? "JSONL" : "CSV",
        mode: mode.value === "UPSERT" ? "UPSERT" : "CREATE",
        mapping: columnMap,
        source: { upload: staged.id },
        description: description.value.trim() || null,
      };
      problem.textContent = "Previewing every row…";
      const { previewBulkImport: result } = await session.query(ConsoleImportPreviewDocument, { input });
      if (result.userErrors.length || !result.preview) {
        return void (problem.textContent = userErrorText(result.userErrors));
      }
      showPreview(input, result.preview);
    } catch (error) {
      problem.textContent = describe(error);
    }
  }

  function showPreview(input: StartBulkImportInput, p: Preview): void {
    const sample = table("A sample of the rows with their predicted outcome", ["Row", "Outcome", "Ticket"]);
    sample.body.append(...(p.sample ?? []).map((item) =>
      el(
        "tr",
        { data: { position: String(item.position) } },
        el("td", { text: String(item.position + 1) }),
        el("td", {}, el("span", { class: `badge outcome-${item.outcome}`, text: item.code ?? humanize(item.outcome) })),
        el(
          "td",
          {},
          item.code && item.message ? el("span", { class: "muted", text: item.message }) : rowSummary(item.after),
        ),
      )
    ));
    step(
      1,
      `preview of ${count(p.matchedCount)} rows`,
      el("p", { text: `Nothing is written yet. This preview holds until ${time(p.expiresAt)}.` }),
      ...predictedFigures(p, ["Rows", "Would import", "Would skip", "Would fail"]),
      el("div", "table-wrap sample", sample.table),
      previewButtons(showForm, cancel(), () => showConfirm(input, p), p.matchedCount === 0),
    );
  }

  function showConfirm(input: StartBulkImportInput, p: Preview): void {
    const go = el("button", { class: "primary", text: "Start import", attrs: { type: "submit" } });
    const confirm = el(
      "form",
      "flow-form",
      el("p", {
        class: "summary",
        text: `${humanize(input.mode ?? "CREATE").replace(/^./, (c) => c.toUpperCase())} ${
          count(p.matchedCount)
        } rows from ${staged?.file.name}: ${count(p.wouldChange)} would be imported, ${count(p.wouldFail)} would fail.`,
      }),
      el(
        "div",
        "dialog-buttons",
        button("Back", () => showPreview(input, p), { class: "secondary" }),
        cancel(),
        go,
      ),
    );
    confirm.addEventListener("submit", async (event) => {
      event.preventDefault();
      await launch(go, async () =>
        (await session.query(StartImportDocument, {
          input: { ...input, previewToken: p.previewToken, idempotencyKey },
        })).startBulkImport);
    });
    step(2, "confirm", confirm);
  }

  showForm();
}
