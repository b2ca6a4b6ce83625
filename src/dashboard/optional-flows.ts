/**
 * Flows for APIs a server may not have: each one's button appears on the tickets page only when the server's
 * schema has its root mutation (Session.hasMutation, read from `__type(name: "Mutation")` once per token), so
 * a console bundled against a newer schema never shows a button its server cannot serve, and no button is dead.
 * Both need AGENT (IMPORT_TICKETS and EXPORT declare requiredRole "AGENT"): the tickets page offers them only to
 * roles that may run (viewers get neither button).
 */
import { openExportFlow } from "./export-flow.ts";
import { openImportFlow } from "./import-flow.ts";
import type { PageContext } from "./page.ts";
import type { Selection } from "./selection.ts";

export interface OptionalFlow {
  /** The root mutation it needs, e.g. "startBulkExport". */
  mutation: string;
  label: string;
  /** Whether it acts on the ticket selection (export) or not (import). */
  needsSelection: boolean;
  /** `onStarted` clears the selection once an operation has started on it. */
  open(ctx: PageContext, selection: Selection, onStarted: () => void): void;
}

export const OPTIONAL_FLOWS: readonly OptionalFlow[] = [
  { mutation: "startBulkImport", label: "Import", needsSelection: false, open: (ctx) => openImportFlow(ctx) },
  { mutation: "startBulkExport", label: "Export", needsSelection: true, open: openExportFlow },
];
