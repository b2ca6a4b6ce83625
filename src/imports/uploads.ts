/**
 * Staged uploads, for files larger than a request body: createUpload makes the row, the client
 * PUTs the file to /uploads/{id}, and the bytes go to the database as they arrive: a binary
 * `COPY bulk_upload_parts FROM STDIN` (npm pg-copy-streams) with one row per ~256 KiB block, so
 * the service holds one block, never the file. The PUT is one transaction: a file over the
 * limit, a dropped connection or a crash leaves no part. startBulkImport reads the parts back
 * in order, a few blocks per query (uploadBytes), into the streaming parser.
 */
import { Buffer } from "node:buffer";
import { createHash } from "node:crypto";
import { once } from "node:events";
import { finished } from "node:stream/promises";
import type pg from "pg";
import { from as copyFrom } from "pg-copy-streams";
import { sql } from "kysely";
import type { Viewer } from "../auth/tokens.ts";
import type { Tx } from "../bulk/action.ts";
import type { Db } from "../db/database.ts";

/** How long an upload can be started from (and is kept). */
export const UPLOAD_TTL_MS = 24 * 3_600_000;
/**
 * Live (unexpired) uploads a user may have at once: each may hold UPLOAD_MAX_BYTES of the database's disk until it
 * expires, so their number is bounded too.
 */
export const UPLOADS_PER_USER = 20;
/** Bytes per stored part: large enough that the per-row overhead is noise, small enough to hold. */
const PART_BYTES = 256 * 1024;
/** Parts read per query when the import reads the file back (~4 MiB). */
const PARTS_PER_READ = 16;

export interface Upload {
  id: string;
  expiresAt: Date;
}

/** A new upload, or null when the viewer already has UPLOADS_PER_USER live ones. */
export async function createUpload(db: Db, viewer: Viewer): Promise<Upload | null> {
  // Expired uploads go here rather than by a timer (bulk_uploads_expiry_idx); their parts cascade.
  await sql`DELETE FROM bulk_uploads WHERE expires_at < now()`.execute(db);
  const { rows: [live] } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM bulk_uploads
    WHERE created_by = ${viewer.userId} AND expires_at > now()`.execute(db);
  // Counted, not locked: concurrent requests can pass the bound by their number, which keeps it a bound.
  if (live.n >= UPLOADS_PER_USER) return null;
  const { rows } = await sql<{ id: string; expires_at: Date }>`
    INSERT INTO bulk_uploads (tenant_id, created_by, expires_at)
    VALUES (${viewer.tenantId}, ${viewer.userId}, now() + ${UPLOAD_TTL_MS} * interval '1 millisecond')
    RETURNING id, expires_at`.execute(db);
  return { id: rows[0].id, expiresAt: rows[0].expires_at };
}

export type ReceiveResult =
  | { ok: true; bytes: number }
  | { ok: false; status: 404 | 408 | 409 | 413; message: string };

/** PGCOPY binary: signature, flags, header extension length. */
const COPY_HEADER = Buffer.concat([Buffer.from("PGCOPY\n\xff\r\n\0", "latin1"), Buffer.alloc(8)]);
const COPY_TRAILER = Buffer.from([0xff, 0xff]);

/** One tuple (upload_id uuid, seq int4, data bytea) in COPY's binary format. */
function copyTuple(uploadId: Buffer, seq: number, data: Uint8Array): Buffer {
  const head = Buffer.alloc(2 + 4 + 16 + 4 + 4 + 4);
  let at = head.writeInt16BE(3, 0);
  at = head.writeInt32BE(16, at);
  at += uploadId.copy(head, at);
  at = head.writeInt32BE(4, at);
  at = head.writeInt32BE(seq, at);
  head.writeInt32BE(data.byteLength, at);
  return Buffer.concat([head, data]);
}

class TooLarge extends Error {}
class Stalled extends Error {}

/**
 * The body's chunks, refusing a gap of more than `idleMs` between two (a client that stops
 * sending would otherwise hold a connection and an open transaction for as long as it likes).
 */
async function* chunksOf(body: ReadableStream<Uint8Array>, idleMs: number): AsyncGenerator<Uint8Array> {
  const reader = body.getReader();
  try {
    for (;;) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const stalled = new Promise<never>((_, reject) => timer = setTimeout(() => reject(new Stalled()), idleMs));
      try {
        const { done, value } = await Promise.race([reader.read(), stalled]);
        if (done) return;
        yield value;
      } finally {
        clearTimeout(timer);
      }
    }
  } finally {
    reader.cancel().catch(() => {});
  }
}

/**
 * Streams `body` into the upload's parts in one transaction on a client of `pool`. Refused: an
 * upload that is not the viewer's tenant's, expired or missing (404), already received (409),
 * larger than `maxBytes` (413), or stalled for more than `idleMs` between two chunks (408); nothing is kept then.
 */
export async function receiveUpload(
  pool: pg.Pool,
  viewer: Viewer,
  uploadId: string,
  body: ReadableStream<Uint8Array>,
  limits: { maxBytes: number; idleMs: number },
): Promise<ReceiveResult> {
  const { maxBytes, idleMs } = limits;
  const client = await pool.connect();
  let broken = false;
  try {
    await client.query("BEGIN");
    const { rows } = await client.query<{ completed_at: Date | null }>(
      `SELECT completed_at FROM bulk_uploads WHERE id = $1 AND tenant_id = $2 AND expires_at > now() FOR UPDATE`,
      [uploadId, viewer.tenantId],
    );
    if (rows.length === 0) {
      await client.query("ROLLBACK");
      return { ok: false, status: 404, message: "No upload with this id (or it expired)." };
    }
    if (rows[0].completed_at) {
      await client.query("ROLLBACK");
      return { ok: false, status: 409, message: "This upload was already received; create another one." };
    }
    const copy = client.query(copyFrom("COPY bulk_upload_parts (upload_id, seq, data) FROM STDIN (FORMAT binary)"));
    const id = Buffer.from(uploadId.replaceAll("-", ""), "hex");
    const write = async (chunk: Buffer) => {
      if (!copy.write(chunk)) await once(copy, "drain");
    };
    let bytes = 0;
    let seq = 0;
    const sha256 = createHash("sha256");
    let block: Uint8Array[] = [];
    let blockBytes = 0;
    const flush = async () => {
      if (blockBytes === 0) return;
      await write(copyTuple(id, seq++, Buffer.concat(block)));
      block = [];
      blockBytes = 0;
    };
    try {
      await write(COPY_HEADER);
      for await (const chunk of chunksOf(body, idleMs)) {
        bytes += chunk.byteLength;
        if (bytes > maxBytes) throw new TooLarge();
        sha256.update(chunk);
        block.push(chunk);
        blockBytes += chunk.byteLength;
        if (blockBytes >= PART_BYTES) await flush();
      }
      await flush();
      copy.end(COPY_TRAILER);
      await finished(copy);
    } catch (error) {
      // Ends the COPY with an error: PostgreSQL aborts it, and the ROLLBACK below drops every part.
      copy.destroy(error as Error);
      await finished(copy).catch(() => {});
      await client.query("ROLLBACK");
      if (error instanceof TooLarge) return { ok: false, status: 413, message: `The file is over ${maxBytes} bytes.` };
      if (error instanceof Stalled) {
        return { ok: false, status: 408, message: `Nothing received for ${idleMs} ms; upload again.` };
      }
      throw error;
    }
    await client.query("UPDATE bulk_uploads SET bytes = $2, sha256 = $3, completed_at = now() WHERE id = $1", [
      uploadId,
      bytes,
      sha256.digest("hex"),
    ]);
    await client.query("COMMIT");
    return { ok: true, bytes };
  } catch (error) {
    broken = true;
    throw error;
  } finally {
    client.release(broken);
  }
}

export type StagedUpload = { ok: true; sha256: string } | { ok: false; code: "NOT_FOUND" | "UPLOAD_INCOMPLETE" };

/** The viewer's tenant's received upload; another tenant's is NOT_FOUND like a missing one. */
export async function findUpload(db: Db, tenantId: string, uploadId: string): Promise<StagedUpload> {
  const { rows } = await sql<{ sha256: string | null; completed_at: Date | null }>`
    SELECT sha256, completed_at FROM bulk_uploads
    WHERE id = ${uploadId} AND tenant_id = ${tenantId} AND expires_at > now()`.execute(db);
  if (rows.length === 0) return { ok: false, code: "NOT_FOUND" };
  if (!rows[0].completed_at || !rows[0].sha256) return { ok: false, code: "UPLOAD_INCOMPLETE" };
  return { ok: true, sha256: rows[0].sha256 };
}

/**
 * Deletes a staged upload (its parts cascade) inside the transaction that starts its import, so the
 * disk is freed as soon as the rows are staged, not 24 hours later; a start that is refused rolls
 * the deletion back with everything else. The import reads the parts on other connections, which
 * still see them until this commits. Only for a start without an idempotencyKey: a retried request
 * with its key must find the upload again to replay (its input hash needs the file's header).
 */
export async function consumeUpload(tx: Tx, tenantId: string, uploadId: string): Promise<void> {
  await sql`DELETE FROM bulk_uploads WHERE id = ${uploadId} AND tenant_id = ${tenantId}`.execute(tx);
}

/** The upload's bytes in order, PARTS_PER_READ parts per query (primary key range scans). */
export async function* uploadBytes(db: Db, uploadId: string): AsyncGenerator<Uint8Array> {
  for (let first = 0;; first += PARTS_PER_READ) {
    const { rows } = await sql<{ data: Uint8Array }>`SELECT data FROM bulk_upload_parts
      WHERE upload_id = ${uploadId} AND seq >= ${first} AND seq < ${first + PARTS_PER_READ} ORDER BY seq`.execute(db);
    for (const row of rows) yield row.data;
    if (rows.length < PARTS_PER_READ) return;
  }
}
