/** GraphQL documents and calls of the webhook tests, and the server settings they share. */
import { expectId } from "../../src/graphql/ids.ts";
import { gql } from "./graphql.ts";
import type { TestServer, TestUser } from "./server.ts";

/** 32 bytes, base64: the WEBHOOK_SECRET_KEY of test servers. */
export const TEST_SECRET_KEY = btoa(String.fromCharCode(...new Uint8Array(32).fill(7)));

/** Webhooks on, loopback receivers allowed, a fast deliverer. */
export const WEBHOOK_ENV = {
  WEBHOOK_SECRET_KEY: TEST_SECRET_KEY,
  WEBHOOK_ALLOW_PRIVATE_NETWORKS: "1",
  NOTIFY_POLL_MS: "50",
  WORKERS: "1",
};

export const ALL_EVENTS = [
  "BULK_OPERATION_SCHEDULED",
  "BULK_OPERATION_STARTED",
  "BULK_OPERATION_FINISHED",
  "BULK_OPERATION_CANCELLED",
  "EXPORT_READY",
];

const ENDPOINT_FIELDS = "id url events enabled disabledReason consecutiveFailures description previousSecretExpiresAt";

export const CREATE_ENDPOINT = `mutation($input: CreateWebhookEndpointInput!) {
  createWebhookEndpoint(input: $input) { webhookEndpoint { ${ENDPOINT_FIELDS} } secret userErrors { code field message } }
}`;

export const UPDATE_ENDPOINT = `mutation($input: UpdateWebhookEndpointInput!) {
  updateWebhookEndpoint(input: $input) { webhookEndpoint { ${ENDPOINT_FIELDS} } secret userErrors { code field message } }
}`;

export const ROTATE_SECRET = `mutation($id: ID!) {
  rotateWebhookSecret(input: { id: $id }) { webhookEndpoint { ${ENDPOINT_FIELDS} } secret userErrors { code field message } }
}`;

export const DELETE_ENDPOINT = `mutation($id: ID!) {
  deleteWebhookEndpoint(input: { id: $id }) { deletedWebhookEndpointId userErrors { code field message } }
}`;

export const REDELIVER = `mutation($id: ID!) {
  redeliverWebhook(input: { deliveryId: $id }) {
    delivery { id webhookId status attempts } userErrors { code field message }
  }
}`;

export const ENDPOINTS = `query($first: Int, $after: String) {
  webhookEndpoints(first: $first, after: $after) {
    edges { cursor node { ${ENDPOINT_FIELDS} } } pageInfo { hasNextPage endCursor }
  }
}`;

export const DELIVERIES = `query($id: ID!) {
  node(id: $id) { ... on WebhookEndpoint { ${ENDPOINT_FIELDS} deliveries(first: 100) { edges { node {
    id webhookId event status attempts lastStatusCode lastError nextAttemptAt deliveredAt createdAt } } } } }
}`;

export interface DeliveryView {
  id: string;
  webhookId: string;
  event: string;
  status: string;
  attempts: number;
  lastStatusCode: number | null;
  lastError: string | null;
  nextAttemptAt: string | null;
  deliveredAt: string | null;
}

/** The uuid behind a WebhookEndpoint global id. */
export const endpointKey = (globalId: string) => expectId(globalId, "WebhookEndpoint");

/** Creates an endpoint that must be accepted; returns its id and the secret. */
export async function createAcceptedEndpoint(
  server: TestServer,
  user: TestUser,
  input: { url: string; events: string[]; description?: string },
): Promise<{ id: string; secret: string }> {
  const result = await gql(server.graphqlUrl, user.token, CREATE_ENDPOINT, { input });
  const payload = result.data?.createWebhookEndpoint;
  if (!payload?.webhookEndpoint) throw new Error(`createWebhookEndpoint refused: ${JSON.stringify(result)}`);
  return { id: payload.webhookEndpoint.id, secret: payload.secret };
}

/** The endpoint with its deliveries, newest first. */
export async function endpointDeliveries(server: TestServer, user: TestUser, endpointId: string) {
  const result = await gql(server.graphqlUrl, user.token, DELIVERIES, { id: endpointId });
  if (result.errors) throw new Error(JSON.stringify(result.errors));
  const node = result.data.node;
  return {
    endpoint: node as { enabled: boolean; disabledReason: string | null; consecutiveFailures: number },
    deliveries: (node.deliveries.edges as { node: DeliveryView }[]).map((e) => e.node),
  };
}
