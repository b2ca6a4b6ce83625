/**
 * The typed action of a bulk operation, both ways: the `@oneOf` input clients send
 * (BulkActionInput) and the union the API shows (BulkAction). Each maps to an engine
 * action type and its stored parameters (src/tickets/actions/).
 */
import type { FieldMap } from "@pothos/core";
import { builder } from "../builder.ts";
import { badInput } from "../errors.ts";
import { expectId } from "../ids.ts";
import { TicketCategoryEnum, TicketPriorityEnum, TicketStatusEnum } from "./tickets.ts";
import { UserRef } from "./users.ts";

export const BulkActionTypeEnum = builder.enumType("BulkActionType", {
  description: "ROLLBACK is the action of ROLLBACK operations (rollbackBulkOperation); clients cannot start it. " +
    "IMPORT_TICKETS is the action of imports (startBulkImport).",
  values: [
    "SET_STATUS",
    "SET_PRIORITY",
    "SET_CATEGORY",
    "ASSIGN",
    "ADD_COMMENT",
    "DELETE",
    "RESTORE",
    "IMPORT_TICKETS",
    "ROLLBACK",
  ] as const,
});

const SetStatusActionInput = builder.inputType("SetStatusActionInput", {
  fields: (t) => ({ status: t.field({ type: TicketStatusEnum, required: true }) }),
});
const SetPriorityActionInput = builder.inputType("SetPriorityActionInput", {
  fields: (t) => ({ priority: t.field({ type: TicketPriorityEnum, required: true }) }),
});
const SetCategoryActionInput = builder.inputType("SetCategoryActionInput", {
  fields: (t) => ({ category: t.field({ type: TicketCategoryEnum, required: true }) }),
});
const AssignActionInput = builder.inputType("AssignActionInput", {
  fields: (t) => ({ assigneeId: t.id({ required: false, description: "A user of your tenant; null unassigns." }) }),
});
const AddCommentActionInput = builder.inputType("AddCommentActionInput", {
  fields: (t) => ({ body: t.string({ required: true, description: "1 to 10000 characters." }) }),
});
const SoftDeleteActionInput = builder.inputType("SoftDeleteActionInput", {
  description: "Pass `{}`; the reason is optional and kept in the operation's history.",
  fields: (t) => ({ reason: t.string({ required: false, description: "At most 500 characters." }) }),
});

export const BulkActionInput = builder.inputType("BulkActionInput", {
  description: "Exactly one action (@oneOf).",
  isOneOf: true,
  fields: (t) => ({
    setStatus: t.field({ type: SetStatusActionInput }),
    setPriority: t.field({ type: SetPriorityActionInput }),
    setCategory: t.field({ type: SetCategoryActionInput }),
    assign: t.field({ type: AssignActionInput }),
    addComment: t.field({ type: AddCommentActionInput }),
    delete: t.field({ type: SoftDeleteActionInput, description: "Soft delete (ADMIN only)." }),
    restore: t.field({ type: SoftDeleteActionInput, description: "Undo a soft delete (ADMIN only)." }),
  }),
});

type ActionArg = typeof BulkActionInput.$inferInput;

/** The engine's action type and parameters for a BulkActionInput (throws BAD_USER_INPUT). */
export function toEngineAction(input: ActionArg): { actionType: string; params: Record<string, unknown> } {
  if (input.setStatus) return { actionType: "SET_STATUS", params: { status: input.setStatus.status } };
  if (input.setPriority) return { actionType: "SET_PRIORITY", params: { priority: input.setPriority.priority } };
  if (input.setCategory) return { actionType: "SET_CATEGORY", params: { category: input.setCategory.category } };
  if (input.assign) {
    const id = input.assign.assigneeId;
    return { actionType: "ASSIGN", params: { assigneeId: id ? expectId(id, "User", "action") : null } };
  }
  if (input.addComment) return { actionType: "ADD_COMMENT", params: { body: input.addComment.body } };
  // The reason is checked by the action itself (src/tickets/actions/soft-delete.ts).
  if (input.delete) return { actionType: "DELETE", params: { reason: input.delete.reason ?? undefined } };
  if (input.restore) return { actionType: "RESTORE", params: { reason: input.restore.reason ?? undefined } };
  throw badInput("Give exactly one action.", "action");
}

// ---- output --------------------------------------------------------------------------

type Stored = { type: string; params: Record<string, unknown> };
type Types = typeof builder extends PothosSchemaTypes.SchemaBuilder<infer T> ? T : never;
type FieldBuilder = PothosSchemaTypes.ObjectFieldBuilder<Types, Stored>;

/** One member of the union: `type` plus the action's own typed parameters. */
function variant(name: string, type: string, fields: (t: FieldBuilder) => FieldMap) {
  return builder.objectRef<Stored>(name).implement({
    isTypeOf: (value) => (value as Stored).type === type,
    fields: (t) => ({ type: t.field({ type: BulkActionTypeEnum, resolve: (a) => a.type as never }), ...fields(t) }),
  });
}

const SetStatusAction = variant("SetStatusAction", "SET_STATUS", (t) => ({
  status: t.field({ type: TicketStatusEnum, resolve: (a) => a.params.status as never }),
}));
const SetPriorityAction = variant("SetPriorityAction", "SET_PRIORITY", (t) => ({
  priority: t.field({ type: TicketPriorityEnum, resolve: (a) => a.params.priority as never }),
}));
const SetCategoryAction = variant("SetCategoryAction", "SET_CATEGORY", (t) => ({
  category: t.field({ type: TicketCategoryEnum, resolve: (a) => a.params.category as never }),
}));
const AssignAction = variant("AssignAction", "ASSIGN", (t) => ({
  assignee: t.field({
    type: UserRef,
    nullable: true,
    description: "null: the operation unassigns.",
    resolve: (a, _args, ctx) => a.params.assigneeId ? ctx.loaders.user.load(String(a.params.assigneeId)) : null,
  }),
}));
const AddCommentAction = variant("AddCommentAction", "ADD_COMMENT", (t) => ({
  body: t.string({ resolve: (a) => String(a.params.body) }),
}));
const DeleteAction = variant("DeleteAction", "DELETE", (t) => ({
  reason: t.string({ nullable: true, resolve: (a) => (a.params.reason as string) ?? null }),
}));
const RestoreAction = variant("RestoreAction", "RESTORE", (t) => ({
  reason: t.string({ nullable: true, resolve: (a) => (a.params.reason as string) ?? null }),
}));

const ImportTicketsAction = variant("ImportTicketsAction", "IMPORT_TICKETS", (t) => ({
  format: t.string({ description: "CSV or JSONL (inline rows: JSONL).", resolve: (a) => String(a.params.format) }),
  mode: t.string({ description: "CREATE or UPSERT.", resolve: (a) => String(a.params.mode) }),
}));

const RollbackAction = variant("RollbackAction", "ROLLBACK", (t) => ({
  parentActionType: t.field({
    type: BulkActionTypeEnum,
    description: "The action of the operation being undone.",
    resolve: (a) => a.params.parentActionType as never,
  }),
  force: t.boolean({
    description: "Overwrites tickets changed since the parent (else they end CONFLICT).",
    resolve: (a) => a.params.force === true,
  }),
}));

export const BulkActionUnion = builder.unionType("BulkAction", {
  description: "What the operation does to each target, with its parameters.",
  types: [
    SetStatusAction,
    SetPriorityAction,
    SetCategoryAction,
    AssignAction,
    AddCommentAction,
    DeleteAction,
    RestoreAction,
    ImportTicketsAction,
    RollbackAction,
  ],
});

export const storedAction = (type: string, params: unknown): Stored => ({
  type,
  params: (params ?? {}) as Record<string, unknown>,
});
