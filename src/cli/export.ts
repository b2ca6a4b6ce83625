/**
 * `cli export`: starts a bulk export, follows it to its end (the progress bar with --watch),
 * then downloads the file to --out. The download is written to `<out>.part` and renamed when
 * complete, so --out never holds a partial file; a transfer that breaks is resumed with a
 * Range request from the bytes already written (If-Range with the file's ETag, so a resume
 * never splices two different files), up to RESUME_ATTEMPTS times. The bytes are written as
 * they arrive: the file equals the download byte for byte.
 */
import type { StartBulkExportInput } from "../clients/generated/graphql.ts";
import { stringField } from "../guards.ts";
import { type Flags, parseTargets, serverEnum, UsageError } from "./args.ts";

export const RESUME_ATTEMPTS = 3;

export function parseExportInput(flags: Flags): StartBulkExportInput {
  if (!flags.format) throw new UsageError("export needs --format csv|jsonl|json|markdown");
  if (!flags.out) throw new UsageError("export needs --out FILE");
  const input: StartBulkExportInput = { targets: parseTargets(flags), format: serverEnum(flags.format) };
  if (flags.fields) input.fields = flags.fields.split(",").map((f) => f.trim()).filter(Boolean);
  if (flags["include-comments"]) input.includeComments = true;
  if (flags.gzip) input.compression = "GZIP";
  if (flags.description) input.description = flags.description;
  if (flags["idempotency-key"]) input.idempotencyKey = flags["idempotency-key"];
  return input;
}

/** The download refused (409/410/404...): the server's typed reason. */
export class DownloadError extends Error {
  constructor(readonly status: number, readonly code: string | undefined, message: string) {
    super(message);
    this.name = "DownloadError";
  }
}

async function refusal(response: Response): Promise<DownloadError> {
  const body: unknown = await response.json().catch(() => ({}));
  return new DownloadError(
    response.status,
    stringField(body, "code"),
    stringField(body, "error") ?? `HTTP ${response.status}`,
  );
}

async function writeAll(file: Deno.FsFile, bytes: Uint8Array): Promise<void> {
  for (let done = 0; done < bytes.length;) done += await file.write(bytes.subarray(done));
}

export interface DownloadOptions {
  /** Called as bytes arrive: written so far, and the file's length. */
  onProgress?: (written: number, total: number) => void;
}

/**
 * Downloads an export's file to `out`; returns its length in bytes. Nothing is left behind
 * when it fails: `<out>.part` is created with the first accepted answer and removed on error.
 */
export async function downloadExport(
  graphqlUrl: string,
  token: string,
  operationId: string,
  out: string,
  options: DownloadOptions = {},
): Promise<number> {
  const url = new URL(`bulk-operations/${encodeURIComponent(operationId)}/export`, graphqlUrl);
  const partial = `${out}.part`;
  let file: Deno.FsFile | null = null;
  let written = 0;
  let total = -1;
  let etag: string | null = null;
  try {
    for (let attempt = 1;; attempt++) {
      const headers: Record<string, string> = { authorization: `Bearer ${token}` };
      if (written > 0 && etag !== null) Object.assign(headers, { range: `bytes=${written}-`, "if-range": etag });
      const response: Response = await fetch(url, { headers });
      if (response.status !== 200 && response.status !== 206) throw await refusal(response);
      file ??= await Deno.open(partial, { write: true, create: true, truncate: true });
      if (response.status === 200 && written > 0) {
        // Not a continuation (another file behind the ETag): start over.
        await file.truncate(0);
        await file.seek(0, Deno.SeekMode.Start);
        written = 0;
      }
      etag = response.headers.get("etag");
      total = written + Number(response.headers.get("content-length"));
      try {
        for await (const chunk of response.body!) {
          await writeAll(file, chunk);
          written += chunk.length;
          options.onProgress?.(written, total);
        }
      } catch (error) {
        if (attempt >= RESUME_ATTEMPTS) throw error;
      }
      if (written === total) break;
      if (attempt >= RESUME_ATTEMPTS) throw new Error(`the download broke off at ${written} of ${total} bytes`);
    }
    await file.sync();
    file.close();
    file = null;
    await Deno.rename(partial, out);
    return written;
  } catch (error) {
    file?.close();
    await Deno.remove(partial).catch(() => {});
    throw error;
  }
}
