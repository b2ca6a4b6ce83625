/** Text for the terminal: the progress line, rate and ETA, tables and summaries. Pure functions. */
import type { PreviewOperationMutation } from "../clients/generated/graphql.ts";
import { count, duration, eta, type Operation, rate } from "../clients/progress.ts";
import { isRecord } from "../guards.ts";

export type { Operation };
export type Preview = NonNullable<PreviewOperationMutation["previewBulkOperation"]["preview"]>;

/** `[#######.......]` of `width` cells for a 0-100 percent. */
export function bar(percent: number, width: number): string {
  const cells = Math.max(0, width);
  const filled = Math.min(cells, Math.round((Math.max(0, Math.min(100, percent)) / 100) * cells));
  return `[${"#".repeat(filled)}${".".repeat(cells - filled)}]`;
}

/**
 * One progress line: `[####....]  45.0%  4,500/10,000  ok 4,400 failed 50 skipped 50  3,200/s  ETA 2s  RUNNING`.
 * `columns` is the terminal width; the bar takes what the text leaves (10 to 40 cells).
 */
export function progressLine(op: Operation, itemsPerSecond: number | null, columns = 100, now = Date.now()): string {
  const c = op.counts;
  const left = eta(op, itemsPerSecond, now);
  const parts = [
    `${op.percent.toFixed(1).padStart(5)}%`,
    `${count(c.processed)}/${count(c.total)}`,
    `ok ${count(c.succeeded)} failed ${count(c.failed)} skipped ${count(c.skipped)}` +
    (c.cancelled ? ` cancelled ${count(c.cancelled)}` : ""),
    rate(itemsPerSecond),
    `ETA ${left === null ? "-" : duration(left)}`,
    op.status,
  ];
  const text = parts.join("  ");
  const width = Math.max(10, Math.min(40, columns - text.length - 4));
  return `${bar(op.percent, width)} ${text}`;
}

/** The closing summary: status, counts, duration, then the error summary (one code per line). */
export function summary(op: Operation): string {
  const c = op.counts;
  const took = op.startedAt && op.finishedAt
    ? ` in ${duration(Date.parse(op.finishedAt) - Date.parse(op.startedAt))}`
    : "";
  const lines = [
    `${op.id} ${op.status}${took}: ${count(c.succeeded)} succeeded, ${count(c.failed)} failed, ` +
    `${count(c.skipped)} skipped, ${count(c.cancelled)} cancelled of ${count(c.total)}`,
  ];
  if (op.errorSummary.length > 0) {
    lines.push("errors:");
    for (const e of op.errorSummary) lines.push(`  ${e.code.padEnd(20)} ${count(e.count)}`);
  }
  return lines.join("\n");
}

/** A fixed-width table; the last column is not padded. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    cells.map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i]))).join("  ").trimEnd();
  return [line(header), ...rows.map(line)].join("\n");
}

export function operationsTable(ops: Operation[]): string {
  return table(
    ["ID", "STATUS", "KIND", "ACTION", "PROGRESS", "CREATED", "DESCRIPTION"],
    ops.map((op) => [
      op.id,
      op.status,
      op.kind,
      op.actionType,
      `${op.percent.toFixed(0)}% ${count(op.counts.processed)}/${count(op.counts.total)}`,
      op.createdAt.replace(/\.\d+Z$/, "Z"),
      op.description ?? "",
    ]),
  );
}

/** Details of one operation (the `show` command). */
export function details(op: Operation): string {
  const rows: [string, string | null | undefined][] = [
    ["id", op.id],
    ["status", op.status],
    ["kind", op.kind + (op.parent ? ` of ${op.parent.id}` : "")],
    ["action", op.actionType],
    ["description", op.description],
    ["created", `${op.createdAt}${op.createdBy ? ` by ${op.createdBy.email}` : ""}`],
    ["scheduled", op.scheduledAt],
    ["started", op.startedAt],
    ["cancel requested", op.cancelRequestedAt],
    ["finished", op.finishedAt],
    ["progress", `${op.percent.toFixed(1)}% (${count(op.counts.processed)}/${count(op.counts.total)})`],
    ["throughput", op.throughput === null ? null : rate(op.throughput)],
  ];
  return rows.filter(([, v]) => v !== null && v !== undefined && v !== "")
    .map(([k, v]) => `${k.padEnd(17)} ${v}`).join("\n") + "\n" + summary(op);
}

/** What an item changes: `priority LOW -> HIGH, status OPEN -> PENDING` (the version bump left out). */
export function change(before: unknown, after: unknown): string {
  if (!isRecord(before) || !isRecord(after)) return "-";
  const [b, a] = [before, after];
  const show = (v: unknown) => (typeof v === "object" && v !== null ? JSON.stringify(v) : String(v));
  const changed = Object.keys(a).filter((k) => k !== "version" && JSON.stringify(a[k]) !== JSON.stringify(b[k]));
  return changed.length === 0 ? "no change" : changed.map((k) => `${k} ${show(b[k])} -> ${show(a[k])}`).join(", ");
}

/** The preview: predicted counts, codes, estimate, up to `sampleRows` sample lines, and the token. */
export function previewText(preview: Preview, sampleRows: number): string {
  const lines = [
    `matched ${count(preview.matchedCount)}: would change ${count(preview.wouldChange)}, ` +
    `skip ${count(preview.wouldSkip)}, fail ${count(preview.wouldFail)}` +
    ` (about ${duration(preview.estimatedDurationSeconds * 1000)})`,
  ];
  for (const c of preview.predictedByCode) lines.push(`  ${c.code.padEnd(20)} ${count(c.count)}`);
  const sample = (preview.sample ?? []).slice(0, sampleRows);
  if (sample.length > 0) {
    lines.push(
      "",
      table(
        ["#", "TARGET", "OUTCOME", "CHANGE", "TITLE"],
        sample.map((item) => [
          String(item.position),
          item.targetId,
          item.outcome + (item.code ? ` ${item.code}` : ""),
          change(item.before, item.after),
          item.target?.title ?? "",
        ]),
      ),
    );
  }
  lines.push(
    "",
    `preview token (valid until ${preview.expiresAt}): ${preview.previewToken}`,
    "start exactly these targets: add --preview-token <token> to the same start command",
  );
  return lines.join("\n");
}
