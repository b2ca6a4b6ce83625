/**
 * The tests/operations/*.graphql documents, sent as the TypedDocumentNodes codegen made of
 * them (src/clients/generated/): over HTTP with gql() and over graphql-ws. Every result below
 * is typed by its document, so a schema change that breaks a document breaks `deno check`.
 */
import { expect } from "expect";
import {
  BulkOperationDocument,
  BulkOperationProgressDocument,
  type BulkOperationProgressSubscription,
  BulkOperationsDocument,
  CancelBulkOperationDocument,
  StartBulkOperationDocument,
  TicketsDocument,
  ViewerDocument,
} from "../src/clients/generated/graphql.ts";
import { subscribe } from "../src/clients/transport.ts";
import { gql, wsClient } from "./helpers/graphql.ts";
import { startTestServer } from "./helpers/server.ts";
import { within } from "./helpers/wait.ts";
import { dbIdOf } from "./helpers/api.ts";
import { sql } from "kysely";

type Progress = BulkOperationProgressSubscription["bulkOperationProgress"];

Deno.test("typed documents: viewer, tickets, start, progress over graphql-ws, counts, history, cancel", async (t) => {
  await using server = await startTestServer({ tickets: 30, env: { WORKERS: "1", BULK_CHUNK_SIZE: "10" } });
  const token = server.tenant.agent.token;
  await using ws = wsClient(server.wsUrl, token);
  await t.step("viewer", async () => {
    const { data } = await gql(server.graphqlUrl, token, ViewerDocument, {});
    expect(data?.viewer.user.role).toBe("AGENT");
    expect(data?.viewer.user.email).toBe(server.tenant.agent.email);
    // @ts-expect-error `title` is not a field the Viewer document selects: the result is typed.
    expect(data?.viewer.user.title).toBeUndefined();
  });

  let ids: string[] = [];
  await t.step("tickets page", async () => {
    const first = await gql(server.graphqlUrl, token, TicketsDocument, { first: 20 });
    expect(first.errors).toBeUndefined();
    const page = first.data!.tickets;
    expect(page.edges.length).toBe(20);
    expect(page.pageInfo.hasNextPage).toBe(true);
    const rest = await gql(server.graphqlUrl, token, TicketsDocument, { first: 20, after: page.pageInfo.endCursor });
    expect(rest.data!.tickets.edges.length).toBe(10);
    ids = [...page.edges, ...rest.data!.tickets.edges].map((edge) => edge.node.id);
    expect(new Set(ids).size).toBe(30);
  });

  let operationId = "";
  await t.step("startBulkOperation", async () => {
    const { data, errors } = await gql(server.graphqlUrl, token, StartBulkOperationDocument, {
      input: {
        targets: { ids },
        action: { setCategory: { category: "BILLING" } },
        description: "typed client test",
        idempotencyKey: "typed-client-1",
      },
    });
    expect(errors).toBeUndefined();
    const payload = data!.startBulkOperation;
    expect(payload.userErrors).toEqual([]);
    expect(payload.replayed).toBe(false);
    expect(payload.bulkOperation?.actionType).toBe("SET_CATEGORY");
    expect(payload.bulkOperation?.kind).toBe("STANDARD");
    expect(payload.bulkOperation?.targets).toEqual({ kind: "IDS", requestedIds: 30 });
    expect(payload.bulkOperation?.counts.total).toBe(30);
    operationId = payload.bulkOperation!.id;
  });

  await t.step("bulkOperationProgress over graphql-ws, to the terminal state", async () => {
    const events = await within(
      new Promise<Progress[]>((resolve, reject) => {
        const seen: Progress[] = [];
        subscribe(ws, BulkOperationProgressDocument, { id: operationId }, {
          next: (data) => seen.push(data.bulkOperationProgress),
          error: reject,
          complete: () => resolve(seen),
        });
      }),
      30_000,
      "the typed bulkOperationProgress subscription completes",
    );
    // How many events arrive depends on when the subscription starts (the worker may be done by
    // then); the last one is exact: the ledger's outcomes, read from the database.
    const { rows } = await sql<{ outcome: string; code: string | null; n: number }>`
        SELECT outcome, error_code AS code, count(*)::int AS n FROM bulk_operation_items
        WHERE operation_id = ${dbIdOf(operationId)} GROUP BY outcome, error_code`.execute(server.db);
    const count = (outcome: string) => rows.filter((r) => r.outcome === outcome).reduce((n, r) => n + r.n, 0);
    const [succeeded, failed, skipped] = [count("SUCCEEDED"), count("FAILED"), count("SKIPPED")];
    expect(events.at(-1)).toEqual({
      id: operationId,
      status: failed === 0 ? "COMPLETED" : "COMPLETED_WITH_ERRORS",
      percent: 100,
      counts: { total: 30, processed: 30, succeeded, failed, skipped, cancelled: 0, pending: 0 },
      errorSummary: expect.any(Array),
    });
    const byCode = new Map<string, number>();
    for (const r of rows) if (r.code !== null) byCode.set(r.code, (byCode.get(r.code) ?? 0) + r.n);
    const sortedSummary = [...events.at(-1)!.errorSummary].sort((a, b) => a.code.localeCompare(b.code));
    expect(sortedSummary).toEqual(
      [...byCode].map(([code, count]) => ({ code, count })).sort((a, b) => a.code.localeCompare(b.code)),
    );
    const percents = events.map((e) => e.percent);
    expect(percents).toEqual([...percents].sort((a, b) => a - b));
  });

  await t.step("bulkOperation with counts and error summary", async () => {
    const { data } = await gql(server.graphqlUrl, token, BulkOperationDocument, { id: operationId });
    const op = data!.bulkOperation!;
    const { counts } = op;
    expect(counts.total).toBe(30);
    expect(counts.succeeded + counts.failed + counts.skipped + counts.cancelled + counts.pending).toBe(30);
    expect(op.errorSummary.reduce((n, e) => n + e.count, 0)).toBe(counts.failed + counts.skipped);
    expect(op.finishedAt).not.toBeNull();
    expect(op.action.__typename).toBe("SetCategoryAction");
  });

  let scheduledId = "";
  await t.step("cancelBulkOperation of a scheduled operation", async () => {
    const started = await gql(server.graphqlUrl, token, StartBulkOperationDocument, {
      input: {
        targets: { filter: { status: ["OPEN"] } },
        action: { setPriority: { priority: "HIGH" } },
        scheduledAt: new Date(Date.now() + 3_600_000).toISOString(),
      },
    });
    expect(started.data!.startBulkOperation.bulkOperation?.status).toBe("SCHEDULED");
    scheduledId = started.data!.startBulkOperation.bulkOperation!.id;
    const { data } = await gql(server.graphqlUrl, token, CancelBulkOperationDocument, { id: scheduledId });
    expect(data!.cancelBulkOperation.userErrors).toEqual([]);
    expect(data!.cancelBulkOperation.bulkOperation?.status).toBe("CANCELLED");
    expect(data!.cancelBulkOperation.bulkOperation?.cancelRequestedAt).not.toBeNull();

    const again = await gql(server.graphqlUrl, token, CancelBulkOperationDocument, { id: scheduledId });
    expect(again.data!.cancelBulkOperation.userErrors.map((e) => e.code)).toEqual(["ALREADY_FINISHED"]);
  });

  await t.step("bulkOperations history, newest first", async () => {
    const { data } = await gql(server.graphqlUrl, token, BulkOperationsDocument, { first: 10 });
    const nodes = data!.bulkOperations.edges.map((edge) => edge.node);
    expect(nodes.map((n) => n.id)).toEqual([scheduledId, operationId]);
    expect(nodes[1].createdBy?.email).toBe(server.tenant.agent.email);
    const filtered = await gql(server.graphqlUrl, token, BulkOperationsDocument, {
      first: 10,
      filter: { status: ["CANCELLED"] },
    });
    expect(filtered.data!.bulkOperations.edges.map((edge) => edge.node.id)).toEqual([scheduledId]);
  });
});
