/**
 * What the action bar acts on: tickets picked one by one (kept across pages and filter changes), or "all N
 * matching" a filter, which is sent as a filter target (the server freezes it into a snapshot at start), never as
 * an id list: a selection of 20,000 tickets costs one small request, not 20,000 ids.
 */
import type { BulkTargetsInput, TicketFilter } from "../clients/generated/graphql.ts";

export type Selection =
  | { kind: "ids"; ids: ReadonlySet<string> }
  | { kind: "filter"; filter: TicketFilter; count: number };

export const NOTHING: Selection = { kind: "ids", ids: new Set() };

export function selectedCount(selection: Selection): number {
  return selection.kind === "ids" ? selection.ids.size : selection.count;
}

export function isSelected(selection: Selection, id: string): boolean {
  return selection.kind === "filter" || selection.ids.has(id);
}

/** Ticks or unticks tickets; from "all matching" it starts over with the ids given (nothing else is known). */
export function toggle(selection: Selection, ids: readonly string[], on: boolean): Selection {
  const next = new Set(selection.kind === "ids" ? selection.ids : []);
  for (const id of ids) on ? next.add(id) : next.delete(id);
  return { kind: "ids", ids: next };
}

export function targetsOf(selection: Selection): BulkTargetsInput {
  return selection.kind === "ids" ? { ids: [...selection.ids] } : { filter: selection.filter };
}
