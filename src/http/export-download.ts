/**
 * GET /bulk-operations/{id}/export: an EXPORT operation's file (src/exports/), streamed from
 * its stored parts with the bearer token of /graphql. `Content-Length` is always sent (the
 * plan knows the exact length before the first byte), and a single `Range: bytes=...` is
 * answered 206 (416 when it starts past the end), so a broken download resumes where it
 * stopped (`curl -C -`); `If-Range` with the ETag guards a resume against another file.
 * Not downloadable: 409 EXPORT_NOT_READY while it runs; 410 EXPORT_CANCELLED, EXPORT_FAILED,
 * EXPORT_EXPIRED, EXPORT_DELETED after. Another tenant's id is a 404 like a missing one.
 */
import type { BulkDomain } from "../bulk/action.ts";
import type { Db } from "../db/database.ts";
import { contentType, fileName } from "../exports/format.ts";
import { planFile, streamFile } from "../exports/file.ts";
import { exportView, isExport, removalsOf } from "../exports/state.ts";
import { downloadOperation, error } from "./downloads.ts";

const ROUTE = /^\/bulk-operations\/([^/]+)\/export$/;

const GONE: Record<string, [string, string]> = {
  CANCELLED: ["EXPORT_CANCELLED", "The export was cancelled before it finished: it has no file. Start a new one."],
  FAILED: ["EXPORT_FAILED", "Some tickets could not be read (see the operation's items): the file is incomplete."],
  EXPIRED: ["EXPORT_EXPIRED", "The export's file has expired (EXPORT_RETENTION_DAYS) and was deleted."],
  DELETED: ["EXPORT_DELETED", "The export's file was deleted (deleteBulkExport)."],
};

/**
 * The one range of a `Range` header as [start, end] inclusive, "unsatisfiable", or null to
 * send the whole file (no header, another unit, several ranges, or a malformed one: RFC 9110
 * lets a server ignore those).
 */
export function parseRange(
  header: string | null,
  length: number,
): { start: number; end: number } | "unsatisfiable" | null {
  const match = header ? /^bytes=(\d*)-(\d*)$/.exec(header.trim()) : null;
  if (!match || (match[1] === "" && match[2] === "")) return null;
  if (match[1] === "") {
    const suffix = Number(match[2]);
    if (suffix === 0) return "unsatisfiable";
    return { start: Math.max(0, length - suffix), end: length - 1 };
  }
  const start = Number(match[1]);
  const end = match[2] === "" ? length - 1 : Math.min(Number(match[2]), length - 1);
  if (match[2] !== "" && Number(match[2]) < start) return null;
  return start >= length ? "unsatisfiable" : { start, end };
}

export function exportDownloadRoute(db: Db, domain: BulkDomain, retentionDays: number) {
  return async (request: Request, url: URL): Promise<Response | null> => {
    const match = ROUTE.exec(url.pathname);
    if (!match) return null;
    const operation = await downloadOperation(db, request, match[1]);
    if (operation instanceof Response) return operation;
    if (!isExport(operation)) return error(404, "This bulk operation is not an export.", "NOT_AN_EXPORT");
    const view = exportView(operation, (await removalsOf(db, [operation.id])).get(operation.id) ?? null, retentionDays);
    if (view.state === "PENDING") {
      return error(
        409,
        `The export is ${operation.status} (${operation.succeeded + operation.failed} of ${operation.total} ` +
          `${domain.target.noun} done): download it once it has finished.`,
        "EXPORT_NOT_READY",
        { "retry-after": "5" },
      );
    }
    if (view.state !== "READY") return error(410, GONE[view.state][1], GONE[view.state][0]);
    const file = await planFile(db, operation.id, view.params, domain.target.noun);
    const etag = `"${operation.id}-${file.length}"`;
    const ifRange = request.headers.get("if-range");
    const range = ifRange !== null && ifRange !== etag ? null : parseRange(request.headers.get("range"), file.length);
    const headers: Record<string, string> = {
      "content-type": contentType(view.params),
      "content-disposition": `attachment; filename="${
        fileName(domain.target.noun, view.params, new Date(operation.created_at))
      }"`,
      "accept-ranges": "bytes",
      etag,
    };
    if (range === "unsatisfiable") {
      return new Response(null, { status: 416, headers: { ...headers, "content-range": `bytes */${file.length}` } });
    }
    const bytes = range ?? { start: 0, end: file.length - 1 };
    const body = file.length === 0 ? null : streamFile(db, operation.id, view.params, file, bytes);
    return new Response(body, {
      status: range ? 206 : 200,
      headers: {
        ...headers,
        "content-length": String(bytes.end - bytes.start + 1),
        ...(range ? { "content-range": `bytes ${range.start}-${range.end}/${file.length}` } : {}),
      },
    });
  };
}
