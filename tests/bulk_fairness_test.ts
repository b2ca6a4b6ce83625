/**
 * Fairness: jobs are claimed by chunk index first, so a 10-item operation started while a
 * 60,000-item one runs gets the next free worker and finishes long before the big one.
 * The first test pins the rule itself, claim by claim (first-come-first-served fails it);
 * the second shows its effect with real workers.
 */
import { expect } from "expect";
import { claimJob } from "../src/bulk/queue/claim.ts";
import { runChunk } from "../src/bulk/run-chunk.ts";
import { ticketsDomain } from "../src/tickets/actions/domain.ts";
import { finished, operation, start, ticketIds, waitFor } from "./helpers/bulk.ts";
import {
  countersOf,
  expectConsistent,
  expectedOutcomes,
  expectLedger,
  setsField,
  tally,
  ticketStates,
} from "./helpers/bulk_checks.ts";
import { startTestServer } from "./helpers/server.ts";

Deno.test("the small operation's chunk is claimed before the running large operation's next chunk", async () => {
  await using server = await startTestServer({ tickets: 60, env: { WORKERS: "0", BULK_CHUNK_SIZE: "10" } });
  const { db, tenant } = server;
  const ids = await ticketIds(db, tenant.id);
  // Claims and chunks are driven here, one at a time, exactly as a worker does them.
  const claimAndRun = async () => {
    const job = await claimJob(db, "fairness-test", 30_000);
    if (job) await runChunk(db, ticketsDomain, job);
    return job ? { operation: job.operation_id, chunk: job.chunk_index } : null;
  };
  const large = await start(server, tenant.agent, {
    actionType: "SET_PRIORITY",
    params: { priority: "URGENT" },
    targets: { kind: "ids", ids: ids.slice(0, 50) },
  });
  expect(await claimAndRun()).toEqual({ operation: large.id, chunk: 0 });
  expect(await claimAndRun()).toEqual({ operation: large.id, chunk: 1 });
  // Started while the large one has 3 chunks left, whose jobs are older than its own.
  const small = await start(server, tenant.admin, {
    actionType: "SET_CATEGORY",
    params: { category: "ACCOUNT" },
    targets: { kind: "ids", ids: ids.slice(50) },
  });
  expect(await claimAndRun()).toEqual({ operation: small.id, chunk: 0 });
  expect(finished(await operation(db, small.id))).toBe(true);
  expect(finished(await operation(db, large.id))).toBe(false);
  expect([await claimAndRun(), await claimAndRun(), await claimAndRun(), await claimAndRun()]).toEqual([
    { operation: large.id, chunk: 2 },
    { operation: large.id, chunk: 3 },
    { operation: large.id, chunk: 4 },
    null,
  ]);
  await expectConsistent(db, small.id);
  await expectConsistent(db, large.id);
});

Deno.test("a 10-item operation started during a 60,000-item one finishes first", async () => {
  await using server = await startTestServer({ tickets: 60_010, env: { WORKERS: "2", BULK_CHUNK_SIZE: "500" } });
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
    setsField("priority", "URGENT"),
  );
  const expectedSmall = expectedOutcomes(
    smallTargets,
    before,
    setsField("category", "ACCOUNT"),
  );
  expect(countersOf(doneLarge)).toEqual(tally(expectedLarge).outcomes);
  expect(countersOf(doneSmall)).toEqual(tally(expectedSmall).outcomes);
  await expectLedger(db, large.id, expectedLarge);
  await expectLedger(db, small.id, expectedSmall);
});
