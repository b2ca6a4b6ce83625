/**
 * Fairness: jobs are claimed by chunk index first, so a 10-item operation started while a
 * 60,000-item one runs gets the next free worker and finishes long before the big one.
 */
import { expect } from "expect";
import { finished, operation, start, ticketIds, waitFor } from "./helpers/bulk.ts";
import {
  countersOf,
  expectConsistent,
  expectedOutcomes,
  expectLedger,
  failed,
  noChange,
  ok,
  tally,
  ticketStates,
} from "./helpers/bulk_checks.ts";
import { startTestServer } from "./helpers/server.ts";

Deno.test("a 10-item operation started during a 60,000-item one finishes first", async () => {
  const server = await startTestServer({ tickets: 60_010, env: { WORKERS: "2", BULK_CHUNK_SIZE: "500" } });
  try {
    const { db, tenant } = server;
    const ids = await ticketIds(db, tenant.id);
    const before = await ticketStates(db, tenant.id);
    const largeTargets = ids.slice(0, 60_000);
    const smallTargets = ids.slice(60_000);
    const largeStarted = performance.now();
    const large = await start(server, tenant.agent, {
      actionType: "SET_PRIORITY",
      params: { priority: "URGENT" },
      targets: { kind: "ids", ids: largeTargets },
    });
    await waitFor(db, large.id, (o) => o.succeeded + o.failed + o.skipped >= 1000 || finished(o));

    const smallStarted = performance.now();
    const small = await start(server, tenant.admin, {
      actionType: "SET_CATEGORY",
      params: { category: "ACCOUNT" },
      targets: { kind: "ids", ids: smallTargets },
    });
    const smallDone = await waitFor(db, small.id, finished);
    const latencyMs = performance.now() - smallStarted;
    const largeThen = await operation(db, large.id);
    console.log(
      `10-item operation finished in ${Math.round(latencyMs)} ms ` +
        `(database: ${smallDone.finished_at!.getTime() - smallDone.created_at.getTime()} ms) while the large one ` +
        `had ${largeThen.succeeded + largeThen.failed + largeThen.skipped} of ${largeThen.total} items done`,
    );
    expect(finished(largeThen)).toBe(false);

    await waitFor(db, large.id, finished, 120_000);
    console.log(`60,000-item operation: ${Math.round(performance.now() - largeStarted)} ms`);
    const doneLarge = await expectConsistent(db, large.id);
    const doneSmall = await expectConsistent(db, small.id);
    expect(doneSmall.finished_at!.getTime()).toBeLessThan(doneLarge.finished_at!.getTime());

    const expectedLarge = expectedOutcomes(
      largeTargets,
      before,
      (t) => t.status === "CLOSED" ? failed("FORBIDDEN") : t.priority === "URGENT" ? noChange : ok,
    );
    const expectedSmall = expectedOutcomes(
      smallTargets,
      before,
      (t) => t.status === "CLOSED" ? failed("FORBIDDEN") : t.category === "ACCOUNT" ? noChange : ok,
    );
    expect(countersOf(doneLarge)).toEqual(tally(expectedLarge).outcomes);
    expect(countersOf(doneSmall)).toEqual(tally(expectedSmall).outcomes);
    await expectLedger(db, large.id, expectedLarge);
    await expectLedger(db, small.id, expectedSmall);
  } finally {
    await server.stop();
  }
});
