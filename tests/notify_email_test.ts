/**
 * E-mail notifications through a real SMTP server (npm smtp-server on loopback): the finish
 * e-mail with its summary, error counts and download links; the "scheduled" e-mail; none
 * unless asked; and EMAIL_NOT_CONFIGURED (nothing written) when SMTP_URL is unset.
 */
import { expect } from "expect";
import { dbIdOf, startOk, startOp, ticketGid } from "./helpers/api.ts";
import { finished, operation, ticketIds, waitFor } from "./helpers/bulk.ts";
import { startSmtpReceiver, waitUntil } from "./helpers/receivers.ts";
import { startTestServer } from "./helpers/server.ts";
import { Mailer } from "../src/notify/mailer.ts";
import { gql } from "./helpers/graphql.ts";

/** The text of a quoted-printable MIME body (soft line breaks and =XX escapes undone). */
const unquote = (raw: string) =>
  raw.replace(/=\r?\n/g, "").replace(/=([0-9A-F]{2})/g, (_, hex) => String.fromCharCode(parseInt(hex, 16)));

Deno.test("e-mail: notify.email sends the finish e-mail with counts, error codes and download links, and the scheduled one", async () => {
  await using smtp = await startSmtpReceiver();
  await using server = await startTestServer({
    tickets: 4,
    env: { SMTP_URL: smtp.url, WORKERS: "1", NOTIFY_POLL_MS: "50", PUBLIC_URL: "https://bulk.example" },
  });
  const ids = (await ticketIds(server.db, server.tenant.id)).map(ticketGid);
  const op = await startOk(server, server.tenant.admin, {
    targets: { ids: [...ids, ticketGid("999999999")] },
    action: { setStatus: { status: "PENDING" } },
    notify: { email: true },
  });
  const scheduled = await startOk(server, server.tenant.admin, {
    targets: { ids },
    action: { setStatus: { status: "PENDING" } },
    scheduledAt: new Date(Date.now() + 3_600_000).toISOString(),
    notify: { email: true },
  });
  const quiet = await startOk(server, server.tenant.agent, {
    targets: { ids },
    action: { setStatus: { status: "OPEN" } },
  });
  await waitUntil(() => smtp.mails.length >= 2, "two e-mails", 60_000);
  const texts = smtp.mails.map((m) => ({ to: m.to, text: unquote(m.raw) }));
  const finishMail = texts.find((m) => m.text.includes(op.dbId))!;
  const row = await operation(server.db, op.dbId);
  expect(finishMail.to).toEqual([server.tenant.admin.email]);
  expect(finishMail.text).toContain(`Subject: Bulk operation SET_STATUS finished (${row.status})`);
  expect(finishMail.text).toContain(
    `Items: 5 total, ${row.succeeded} succeeded, ${row.failed} failed, ${row.skipped} skipped, 0 cancelled`,
  );
  expect(finishMail.text).toContain("NOT_FOUND: 1");
  expect(finishMail.text).toContain(`https://bulk.example/bulk-operations/${op.dbId}/items.csv`);
  expect(finishMail.text).toContain(`https://bulk.example/bulk-operations/${op.dbId}/items.jsonl`);
  expect(finishMail.text).toContain(op.id);

  const scheduledMail = texts.find((m) => m.text.includes(scheduled.dbId))!;
  expect(scheduledMail.text).toContain("Subject: Bulk operation SET_STATUS was scheduled (SCHEDULED)");
  expect(scheduledMail.text).toContain("Scheduled for: ");

  // The operation that did not ask for e-mail (and has no webhook endpoint to tell) adds no outbox rows at all.
  await waitFor(server.db, quiet.dbId, finished);
  const quietEvents = await server.db.selectFrom("notification_events").select("id")
    .where("operation_id", "=", quiet.dbId).execute();
  expect(quietEvents).toEqual([]);
  const emails = await waitUntil(async () => {
    const rows = await server.db.selectFrom("notification_deliveries").selectAll().where("channel", "=", "EMAIL")
      .execute();
    return rows.every((e) => e.status === "DELIVERED") && rows;
  }, "both e-mail deliveries recorded DELIVERED");
  expect(emails.length).toBe(2);
  expect(smtp.mails.length).toBe(2);
});

Deno.test("e-mail: a temporary SMTP failure is retried from the outbox like a webhook", async () => {
  await using smtp = await startSmtpReceiver({ rejectFirst: 2 });
  await using server = await startTestServer({
    tickets: 2,
    env: { SMTP_URL: smtp.url, WORKERS: "1", NOTIFY_POLL_MS: "50", NOTIFY_RETRY_BASE_MS: "100" },
  });
  const ids = (await ticketIds(server.db, server.tenant.id)).map(ticketGid);
  await startOk(server, server.tenant.admin, {
    targets: { ids },
    action: { setStatus: { status: "PENDING" } },
    notify: { email: true },
  });
  const delivery = await waitUntil(
    () =>
      server.db.selectFrom("notification_deliveries").selectAll().where("channel", "=", "EMAIL")
        .where("status", "=", "DELIVERED").executeTakeFirst(),
    "the e-mail delivered after two refusals",
    60_000,
  );
  expect(smtp.rejected).toBe(2);
  expect(smtp.mails.length).toBe(1);
  expect(delivery.attempts).toBe(3);
  expect(delivery.last_error).toBeNull();
});

Deno.test("e-mail: without SMTP_URL, notify.email is refused with EMAIL_NOT_CONFIGURED and nothing is written", async () => {
  await using server = await startTestServer({ tickets: 2, env: { WORKERS: "0" } });
  const ids = (await ticketIds(server.db, server.tenant.id)).map(ticketGid);
  const payload = await startOp(server, server.tenant.admin, {
    targets: { ids },
    action: { setStatus: { status: "PENDING" } },
    notify: { email: true },
  });
  expect(payload.bulkOperation).toBeNull();
  expect(payload.userErrors).toEqual([{
    code: "EMAIL_NOT_CONFIGURED",
    field: ["input", "notify", "email"],
    message: "E-mail notifications are off on this server (SMTP_URL is not set).",
  }]);
  expect(await server.db.selectFrom("bulk_operations").select("id").execute()).toEqual([]);
  // notify.email false is simply no e-mail.
  const ok = await startOp(server, server.tenant.admin, {
    targets: { ids },
    action: { setStatus: { status: "PENDING" } },
    notify: { email: false },
  });
  expect(ok.userErrors).toEqual([]);
});

/**
 * A raw SMTP server on loopback that answers every command, but each only after `delayMs`:
 * never idle long enough for a per-phase timeout, slower than the send's deadline in total.
 */
function startTricklingSmtp(delayMs: number) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns: Deno.Conn[] = [];
  let sawData = false;
  const serve = async (conn: Deno.Conn) => {
    const encoder = new TextEncoder();
    const say = async (line: string) => {
      await new Promise((resolve) => setTimeout(resolve, delayMs));
      await conn.write(encoder.encode(`${line}\r\n`));
    };
    try {
      await say("220 slow.example ESMTP");
      const decoder = new TextDecoder();
      let inData = false;
      for await (const bytes of conn.readable) {
        for (const line of decoder.decode(bytes).split("\r\n").filter(Boolean)) {
          if (inData) {
            if (line === ".") (inData = false, await say("250 queued"));
            continue;
          }
          const verb = line.slice(0, 4).toUpperCase();
          if (verb === "DATA") (inData = sawData = true, await say("354 go on"));
          else if (verb === "QUIT") await say("221 bye");
          else await say(verb === "EHLO" ? "250 slow.example" : "250 ok");
        }
      }
    } catch {
      // The client destroyed the socket: what the test wants.
    }
  };
  (async () => {
    for await (const conn of listener) conns.push(conn), serve(conn);
  })().catch(() => {});
  return {
    url: `smtp://127.0.0.1:${(listener.addr as Deno.NetAddr).port}`,
    get sawData() {
      return sawData;
    },
    [Symbol.dispose]() {
      listener.close();
      conns.forEach((conn) => {
        try {
          conn.close();
        } catch { /* already closed */ }
      });
    },
  };
}

Deno.test("e-mail: a send as a whole is bounded by the timeout, even against a server that answers slowly but steadily", async () => {
  using smtp = startTricklingSmtp(300);
  const timeoutMs = 1000;
  const mailer = new Mailer(smtp.url, "bulk-ops <noreply@localhost>", timeoutMs);
  const error = await mailer.send({ to: "a@example.com", subject: "s", text: "t", messageId: "m1" })
    .then(() => null, (error: Error) => error);
  // Greeting, EHLO, MAIL, RCPT, DATA, the message: 6 answers of 300 ms each, 1.8 s > 1 s.
  expect(error?.message).toBe(`no answer within ${timeoutMs} ms (WEBHOOK_TIMEOUT_MS)`);
  // Cut before the message went out (old code: sent it, 1.8 s after it began, long past its deadline).
  expect(smtp.sawData).toBe(false);
});

Deno.test("e-mail: retryFailedItems and rollbackBulkOperation take notify.email like a start", async () => {
  await using smtp = await startSmtpReceiver();
  await using server = await startTestServer({
    tickets: 2,
    env: { SMTP_URL: smtp.url, WORKERS: "1", NOTIFY_POLL_MS: "50" },
  });
  const ids = (await ticketIds(server.db, server.tenant.id)).map(ticketGid);
  const parent = await startOk(server, server.tenant.admin, {
    targets: { ids: [...ids, ticketGid("999999999")] }, // one FAILED item (NOT_FOUND) to retry
    action: { setStatus: { status: "PENDING" } },
  });
  await waitFor(server.db, parent.dbId, finished, 60_000);
  const children: string[] = [];
  for (
    const [mutation, field] of [
      ["mutation($input: RetryFailedItemsInput!) { retryFailedItems(input: $input) {", "retryFailedItems"],
      [
        "mutation($input: RollbackBulkOperationInput!) { rollbackBulkOperation(input: $input) {",
        "rollbackBulkOperation",
      ],
    ]
  ) {
    const result = await gql(
      server.graphqlUrl,
      server.tenant.admin.token,
      `${mutation} bulkOperation { id } userErrors { code message } } }`,
      { input: { id: parent.id, notify: { email: true } } },
    );
    expect(result.errors).toBeUndefined();
    expect(result.data[field].userErrors).toEqual([]);
    const child = dbIdOf(result.data[field].bulkOperation.id);
    await waitFor(server.db, child, finished, 60_000);
    children.push(child);
  }
  await waitUntil(() => smtp.mails.length === 2, "the retry's and the rollback's e-mails", 60_000);
  const emailed = await server.db.selectFrom("notification_deliveries as d")
    .innerJoin("notification_events as e", "e.id", "d.event_id")
    .select(["e.operation_id", "d.recipient"]).where("d.channel", "=", "EMAIL").execute();
  expect(emailed.map((row) => row.operation_id).sort()).toEqual([...children].sort());
  expect(smtp.mails.every((mail) => mail.to.length === 1)).toBe(true);
});
