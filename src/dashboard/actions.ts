/**
 * The bulk actions the console offers on a ticket selection, each with its form. `build` turns the form into the
 * action input of startBulkOperation (the generated BulkActionInput type: a field the schema drops or renames
 * breaks `deno check` here).
 */
import type { BulkActionInput } from "../clients/generated/graphql.ts";
import { el, field, humanize, select } from "./dom.ts";
import { TICKET_CATEGORIES, TICKET_PRIORITIES, TICKET_STATUSES } from "./enums.ts";
import type { Permissions, User } from "./session.ts";

export interface ActionForm {
  element: HTMLElement;
  /** The action input, or a message saying what is missing. */
  build(): BulkActionInput | string;
  /** "set status to resolved": for the confirmation. */
  summary(): string;
}

export interface ActionDefinition {
  key: keyof BulkActionInput;
  label: string;
  /** Which permission it needs (delete and restore: ADMIN). */
  needs: keyof Permissions;
  /** Ask for the number of tickets before starting. */
  destructive: boolean;
  form(users: readonly User[]): ActionForm;
}

function choice<T extends string>(
  label: string,
  values: readonly T[],
  build: (value: T) => BulkActionInput,
  verb: string,
) {
  return (): ActionForm => {
    const control = select(values, { attrs: { name: "value" } });
    const picked = () => values.find((value) => value === control.value) ?? values[0];
    return {
      element: field(label, control),
      build: () => build(picked()),
      summary: () => `${verb} ${humanize(picked())}`,
    };
  };
}

function reasonForm(verb: string, build: (reason: string | null) => BulkActionInput) {
  return (): ActionForm => {
    const reason = el("input", { attrs: { name: "reason", maxlength: 500, placeholder: "optional" } });
    return {
      element: field("Reason", reason),
      build: () => build(reason.value.trim() || null),
      summary: () => verb,
    };
  };
}

export const ACTIONS: readonly ActionDefinition[] = [
  {
    key: "setStatus",
    label: "Set status",
    needs: "run",
    destructive: false,
    form: choice("New status", TICKET_STATUSES, (status) => ({ setStatus: { status } }), "set status to"),
  },
  {
    key: "setPriority",
    label: "Set priority",
    needs: "run",
    destructive: false,
    form: choice(
      "New priority",
      TICKET_PRIORITIES,
      (priority) => ({ setPriority: { priority } }),
      "set priority to",
    ),
  },
  {
    key: "setCategory",
    label: "Set category",
    needs: "run",
    destructive: false,
    form: choice(
      "New category",
      TICKET_CATEGORIES,
      (category) => ({ setCategory: { category } }),
      "set category to",
    ),
  },
  {
    key: "assign",
    label: "Assign",
    needs: "run",
    destructive: false,
    form: (users) => {
      // Viewers cannot be assigned tickets (the server refuses them too).
      const people = users.filter((u) => u.role !== "VIEWER");
      const control = select([
        { value: "", label: "Nobody (unassign)" },
        ...people.map((u) => ({
          value: u.id,
          label: `${u.name} (${u.email})`,
        })),
      ], { attrs: { name: "assignee" } });
      return {
        element: field("Assignee", control),
        build: () => ({ assign: { assigneeId: control.value || null } }),
        summary: () => control.value ? `assign to ${control.selectedOptions[0].textContent}` : "unassign",
      };
    },
  },
  {
    key: "addComment",
    label: "Comment",
    needs: "run",
    destructive: false,
    form: () => {
      const body = el("textarea", { attrs: { name: "body", rows: 4, maxlength: 10_000, required: true } });
      return {
        element: field("Comment", body),
        build: () => (body.value.trim() ? { addComment: { body: body.value } } : "Write the comment first."),
        summary: () => "add a comment to",
      };
    },
  },
  {
    key: "delete",
    label: "Delete",
    needs: "admin",
    destructive: true,
    form: reasonForm("delete", (reason) => ({ delete: { reason } })),
  },
  {
    key: "restore",
    label: "Restore",
    needs: "admin",
    destructive: false,
    form: reasonForm("restore", (reason) => ({ restore: { reason } })),
  },
];
