/**
 * The files an import or an export operation has, on its operation page: an export's file (state, rows, bytes,
 * expiry, and its download once READY) and an import's failed rows as given plus an `error` column
 * (GET /bulk-operations/{id}/failed-rows.csv or .jsonl, the import's format), to fix and import again.
 * Other operations get no section. `refresh` re-reads it (the page calls it at the end of the run).
 */
import { ConsoleExportFileDocument, type ConsoleExportFileQuery } from "../clients/generated/graphql.ts";
import { count, type Operation } from "../clients/progress.ts";
import { button, el, humanize, time } from "./dom.ts";
import type { Detail } from "./live-panel.ts";
import type { PageContext } from "./page.ts";

type ExportFile = NonNullable<NonNullable<ConsoleExportFileQuery["bulkOperation"]>["export"]>;

export interface FilesSection {
  element: HTMLElement;
  refresh(op: Operation): void;
}

export function filesSection(ctx: PageContext, detail: Detail): FilesSection | null {
  const action = detail.action;
  if (action.__typename === "ExportAction") return exportSection(ctx, detail.id);
  if (action.__typename === "ImportTicketsAction") {
    return importSection(ctx, detail.id, action.importFormat === "JSONL" ? "jsonl" : "csv");
  }
  return null;
}

const path = (id: string, file: string) => `/bulk-operations/${encodeURIComponent(id)}/${file}`;

function exportSection(ctx: PageContext, id: string): FilesSection {
  const facts = el("dl", "facts export-facts");
  const actions = el("div", "file-actions");
  const element = el(
    "section",
    { class: "files export-file", attrs: { "aria-label": "Export file" } },
    el("h3", { text: "Export file" }),
    facts,
    actions,
  );

  function render(file: ExportFile): void {
    element.dataset.state = file.state;
    const rows: [string, string][] = [
      ["State", humanize(file.state)],
      ["Format", `${file.format}${file.compression === "GZIP" ? ", gzip" : ""}`],
    ];
    if (file.rows !== null && file.rows !== undefined) rows.push(["Rows", count(file.rows)]);
    if (file.bytes !== null && file.bytes !== undefined) rows.push(["Bytes", count(file.bytes)]);
    if (file.expiresAt) rows.push(["Kept until", time(file.expiresAt)]);
    facts.replaceChildren(
      ...rows.flatMap(([k, v]) => [el("dt", { text: k }), el("dd", { text: v, data: { fact: k } })]),
    );
    actions.replaceChildren(
      file.state === "READY"
        ? button("Download the export", () => void ctx.session.download(path(id, "export")).catch(ctx.fail), {
          class: "primary",
          data: { download: "export" },
        })
        : el("span", {
          class: "muted",
          text: file.state === "PENDING" ? "The download appears here when the export has finished." : "No file.",
        }),
    );
  }

  async function load(): Promise<void> {
    try {
      const data = await ctx.session.query(ConsoleExportFileDocument, { id });
      if (data.bulkOperation?.export) render(data.bulkOperation.export);
    } catch (error) {
      ctx.fail(error);
    }
  }
  void load();
  return { element, refresh: () => void load() };
}

function importSection(ctx: PageContext, id: string, format: "csv" | "jsonl"): FilesSection {
  const body = el("div", "file-actions");
  const element = el(
    "section",
    { class: "files import-file", attrs: { "aria-label": "Failed rows" } },
    el("h3", { text: "Failed rows" }),
    body,
  );
  return {
    element,
    refresh(op: Operation): void {
      body.replaceChildren(
        op.counts.failed > 0
          ? button(
            `Download the ${count(op.counts.failed)} failed rows (${format.toUpperCase()})`,
            () =>
              void ctx.session.download(path(id, `failed-rows.${format}`), `failed-rows-${id}.${format}`)
                .catch(ctx.fail),
            { data: { download: "failed-rows" } },
          )
          : el("span", {
            class: "muted",
            text: op.counts.processed < op.counts.total ? "None so far." : "No row failed.",
          }),
      );
    },
  };
}
