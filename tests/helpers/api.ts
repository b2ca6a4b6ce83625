/**
 * Helpers for the bulk API tests (tests/api_bulk_*_test.ts): the GraphQL documents they
 * send, a subscription recorder over a real graphql-ws client, an SSE reader over fetch,
 * row locks that hold a chunk in flight (a deterministic "pause" for live tests), and
 * counts of what a start writes (to prove that a refused start wrote nothing).
 */
import { sql } from "kysely";
import pg from "pg";
import type { Client } from "graphql-ws";
import type { Db } from "../../src/db/database.ts";
import { encodeId } from "../../src/graphql/ids.ts";
import { gql } from "./graphql.ts";
import { connectClient } from "./pg_client.ts";
import type { TestServer, TestUser } from "./server.ts";

export const ticketGid = (id: string | number) => encodeId("Ticket", id);
export const operationGid = (id: string) => encodeId("BulkOperation", id);
export const userGid = (id: string) => encodeId("User", id);

export const OPERATION_FIELDS = `
  id status kind actionType percent
  counts { total processed succeeded failed skipped cancelled pending }
  errorSummary { code count }`;

export const START = `mutation Start($input: StartBulkOperationInput!) {
  startBulkOperation(input: $input) {
    bulkOperation { ${OPERATION_FIELDS} idempotencyKey description targets { kind requestedIds } }
    replayed
    userErrors { code field message }
  }
}`;

export const CANCEL = `mutation Cancel($id: ID!) {
  cancelBulkOperation(input: { id: $id }) {
    bulkOperation { ${OPERATION_FIELDS} cancelRequestedAt }
    replayed
    userErrors { code field message }
  }
}`;

/** Retry or roll back an operation (by global id): the child operation's id, or why not. */
export const RETRY = `mutation Retry($id: ID!) { retryFailedItems(input: { id: $id }) {
  bulkOperation { id } userErrors { code field message } } }`;
export const ROLLBACK = `mutation Rollback($id: ID!, $force: Boolean) {
  rollbackBulkOperation(input: { id: $id, force: $force }) { bulkOperation { id kind } userErrors { code field message } } }`;

export const PROGRESS = `subscription Progress($id: ID!) { bulkOperationProgress(id: $id) { ${OPERATION_FIELDS} } }`;

export interface Counts {
  total: number;
  processed: number;
  succeeded: number;
  failed: number;
  skipped: number;
  cancelled: number;
  pending: number;
}

export interface OperationView {
  id: string;
  status: string;
  kind: string;
  actionType: string;
  percent: number;
  counts: Counts;
  errorSummary: { code: string; count: number }[];
}

/** startBulkOperation over HTTP; returns the payload (throws on request-level errors). */
export async function startOp(server: TestServer, user: TestUser, input: Record<string, unknown>) {
  const result = await gql(server.graphqlUrl, user.token, START, { input });
  if (result.errors) throw new Error(`startBulkOperation failed: ${JSON.stringify(result.errors)}`);
  return result.data.startBulkOperation as {
    bulkOperation:
      | OperationView & {
        idempotencyKey: string | null;
        description: string | null;
        targets: { kind: string; requestedIds: number | null };
      }
      | null;
    replayed: boolean;
    userErrors: { code: string; field: string[] | null; message: string }[];
  };
}

/** Starts an operation that must be accepted; returns it with its database id. */
export async function startOk(server: TestServer, user: TestUser, input: Record<string, unknown>) {
  const payload = await startOp(server, user, input);
  if (!payload.bulkOperation || payload.userErrors.length > 0) {
    throw new Error(`start refused: ${JSON.stringify(payload.userErrors)}`);
  }
  return { ...payload.bulkOperation, dbId: dbIdOf(payload.bulkOperation.id) };
}

/** The uuid behind a BulkOperation global id. */
export function dbIdOf(globalId: string): string {
  const decoded = atob(globalId.replaceAll("-", "+").replaceAll("_", "/"));
  const match = /^BulkOperation:(.+)$/.exec(decoded);
  if (!match) throw new Error(`not a BulkOperation id: ${globalId}`);
  return match[1];
}

export interface Recorded<T> {
  events: { at: number; data: T }[];
  errors: unknown[];
  completed: boolean;
  /** Resolves when the subscription completes or errors. */
  done: Promise<void>;
  /** Resolves with the first recorded event matching `predicate` (past or future). */
  waitFor(predicate: (data: T) => boolean, timeoutMs?: number): Promise<T>;
  unsubscribe(): void;
}

/**
 * Subscribes and records every message: data events with their receive time, errors
 * (GraphQL errors in a `next` message as well as protocol errors) and completion.
 * Unlike collect() it does not reject on errors: tests assert on them.
 */
export function record<T>(
  client: Client,
  query: string,
  variables: Record<string, unknown> = {},
): Recorded<T> {
  let resolveDone!: () => void;
  const done = new Promise<void>((resolve) => (resolveDone = resolve));
  const waiters: { predicate: (data: T) => boolean; resolve: (data: T) => void }[] = [];
  const recorded: Recorded<T> = {
    events: [],
    errors: [],
    completed: false,
    done,
    waitFor(predicate, timeoutMs = 30_000) {
      const seen = recorded.events.find((e) => predicate(e.data));
      if (seen) return Promise.resolve(seen.data);
      return new Promise<T>((resolve, reject) => {
        const timer = setTimeout(() => {
          reject(
            new Error(
              `no matching event in ${timeoutMs} ms; ${recorded.events.length} events, last ` +
                `${JSON.stringify(recorded.events.at(-1)?.data)}, errors ${JSON.stringify(recorded.errors)}`,
            ),
          );
        }, timeoutMs);
        waiters.push({
          predicate,
          resolve: (data) => {
            clearTimeout(timer);
            resolve(data);
          },
        });
        done.then(() => {
          if (!recorded.events.some((e) => predicate(e.data))) {
            clearTimeout(timer);
            reject(new Error(`subscription ended without a matching event: ${JSON.stringify(recorded)}`));
          }
        });
      });
    },
    unsubscribe: () => {},
  };
  recorded.unsubscribe = client.subscribe<T>({ query, variables }, {
    next: (value) => {
      if (value.errors) recorded.errors.push(...value.errors);
      if (value.data !== undefined && value.data !== null) {
        const data = value.data as T;
        recorded.events.push({ at: performance.now(), data });
        for (const waiter of [...waiters]) {
          if (waiter.predicate(data)) {
            waiters.splice(waiters.indexOf(waiter), 1);
            waiter.resolve(data);
          }
        }
      }
    },
    error: (error) => {
      recorded.errors.push(error);
      resolveDone();
    },
    complete: () => {
      recorded.completed = true;
      resolveDone();
    },
  });
  return recorded;
}

export { within } from "./wait.ts";

/** Polls `probe` every 50 ms until it returns a value (not undefined); fails after `ms` naming `what`. */
export async function until<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, ms = 30_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

export interface Gate {
  release(): Promise<void>;
  /** `await using gate = await holdTicketLocks(...)` releases it when the scope ends. */
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * Holds FOR UPDATE row locks on tickets in an open transaction on its own connection: a
 * chunk that contains one of them blocks (the engine locks its chunk's tickets FOR UPDATE)
 * until release(). With one worker this pauses an operation at a known position.
 */
export function holdTicketLocks(databaseUrl: string, ids: string[]): Promise<Gate> {
  return holdRowLocks(databaseUrl, "tickets", ids);
}

/**
 * holdTicketLocks for the rows of any table keyed by `id` (bigint or uuid: the parameter takes the
 * column's type), e.g. the notes test domain's, the queue's, users; `NO KEY UPDATE` is the lock an
 * UPDATE of non-key columns takes (admission's on the user's row).
 */
export async function holdRowLocks(
  databaseUrl: string,
  table: string,
  ids: string[],
  strength: "UPDATE" | "NO KEY UPDATE" = "UPDATE",
): Promise<Gate> {
  const client = await connectClient({ connectionString: databaseUrl, application_name: "test row lock" });
  await client.query("BEGIN");
  await client.query(`SELECT id FROM ${pg.escapeIdentifier(table)} WHERE id = ANY($1) FOR ${strength}`, [
    ids,
  ]);
  let released = false;
  const release = async () => {
    if (released) return;
    released = true;
    await using _ended = client; // once the COMMIT is sent, whether or not it succeeded
    await client.query("COMMIT");
  };
  return { release, [Symbol.asyncDispose]: release };
}

/** Backends of the test database waiting for a lock the gate (holdTicketLocks) holds. */
export async function gateWaiters(db: Db): Promise<number> {
  const { rows } = await sql<{ n: number }>`
    SELECT count(*)::int AS n FROM pg_stat_activity AS w
    WHERE w.datname = current_database() AND w.wait_event_type = 'Lock'
      AND EXISTS (SELECT 1 FROM pg_stat_activity AS g
                  WHERE g.application_name = 'test row lock' AND g.pid = ANY(pg_blocking_pids(w.pid)))`.execute(db);
  return rows[0].n;
}

/** Rows that a start writes, to show that a refused start wrote nothing. */
export async function writtenRows(db: Db) {
  const { rows: [row] } = await sql<{ operations: number; items: number; jobs: number; events: number }>`
    SELECT (SELECT count(*) FROM bulk_operations)::int AS operations,
           (SELECT count(*) FROM bulk_operation_items)::int AS items,
           (SELECT count(*) FROM bulk_jobs)::int AS jobs,
           (SELECT count(*) FROM bulk_operation_events)::int AS events`.execute(db);
  return row;
}

/** The operation's counters as the ledger has them (bulk_operation_ledger grouped by outcome). */
export async function ledgerCounts(db: Db, operationId: string): Promise<Omit<Counts, "processed" | "pending">> {
  const { rows } = await sql<{ outcome: string; n: number }>`
    SELECT outcome, count(*)::int AS n FROM bulk_operation_ledger WHERE operation_id = ${operationId}
    GROUP BY outcome`.execute(db);
  const by = Object.fromEntries(rows.map((r) => [r.outcome, r.n]));
  return {
    total: rows.reduce((sum, r) => sum + r.n, 0),
    succeeded: by.SUCCEEDED ?? 0,
    failed: by.FAILED ?? 0,
    skipped: by.SKIPPED ?? 0,
    cancelled: by.CANCELLED ?? 0,
  };
}

export interface SseEvent {
  event: string;
  data: string;
}

/**
 * A GraphQL subscription over Yoga's SSE transport (a plain fetch with Accept:
 * text/event-stream); yields each server-sent event as it arrives. The whole stream has a
 * deadline (`timeoutMs`, default 30 s): past it the request is aborted and the loop over
 * the events fails saying which subscription did not end.
 */
export async function* sse(
  url: string,
  token: string | null,
  query: string,
  variables: Record<string, unknown>,
  signal?: AbortSignal,
  timeoutMs = 30_000,
): AsyncGenerator<SseEvent> {
  const deadline = AbortSignal.timeout(timeoutMs);
  try {
    yield* sseEvents(url, token, query, variables, signal ? AbortSignal.any([signal, deadline]) : deadline);
  } catch (error) {
    if (!deadline.aborted) throw error;
    throw new Error(`SSE subscription did not end within ${timeoutMs} ms: ${query.slice(0, 80)}`, { cause: error });
  }
}

async function* sseEvents(
  url: string,
  token: string | null,
  query: string,
  variables: Record<string, unknown>,
  signal: AbortSignal,
): AsyncGenerator<SseEvent> {
  const response = await fetch(url, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      accept: "text/event-stream",
      ...(token !== null && { authorization: `Bearer ${token}` }),
    },
    body: JSON.stringify({ query, variables }),
    signal,
  });
  if (!response.body) throw new Error(`no SSE body (status ${response.status})`);
  if (!response.headers.get("content-type")?.startsWith("text/event-stream")) {
    throw new Error(`not an event stream: ${response.status} ${await response.text()}`);
  }
  const decoder = new TextDecoder();
  let buffer = "";
  for await (const bytes of response.body) {
    buffer += decoder.decode(bytes, { stream: true });
    let end: number;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let event = "message";
      const data: string[] = [];
      for (const line of block.split("\n")) {
        if (line.startsWith("event:")) event = line.slice(6).trim();
        else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
      }
      if (data.length > 0 || event !== "message") yield { event, data: data.join("\n") };
    }
  }
}
