/**
 * PUT /uploads/{id}: the body of a staged upload (src/imports/uploads.ts), streamed into the
 * database; not buffered like /graphql bodies (this route runs before the body limit), bounded
 * by UPLOAD_MAX_BYTES instead: a declared Content-Length over it is refused at once, a chunked
 * body once it passes it (413, nothing kept), and a body that stops for BODY_READ_TIMEOUT_MS between two
 * chunks is refused with 408 (the whole file may take as long as it needs). Same bearer auth as /graphql; importing needs the
 * AGENT role; another tenant's upload is a 404 like a missing one.
 */
import type pg from "pg";
import { roleAllows } from "../bulk/action.ts";
import type { Db } from "../db/database.ts";
import { encodeId, UUID_PATTERN } from "../graphql/ids.ts";
import { receiveUpload } from "../imports/uploads.ts";
import { error, routeViewer } from "./downloads.ts";

const ROUTE = /^\/uploads\/([^/]+)$/;

export function uploadsRoute(db: Db, pool: pg.Pool, limits: { maxBytes: number; idleMs: number }) {
  const { maxBytes } = limits;
  return async (request: Request, url: URL): Promise<Response | null> => {
    const match = ROUTE.exec(url.pathname);
    if (!match) return null;
    if (request.method !== "PUT") return error(405, "Use PUT with the file as the body.");
    const viewer = await routeViewer(db, request);
    if (viewer instanceof Response) return viewer;
    if (!roleAllows(viewer.role, "AGENT")) return error(403, `Importing needs the AGENT role; you are ${viewer.role}.`);
    if (!UUID_PATTERN.test(match[1])) return error(404, "No upload with this id (or it expired).");
    const declared = request.headers.get("content-length");
    if (declared !== null && Number(declared) > maxBytes) return error(413, `The file is over ${maxBytes} bytes.`);
    if (!request.body) return error(400, "Send the file as the request body.");
    const result = await receiveUpload(pool, viewer, match[1], request.body, limits);
    return result.ok
      ? new Response(JSON.stringify({ id: encodeId("BulkUpload", match[1]), bytes: result.bytes }), {
        headers: { "content-type": "application/json" },
      })
      : error(result.status, result.message);
  };
}
