/**
 * Command-line parsing: global options, and the targets + action of `start` / `preview`
 * turned into the API's typed input. Values of enums are upper-cased and left to the server
 * to check (its message names the valid values).
 */
import { parseArgs } from "node:util";
import type {
  BulkActionInput,
  BulkItemCode,
  BulkOperationStatus,
  BulkTargetsInput,
  StartBulkOperationInput,
  TicketFilter,
} from "../clients/generated/graphql.ts";
import { errorMessage, hasKey } from "../guards.ts";

/** A mistake in the command line: printed with the usage hint, exit code 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

const OPTIONS = {
  url: { type: "string" },
  json: { type: "boolean" },
  help: { type: "boolean", short: "h" },
  // list
  status: { type: "string" },
  kind: { type: "string" },
  limit: { type: "string" },
  // start / preview targets
  ids: { type: "string", multiple: true },
  filter: { type: "string", multiple: true },
  // actions
  "set-status": { type: "string" },
  "set-priority": { type: "string" },
  "set-category": { type: "string" },
  assign: { type: "string" },
  unassign: { type: "boolean" },
  comment: { type: "string" },
  delete: { type: "boolean" },
  restore: { type: "boolean" },
  reason: { type: "string" },
  // start options
  "scheduled-at": { type: "string" },
  "idempotency-key": { type: "string" },
  description: { type: "string" },
  "preview-token": { type: "string" },
  wait: { type: "boolean" },
  watch: { type: "boolean" },
  // retry
  codes: { type: "string" },
  // rollback
  force: { type: "boolean" },
  // preview
  sample: { type: "string" },
  // export and import
  format: { type: "string" },
  fields: { type: "string" },
  "include-comments": { type: "boolean" },
  gzip: { type: "boolean" },
  out: { type: "string" },
  mode: { type: "string" },
} as const;

export type Flags = ReturnType<typeof parse>["flags"];

export function parse(argv: string[]) {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError(errorMessage(error));
  }
  const [command = "", ...positionals] = parsed.positionals;
  return { command, positionals, flags: parsed.values };
}

const LIST_KEYS = { status: "status", priority: "priority", category: "category" } as const;
type ListKey = typeof LIST_KEYS[keyof typeof LIST_KEYS];
const STRING_KEYS = {
  assignee: "assigneeId",
  assigneeId: "assigneeId",
  title: "titleContains",
  titleContains: "titleContains",
  createdAfter: "createdAfter",
  createdBefore: "createdBefore",
} as const;
const BOOLEAN_KEYS = { unassigned: "unassigned", includeDeleted: "includeDeleted" } as const;

/**
 * `status=OPEN,PENDING,priority=HIGH,unassigned` -> { status: [OPEN, PENDING], priority: [HIGH],
 * unassigned: true }. Comma-separated; a value without `=` adds to the previous list key;
 * a bare boolean key means true. Repeated --filter options merge.
 */
export function parseFilter(texts: string[]): TicketFilter {
  const filter: TicketFilter = {};
  const lists: Partial<Record<ListKey, string[]>> = {};
  let listKey: ListKey | null = null;
  for (const part of texts.flatMap((t) => t.split(",")).map((p) => p.trim()).filter(Boolean)) {
    const eq = part.indexOf("=");
    const key = eq < 0 ? part : part.slice(0, eq).trim();
    const value = eq < 0 ? null : part.slice(eq + 1).trim();
    if (value === null && hasKey(BOOLEAN_KEYS, key)) {
      filter[BOOLEAN_KEYS[key]] = true;
      listKey = null;
    } else if (value === null) {
      if (!listKey) throw new UsageError(`--filter: "${part}" is not key=value`);
      lists[listKey] = [...(lists[listKey] ?? []), part];
    } else if (hasKey(LIST_KEYS, key)) {
      listKey = LIST_KEYS[key];
      lists[listKey] = [...(lists[listKey] ?? []), value];
    } else if (hasKey(STRING_KEYS, key)) {
      filter[STRING_KEYS[key]] = value;
      listKey = null;
    } else if (hasKey(BOOLEAN_KEYS, key)) {
      if (!["true", "false"].includes(value)) throw new UsageError(`--filter: ${key} takes true or false`);
      filter[BOOLEAN_KEYS[key]] = value === "true";
      listKey = null;
    } else {
      const known = [...Object.keys(LIST_KEYS), ...Object.keys(STRING_KEYS), ...Object.keys(BOOLEAN_KEYS)];
      throw new UsageError(`--filter: unknown key "${key}" (known: ${known.join(", ")})`);
    }
  }
  const enums = <T extends string>(values: string[] | undefined) => values?.map((v) => serverEnum<T>(v));
  if (lists.status) filter.status = enums(lists.status);
  if (lists.priority) filter.priority = enums(lists.priority);
  if (lists.category) filter.category = enums(lists.category);
  return filter;
}

export function parseTargets(flags: Flags): BulkTargetsInput {
  const ids = (flags.ids ?? []).flatMap((t) => t.split(/[\s,]+/)).filter(Boolean);
  const hasFilter = (flags.filter ?? []).length > 0;
  if (ids.length > 0 && hasFilter) throw new UsageError("give targets by --ids or by --filter, not both");
  if (ids.length > 0) return { ids };
  if (hasFilter) return { filter: parseFilter(flags.filter!) };
  throw new UsageError("no targets: give --ids ID,ID,... or --filter key=value,...");
}

export function parseAction(flags: Flags): BulkActionInput {
  const actions: BulkActionInput[] = [];
  if (flags["set-status"]) actions.push({ setStatus: { status: serverEnum(flags["set-status"]) } });
  if (flags["set-priority"]) actions.push({ setPriority: { priority: serverEnum(flags["set-priority"]) } });
  if (flags["set-category"]) actions.push({ setCategory: { category: serverEnum(flags["set-category"]) } });
  if (flags.assign) actions.push({ assign: { assigneeId: flags.assign } });
  if (flags.unassign) actions.push({ assign: { assigneeId: null } });
  if (flags.comment !== undefined) actions.push({ addComment: { body: flags.comment } });
  if (flags.delete) actions.push({ delete: flags.reason ? { reason: flags.reason } : {} });
  if (flags.restore) actions.push({ restore: flags.reason ? { reason: flags.reason } : {} });
  if (actions.length !== 1) {
    throw new UsageError(
      `${actions.length === 0 ? "no action" : "more than one action"}: give exactly one of --set-status, ` +
        "--set-priority, --set-category, --assign USER_ID, --unassign, --comment TEXT, --delete, --restore",
    );
  }
  if (flags.reason && !flags.delete && !flags.restore) throw new UsageError("--reason goes with --delete or --restore");
  return actions[0];
}

/**
 * A value of an enum of the API, upper-cased, as the server will check it: the CLI does not keep
 * its own copy of the enums, and the server's refusal names the valid values. The one cast of the
 * CLI: the enum types come from the schema, the text from the command line.
 */
export const serverEnum = <T extends string>(value: string): T => value.trim().toUpperCase() as T;

export function parseStartInput(flags: Flags): StartBulkOperationInput {
  const input: StartBulkOperationInput = { targets: parseTargets(flags), action: parseAction(flags) };
  if (flags["scheduled-at"]) {
    const at = new Date(flags["scheduled-at"]);
    if (Number.isNaN(at.getTime())) throw new UsageError(`--scheduled-at: "${flags["scheduled-at"]}" is not a date`);
    input.scheduledAt = at.toISOString();
  }
  if (flags["idempotency-key"]) input.idempotencyKey = flags["idempotency-key"];
  if (flags.description) input.description = flags.description;
  if (flags["preview-token"]) input.previewToken = flags["preview-token"];
  return input;
}

export function parseStatuses(text: string | undefined): BulkOperationStatus[] | undefined {
  if (!text) return undefined;
  return text.split(",").filter((s) => s.trim() !== "").map((s) => serverEnum(s));
}

/** `NOT_FOUND,internal` -> ["NOT_FOUND", "INTERNAL"] (BulkItemCode values, checked by the server). */
export function parseCodes(text: string | undefined): BulkItemCode[] | undefined {
  if (!text) return undefined;
  return text.split(",").filter((s) => s.trim() !== "").map((s) => serverEnum(s));
}

export function parseLimit(text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > 100) throw new UsageError("--limit takes 1 to 100");
  return n;
}
