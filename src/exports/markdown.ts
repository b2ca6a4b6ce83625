/**
 * Markdown parts: one section per record: a `##` heading with its title, a bullet list of
 * the other fields, the body as a paragraph, and its comments under `### Comments` when
 * asked for. Headings and list items are one line each, so line breaks in a title become
 * spaces; the body is kept as written.
 */
import type { ExportRecord, Framing } from "./format.ts";

const oneLine = (text: string) => text.replace(/\s*[\r\n]+\s*/g, " ");

export function markdownFraming(noun: string): Framing {
  return { prefix: `# Export of ${noun}\n\n`, separator: "", suffix: "" };
}

function section(record: ExportRecord, fields: string[], includeComments: boolean): string {
  const { title, body } = record.values;
  const lines = [`## ${oneLine(String(title ?? record.values.id ?? ""))}`, ""];
  for (const field of fields) {
    if (field === "title" || field === "body") continue;
    lines.push(`- **${field}**: ${record.values[field] ?? ""}`);
  }
  if (typeof body === "string" && fields.includes("body")) lines.push("", body);
  if (includeComments) {
    lines.push("", "### Comments", "");
    const comments = record.comments ?? [];
    if (comments.length === 0) lines.push("(none)");
    for (const comment of comments) lines.push(`- ${comment.authorId} at ${comment.createdAt}:`, "", comment.body, "");
  }
  return lines.join("\n") + "\n\n";
}

export function markdownPart(records: ExportRecord[], fields: string[], includeComments: boolean): string {
  return records.map((record) => section(record, fields, includeComments)).join("");
}
