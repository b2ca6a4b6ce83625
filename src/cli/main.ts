/**
 * `deno task cli -- <command> ...`: the terminal client of the bulk-operations API.
 * Token from BULK_TOKEN; server from --url or BULK_URL (default http://127.0.0.1:4000).
 * Every request uses the codegen-typed documents of src/clients/operations/.
 *
 * Exit codes: 0 ok; 1 the request failed (GraphQL errors, userErrors, network, auth);
 * 2 bad command line; 3 the operation ended FAILED or CANCELLED (watch, --wait, --watch);
 * 4 it ended COMPLETED_WITH_ERRORS (some items failed).
 */
import {
  type BulkOperationKind,
  CancelOperationDocument,
  GetOperationDocument,
  ListOperationsDocument,
  PreviewOperationDocument,
  RetryOperationDocument,
  RollbackOperationDocument,
  StartExportDocument,
  StartOperationDocument,
} from "../clients/generated/graphql.ts";
import { DownloadError, downloadExport, parseExportInput } from "./export.ts";
import { GraphQLRequestError, graphqlUrls, request } from "../clients/transport.ts";
import {
  type Flags,
  parse,
  parseCodes,
  parseLimit,
  parseStartInput,
  parseStatuses,
  serverEnum,
  UsageError,
} from "./args.ts";
import { details, type Operation, operationsTable, previewText } from "./format.ts";
import { startFileImport, UploadError } from "./import.ts";
import { watchOperation } from "./watch.ts";
import { errorMessage, stringField } from "../guards.ts";

export const EXIT = { ok: 0, error: 1, usage: 2, failed: 3, partial: 4 } as const;

export const USAGE = `Usage: deno task cli -- <command> [options]

Commands:
  list [--status S,S] [--kind STANDARD|RETRY|ROLLBACK] [--limit N]   recent operations, newest first
  show <id>                                 one operation with its counts and error summary
  start <targets> <action> [options]        start an operation
  watch <id>                                live progress bar until it ends, then the error summary
  cancel <id> [--wait|--watch]              cancel (the chunk in flight finishes)
  retry <id> [--codes C,C] [--wait|--watch] a new RETRY operation over the FAILED items (optionally of these codes)
  rollback <id> [--force] [--wait|--watch]  a new ROLLBACK operation restoring the before-images;
                                            tickets changed since are skipped (CONFLICT) unless --force
  preview <targets> <action> [--sample N]   dry run: predicted outcomes, a sample, and a --preview-token
  export <targets> --format F --out FILE    export tickets to FILE (csv, jsonl, json, markdown) once the export
         [--fields F,F] [--include-comments] [--gzip] [--watch]   has finished; --watch shows the progress bar
  import <file> [--format CSV|JSONL] [--mode CREATE|UPSERT] [--wait|--watch]
                                            upload a CSV or JSONL file (streamed) and import its rows as
                                            tickets; UPSERT updates the tickets with the rows' externalId

Targets (one):  --ids ID,ID,...   |   --filter status=OPEN,PENDING,priority=HIGH,category=BILLING,
                assignee=USER_ID,unassigned,title=text,createdAfter=ISO,createdBefore=ISO,includeDeleted
Action (one):   --set-status S | --set-priority P | --set-category C | --assign USER_ID | --unassign |
                --comment TEXT | --delete [--reason R] | --restore [--reason R]
Start options:  --description TEXT  --idempotency-key KEY  --scheduled-at ISO  --preview-token TOKEN
                --wait (until it ends; summary only)  --watch (with the progress bar)

Global: --url URL (or BULK_URL; default http://127.0.0.1:4000), --json (machine-readable output).
Token: the BULK_TOKEN environment variable.
Exit codes: 0 ok, 1 request failed (GraphQL error or userErrors), 2 bad usage,
            3 operation FAILED or CANCELLED, 4 COMPLETED_WITH_ERRORS.`;

export interface Io {
  out(text: string): void;
  err(text: string): void;
  env(name: string): string | undefined;
}

const denoIo: Io = {
  out: (text) => console.log(text),
  err: (text) => console.error(text),
  env: (name) => Deno.env.get(name),
};

interface Context {
  http: string;
  ws: string;
  token: string;
  flags: Flags;
  io: Io;
}

/** The exit code for a finished operation. */
export function exitFor(op: Operation): number {
  if (op.status === "COMPLETED") return EXIT.ok;
  if (op.status === "COMPLETED_WITH_ERRORS") return EXIT.partial;
  if (op.status === "FAILED" || op.status === "CANCELLED") return EXIT.failed;
  return EXIT.ok; // not finished: only reached without --wait
}

function one(positionals: string[], what: string): string {
  if (positionals.length !== 1) throw new UsageError(`expected exactly one ${what}`);
  return positionals[0];
}

interface UserErrorShape {
  code: string;
  field?: readonly string[] | null;
  message: string;
}

/** Prints userErrors (stderr, or the payload as JSON) and returns true when there were any. */
function reportUserErrors(ctx: Context, payload: { userErrors: UserErrorShape[] }): boolean {
  if (payload.userErrors.length === 0) return false;
  if (ctx.flags.json) ctx.io.out(JSON.stringify(payload, null, 2));
  for (const e of payload.userErrors) {
    ctx.io.err(`error ${e.code}${e.field?.length ? ` (${e.field.join(".")})` : ""}: ${e.message}`);
  }
  return true;
}

/** After start/cancel: --watch follows with the bar, --wait silently; both exit by the end state. */
async function follow(ctx: Context, op: Operation): Promise<number> {
  if (!ctx.flags.wait && !ctx.flags.watch) return EXIT.ok;
  const last = await watchOperation(op.id, {
    wsUrl: ctx.ws,
    token: ctx.token,
    json: Boolean(ctx.flags.json),
    progress: Boolean(ctx.flags.watch),
  });
  return exitFor(last);
}

const commands: Record<string, (ctx: Context, positionals: string[]) => Promise<number>> = {
  async list(ctx, positionals) {
    if (positionals.length > 0) throw new UsageError("list takes no arguments");
    const kind = ctx.flags.kind ? [serverEnum<BulkOperationKind>(ctx.flags.kind)] : undefined;
    const data = await request(ctx.http, ctx.token, ListOperationsDocument, {
      first: parseLimit(ctx.flags.limit, 20),
      filter: { status: parseStatuses(ctx.flags.status), kind },
    });
    const ops = data.bulkOperations.edges.map((edge) => edge.node);
    ctx.io.out(ctx.flags.json ? JSON.stringify(ops, null, 2) : ops.length ? operationsTable(ops) : "no operations");
    return EXIT.ok;
  },

  async show(ctx, positionals) {
    const id = one(positionals, "operation id");
    const data = await request(ctx.http, ctx.token, GetOperationDocument, { id });
    if (!data.bulkOperation) {
      ctx.io.err(`error NOT_FOUND: no operation ${id}`);
      return EXIT.error;
    }
    ctx.io.out(ctx.flags.json ? JSON.stringify(data.bulkOperation, null, 2) : details(data.bulkOperation));
    return EXIT.ok;
  },

  async start(ctx, positionals) {
    if (positionals.length > 0) throw new UsageError(`start takes options only (got "${positionals[0]}")`);
    const input = parseStartInput(ctx.flags);
    const data = await request(ctx.http, ctx.token, StartOperationDocument, { input });
    const payload = data.startBulkOperation;
    return await started(
      ctx,
      payload,
      (op) =>
        `${payload.replayed ? "already started" : "started"} ${op.id} ${op.status} ` +
        `(${op.actionType}, ${op.counts.total} targets)`,
    );
  },

  async import(ctx, positionals) {
    const file = one(positionals, "file");
    const payload = await startFileImport(ctx.http, ctx.token, file, ctx.flags);
    return await started(
      ctx,
      payload,
      (op) =>
        `${payload.replayed ? "already started" : "started"} import ${op.id} ${op.status} (${op.counts.total} rows)`,
    );
  },

  async watch(ctx, positionals) {
    const id = one(positionals, "operation id");
    const last = await watchOperation(id, { wsUrl: ctx.ws, token: ctx.token, json: Boolean(ctx.flags.json) });
    return exitFor(last);
  },

  async cancel(ctx, positionals) {
    const id = one(positionals, "operation id");
    const data = await request(ctx.http, ctx.token, CancelOperationDocument, { id });
    const payload = data.cancelBulkOperation;
    if (reportUserErrors(ctx, payload)) return EXIT.error;
    const op = payload.bulkOperation!;
    if (ctx.flags.json) {
      if (!ctx.flags.wait && !ctx.flags.watch) ctx.io.out(JSON.stringify(payload, null, 2));
    } else {
      ctx.io.out(`cancel requested: ${op.id} ${op.status}`);
    }
    return await follow(ctx, op);
  },

  async retry(ctx, positionals) {
    const id = one(positionals, "operation id");
    const data = await request(ctx.http, ctx.token, RetryOperationDocument, {
      input: { id, errorCodes: parseCodes(ctx.flags.codes) },
    });
    return await started(ctx, data.retryFailedItems, lineageLine("retry"));
  },

  async rollback(ctx, positionals) {
    const id = one(positionals, "operation id");
    const data = await request(ctx.http, ctx.token, RollbackOperationDocument, {
      input: { id, force: Boolean(ctx.flags.force) },
    });
    return await started(ctx, data.rollbackBulkOperation, lineageLine("rollback"));
  },

  async export(ctx, positionals) {
    if (positionals.length > 0) throw new UsageError(`export takes options only (got "${positionals[0]}")`);
    const input = parseExportInput(ctx.flags);
    const out = ctx.flags.out!;
    const data = await request(ctx.http, ctx.token, StartExportDocument, { input });
    const payload = data.startBulkExport;
    if (reportUserErrors(ctx, payload)) return EXIT.error;
    const op = payload.bulkOperation!;
    if (!ctx.flags.json) ctx.io.err(`export ${op.id} ${op.status} (${op.counts.total} tickets)`);
    const last = await watchOperation(op.id, {
      wsUrl: ctx.ws,
      token: ctx.token,
      json: Boolean(ctx.flags.json),
      progress: Boolean(ctx.flags.watch),
    });
    if (last.status === "CANCELLED") return EXIT.failed;
    try {
      const bytes = await downloadExport(ctx.http, ctx.token, op.id, out);
      if (!ctx.flags.json) ctx.io.out(`wrote ${bytes} bytes to ${out}`);
    } catch (error) {
      if (!(error instanceof DownloadError)) throw error;
      ctx.io.err(`error ${error.code ?? error.status}: ${error.message}`);
      return EXIT.failed;
    }
    return exitFor(last);
  },

  async preview(ctx, positionals) {
    if (positionals.length > 0) throw new UsageError(`preview takes options only (got "${positionals[0]}")`);
    const input = parseStartInput(ctx.flags);
    const rows = ctx.flags.sample === undefined ? 10 : Number(ctx.flags.sample);
    if (!Number.isInteger(rows) || rows < 0 || rows > 50) throw new UsageError("--sample takes 0 to 50");
    const data = await request(ctx.http, ctx.token, PreviewOperationDocument, { input, sample: rows > 0 });
    const payload = data.previewBulkOperation;
    if (reportUserErrors(ctx, payload)) return EXIT.error;
    ctx.io.out(ctx.flags.json ? JSON.stringify(payload.preview, null, 2) : previewText(payload.preview!, rows));
    return EXIT.ok;
  },
};

/** The line a started retry or rollback prints. */
const lineageLine = (what: string) => (op: Operation) =>
  `${what} started ${op.id} ${op.status} (${op.kind} of ${op.parent?.id}, ${op.counts.total} targets)`;

/** A start's payload: the new operation (`line` describes it), then --wait/--watch follow it. */
async function started(
  ctx: Context,
  payload: { bulkOperation?: Operation | null; userErrors: UserErrorShape[] },
  line: (op: Operation) => string,
): Promise<number> {
  if (reportUserErrors(ctx, payload)) return EXIT.error;
  const op = payload.bulkOperation!;
  if (ctx.flags.json) {
    if (!ctx.flags.wait && !ctx.flags.watch) ctx.io.out(JSON.stringify(payload, null, 2));
  } else {
    ctx.io.out(line(op));
  }
  return await follow(ctx, op);
}

/** Runs one command line; returns the exit code (never exits itself). */
export async function main(argv: string[], io: Io = denoIo): Promise<number> {
  // `deno task cli -- list` hands the script the "--" too.
  if (argv[0] === "--") argv = argv.slice(1);
  let parsed;
  try {
    parsed = parse(argv);
  } catch (error) {
    io.err(`${errorMessage(error)}\n\n${USAGE}`);
    return EXIT.usage;
  }
  const { command, positionals, flags } = parsed;
  if (flags.help || command === "help" || command === "") {
    (command === "" && !flags.help ? io.err : io.out)(USAGE);
    return command === "" && !flags.help ? EXIT.usage : EXIT.ok;
  }
  const run = commands[command];
  if (!run) {
    io.err(`unknown command "${command}"\n\n${USAGE}`);
    return EXIT.usage;
  }
  const token = io.env("BULK_TOKEN");
  if (!token) {
    io.err("BULK_TOKEN is not set: export BULK_TOKEN=<API token> (`deno task token` mints one)");
    return EXIT.usage;
  }
  let urls;
  try {
    urls = graphqlUrls(flags.url ?? io.env("BULK_URL") ?? "http://127.0.0.1:4000");
  } catch {
    io.err(`not a URL: ${flags.url ?? io.env("BULK_URL")}`);
    return EXIT.usage;
  }
  try {
    return await run({ http: urls.http, ws: urls.ws, token, flags, io }, positionals);
  } catch (error) {
    if (error instanceof UsageError) {
      io.err(`${error.message}\n\n${USAGE}`);
      return EXIT.usage;
    }
    if (error instanceof GraphQLRequestError) {
      if (flags.json) io.out(JSON.stringify({ errors: error.errors }, null, 2));
      for (const e of error.errors) {
        const code = e.extensions?.code;
        io.err(`error${typeof code === "string" ? ` ${code}` : ""}: ${e.message}`);
      }
      return EXIT.error;
    }
    if (error instanceof UploadError) {
      io.err(`error: ${error.message}`);
      return EXIT.error;
    }
    if (error instanceof TypeError) {
      // fetch: connection refused, DNS, TLS...
      const cause = stringField(error.cause, "message");
      io.err(`error: cannot reach ${urls.http}: ${cause ?? error.message}`);
      return EXIT.error;
    }
    io.err(`error: ${errorMessage(error)}`);
    return EXIT.error;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
