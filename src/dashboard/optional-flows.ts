/**
 * Flows for APIs a server may not have: each one's button appears on the tickets page only when the server's
 * schema has its root mutation (Session.hasMutation, read from `__type(name: "Mutation")` once per token), so
 * a console bundled against a newer schema never shows a button its server cannot serve, and no button is dead.
 *
 * IMPORT and EXPORT (issue 14) register here: `startBulkImport` and `startBulkExport` are built on other branches
 * and are not in this schema yet. An import flow (file picker / drop, column mapping preview, then the live view)
 * and an export flow (format and fields, then the live view and the download) each add one entry.
 */
import type { PageContext } from "./page.ts";
import type { Selection } from "./selection.ts";

export interface OptionalFlow {
  /** The root mutation it needs, e.g. "startBulkExport". */
  mutation: string;
  label: string;
  /** Whether it acts on the ticket selection (export) or not (import). */
  needsSelection: boolean;
  open(ctx: PageContext, selection: Selection): void;
}

export const OPTIONAL_FLOWS: readonly OptionalFlow[] = [];
