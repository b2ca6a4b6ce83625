/**
 * What a delivery sends, built from the event row at send time: the stored payload plus the
 * operation's links (GraphQL id, API and download URLs under PUBLIC_URL). Links are added
 * here rather than in the outbox because the chunk transaction that writes the event does not
 * know the public URL; they depend only on the operation id and the configuration, so every
 * retry sends the same body.
 */
import { EXPORT_ACTION_TYPE } from "../exports/state.ts";
import { encodeId } from "../graphql/ids.ts";

export interface OperationPayload {
  type: string;
  timestamp: string;
  data: {
    operation: {
      id: string;
      kind: string;
      action: string;
      status: string;
      description: string | null;
      scheduledAt: string | null;
      finishedAt: string | null;
      counts: Record<"total" | "succeeded" | "failed" | "skipped" | "cancelled" | "pending", number>;
      errorSummary: { code: string; count: number }[];
    };
  };
}

export interface OperationLinks {
  graphqlId: string;
  graphql: string;
  /** The item ledger; `export`: an EXPORT operation's file (src/http/export-download.ts). */
  downloads: { jsonl: string; csv: string; export?: string };
}

export function operationLinks(publicUrl: string, operation: { id: string; action: string }): OperationLinks {
  const base = `${publicUrl}/bulk-operations/${operation.id}`;
  return {
    graphqlId: encodeId("BulkOperation", operation.id),
    graphql: `${publicUrl}/graphql`,
    downloads: {
      jsonl: `${base}/items.jsonl`,
      csv: `${base}/items.csv`,
      ...(operation.action === EXPORT_ACTION_TYPE ? { export: `${base}/export` } : {}),
    },
  };
}

/** The JSON body of a webhook: `{ type, timestamp, data: { operation, links } }`. */
export function webhookBody(payload: OperationPayload, publicUrl: string): string {
  const links = operationLinks(publicUrl, payload.data.operation);
  return JSON.stringify({ ...payload, data: { ...payload.data, links } });
}

const HEADLINES: Record<string, string> = {
  "bulk_operation.scheduled": "was scheduled",
  "bulk_operation.started": "started",
  "bulk_operation.finished": "finished",
  "bulk_operation.cancelled": "was cancelled",
  "export.ready": "is ready to download",
};

/** The e-mail to the operation's creator: the summary, the error counts and the download links. */
export function emailMessage(payload: OperationPayload, publicUrl: string): { subject: string; text: string } {
  const op = payload.data.operation;
  const links = operationLinks(publicUrl, op);
  const c = op.counts;
  const subject = `Bulk operation ${op.action} ${HEADLINES[payload.type] ?? payload.type} (${op.status})`;
  const lines = [
    `Your bulk operation ${op.action}${op.description ? ` "${op.description}"` : ""} ${
      HEADLINES[payload.type] ?? payload.type
    }.`,
    "",
    `Status: ${op.status}`,
    ...(op.scheduledAt && payload.type === "bulk_operation.scheduled" ? [`Scheduled for: ${op.scheduledAt}`] : []),
    `Items: ${c.total} total, ${c.succeeded} succeeded, ${c.failed} failed, ${c.skipped} skipped, ${c.cancelled} cancelled`,
    ...(op.errorSummary.length > 0
      ? ["", "Errors by code:", ...op.errorSummary.map((e) => `  ${e.code}: ${e.count}`)]
      : []),
    "",
    `Operation id (GraphQL): ${links.graphqlId}`,
    ...(links.downloads.export ? [`The exported file: ${links.downloads.export}`] : []),
    `Item ledger (CSV): ${links.downloads.csv}`,
    `Item ledger (JSON lines): ${links.downloads.jsonl}`,
    "(The downloads take the same bearer token as the API.)",
  ];
  return { subject, text: lines.join("\n") };
}
