/**
 * `cli import FILE`: a staged upload (createUpload, then the file PUT from disk as a stream, so a
 * file of any size costs the client one read buffer), then startBulkImport with it. The format
 * comes from --format or the file's extension (.csv; .jsonl or .ndjson).
 */
import {
  type BulkImportFormat,
  type BulkImportMode,
  CreateUploadDocument,
  type StartBulkImportInput,
  StartImportDocument,
} from "../clients/generated/graphql.ts";
import { request } from "../clients/transport.ts";
import { type Flags, UsageError } from "./args.ts";
import { errorMessage } from "../guards.ts";

const EXTENSIONS: Record<string, BulkImportFormat> = { csv: "CSV", jsonl: "JSONL", ndjson: "JSONL" };

export function importFormat(file: string, flag: string | undefined): BulkImportFormat {
  if (flag) {
    const format = flag.toUpperCase();
    if (format !== "CSV" && format !== "JSONL") throw new UsageError("--format takes CSV or JSONL");
    return format;
  }
  const format = EXTENSIONS[file.split(".").pop()?.toLowerCase() ?? ""];
  if (!format) throw new UsageError(`cannot tell the format of ${file} from its extension: give --format CSV|JSONL`);
  return format;
}

export function importMode(flag: string | undefined): BulkImportMode {
  const mode = (flag ?? "CREATE").toUpperCase();
  if (mode !== "CREATE" && mode !== "UPSERT") throw new UsageError("--mode takes CREATE or UPSERT");
  return mode;
}

/** An upload failed at the PUT (its HTTP status and the server's message). */
export class UploadError extends Error {}

/**
 * Uploads `file` and starts the import. The upload's URL is taken relative to the server the CLI
 * talks to (PUBLIC_URL may name another host, e.g. behind a proxy).
 */
export async function startFileImport(httpUrl: string, token: string, file: string, flags: Flags) {
  const input: Omit<StartBulkImportInput, "source"> = {
    format: importFormat(file, flags.format),
    mode: importMode(flags.mode),
  };
  if (flags["idempotency-key"]) input.idempotencyKey = flags["idempotency-key"];
  if (flags.description) input.description = flags.description;
  let handle: Deno.FsFile;
  try {
    handle = await Deno.open(file);
  } catch (error) {
    throw new UsageError(`cannot read ${file}: ${errorMessage(error)}`);
  }
  const created = (await request(httpUrl, token, CreateUploadDocument, {})).createUpload;
  if (created.userErrors.length > 0 || !created.upload) {
    return { bulkOperation: null, replayed: false, userErrors: created.userErrors };
  }
  const target = new URL(new URL(created.upload.url).pathname, httpUrl);
  const { size } = await handle.stat();
  const response = await fetch(target, {
    method: "PUT",
    headers: { authorization: `Bearer ${token}`, "content-length": String(size) },
    body: handle.readable,
  });
  if (response.status !== 200) {
    const body = await response.json().catch(() => ({ error: response.statusText }));
    throw new UploadError(`upload refused (HTTP ${response.status}): ${body.error}`);
  }
  await response.body?.cancel();
  const data = await request(httpUrl, token, StartImportDocument, {
    input: { ...input, source: { upload: created.upload.id } },
  });
  return data.startBulkImport;
}
