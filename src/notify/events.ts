/**
 * The notification vocabulary: the event types a webhook endpoint can subscribe to, which of
 * them also go out by e-mail, and the options a start may ask for. No I/O.
 * docs/webhooks.md documents the payload of each type.
 */
import type { OperationRow } from "../bulk/operation.ts";
import { fileComplete, isExport } from "../exports/state.ts";

export const EVENT_TYPES = [
  "bulk_operation.scheduled",
  "bulk_operation.started",
  "bulk_operation.finished",
  "bulk_operation.cancelled",
  /** An EXPORT operation's file is ready to download (src/exports/). */
  "export.ready",
] as const;
export type EventType = typeof EVENT_TYPES[number];
const eventTypes = new Set<string>(EVENT_TYPES);
export const isEventType = (type: string): type is EventType => eventTypes.has(type);

/**
 * The events the creator is e-mailed about when the start asked `notify: { email: true }`:
 * a scheduled operation accepted, and the end of the operation.
 */
export const EMAIL_EVENT_TYPES: readonly EventType[] = [
  "bulk_operation.scheduled",
  "bulk_operation.finished",
  "bulk_operation.cancelled",
  "export.ready",
];

/** What a start asks for; stored in bulk_operations.options.notify. */
export interface NotifyOptions {
  email: boolean;
}

/** The event a new operation's start causes: none while it waits QUEUED (admission sends `started`). */
export const startEventOf = (status: string): EventType | null =>
  status === "SCHEDULED" ? "bulk_operation.scheduled" : status === "RUNNING" ? "bulk_operation.started" : null;

/**
 * The events the end of an operation causes: `cancelled` or `finished`, and for an EXPORT
 * operation whose whole file was written (fileComplete) also `export.ready`.
 */
export function endEventsOf(
  operation: Pick<OperationRow, "action_type" | "status" | "error_counts">,
): EventType[] {
  if (operation.status === "CANCELLED") return ["bulk_operation.cancelled"];
  return isExport(operation) && fileComplete(operation)
    ? ["bulk_operation.finished", "export.ready"]
    : ["bulk_operation.finished"];
}
