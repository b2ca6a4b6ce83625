/**
 * https deliveries keep TLS with the address pinned: a worker process (trusting the test CA
 * through NODE_EXTRA_CA_CERTS) delivers to https://localhost:<port> over TLS, connected to the
 * address it checked, with the certificate verified against the hostname; the same receiver
 * reached as https://127.0.0.1 (a name the certificate does not carry) is refused.
 * tests/fixtures/localhost-*.pem: a self-signed test certificate for `localhost`, valid 100 years.
 */
import { expect } from "expect";
import { Webhook } from "standardwebhooks";
import { startOk, ticketGid } from "./helpers/api.ts";
import { ticketIds } from "./helpers/bulk.ts";
import { startReceiver, waitUntil } from "./helpers/receivers.ts";
import { startTestServer } from "./helpers/server.ts";
import { createAcceptedEndpoint, endpointDeliveries, TEST_SECRET_KEY } from "./helpers/webhooks.ts";
import { spawnWorker } from "./helpers/worker_process.ts";

const fixture = (name: string) => new URL(`./fixtures/${name}`, import.meta.url);

Deno.test("webhooks: https delivery over TLS to the pinned address, certificate checked against the hostname", async () => {
  const env = { WEBHOOK_SECRET_KEY: TEST_SECRET_KEY, WEBHOOK_ALLOW_PRIVATE_NETWORKS: "1", NOTIFY_POLL_MS: "50" };
  await using server = await startTestServer({ tickets: 3, env: { ...env, WORKERS: "0" } });
  const tls = {
    cert: await Deno.readTextFile(fixture("localhost-cert.pem")),
    key: await Deno.readTextFile(fixture("localhost-key.pem")),
  };
  await using receiver = startReceiver(() => new Response("ok"), tls);
  const events = ["BULK_OPERATION_FINISHED"];
  const byName = await createAcceptedEndpoint(server, server.tenant.admin, { url: receiver.url, events });
  const byIp = await createAcceptedEndpoint(server, server.tenant.admin, {
    url: receiver.url.replace("localhost", "127.0.0.1"),
    events,
  });
  await using _worker = await spawnWorker({
    ...env,
    DATABASE_URL: server.databaseUrl,
    WORKERS: "1",
    NODE_EXTRA_CA_CERTS: fixture("localhost-cert.pem").pathname,
  });
  const ids = (await ticketIds(server.db, server.tenant.id)).map(ticketGid);
  await startOk(server, server.tenant.admin, { targets: { ids }, action: { setStatus: { status: "PENDING" } } });

  const [request] = await receiver.waitFor((r) => r.length >= 1, "the https delivery", 60_000);
  expect(new Webhook(byName.secret).verify(request.body, request.headers)).toMatchObject({
    type: "bulk_operation.finished",
  });
  expect(request.headers.host).toBe(new URL(receiver.url).host);
  await waitUntil(async () => {
    const { deliveries } = await endpointDeliveries(server, server.tenant.admin, byName.id);
    return deliveries[0]?.status === "DELIVERED";
  }, "the https delivery recorded DELIVERED");

  const refused = await waitUntil(
    async () => {
      const { deliveries } = await endpointDeliveries(server, server.tenant.admin, byIp.id);
      return deliveries[0]?.lastError ? deliveries[0] : null;
    },
    "the attempt to the name the certificate lacks",
    60_000,
  );
  console.log(`https://127.0.0.1 refused: ${refused.lastError}`);
  expect(refused.lastError).toMatch(/certificate|altnames|IP/i);
  expect(refused.lastStatusCode).toBeNull();
  expect(receiver.requests.length).toBe(1); // the refused TLS handshake sent no request
});
