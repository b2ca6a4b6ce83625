/**
 * Client input that used to reach SQL (and come back as a masked internal error, logged at ERROR with a
 * stack, so anyone could flood the log): cursors and ids are checked against their SQL types first and
 * answered BAD_USER_INPUT, and nothing is logged at ERROR.
 */
import { expect } from "expect";
import { buildSchema } from "graphql";
import { assertNodeTypes, encodeCursor, encodeId } from "../src/graphql/ids.ts";
import { gql } from "./helpers/graphql.ts";
import { startTestServer } from "./helpers/server.ts";
import { START } from "./helpers/api.ts";

const b64 = (text: string) => btoa(text).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");

/** Runs `body` while recording what the (in-process) server writes with console.error. */
async function errorLines(body: () => Promise<void>): Promise<string[]> {
  const lines: string[] = [];
  const original = console.error;
  console.error = (...args: unknown[]) => lines.push(args.map(String).join(" "));
  try {
    await body();
  } finally {
    console.error = original;
  }
  return lines;
}

Deno.test("bad cursors and ids: BAD_USER_INPUT, no ERROR log line", async (t) => {
  await using server = await startTestServer({ tickets: 3 });
  const token = server.tenant.agent.token;
  const started = await gql(server.graphqlUrl, token, START, {
    input: { targets: { filter: {} }, action: { setPriority: { priority: "HIGH" } } },
  });
  const operationId = started.data.startBulkOperation.bulkOperation.id;
  const refused = async (query: string, variables: Record<string, unknown>) => {
    const result = await gql(server.graphqlUrl, token, query, variables);
    expect({ variables, codes: result.errors?.map((e) => e.extensions?.code) }).toEqual({
      variables,
      codes: ["BAD_USER_INPUT"],
    });
  };
  await t.step("items cursor [2147483647]", async () => {
    const logged = await errorLines(() =>
      refused(
        `query($id: ID!, $after: String) { bulkOperation(id: $id) { items(first: 100, after: $after) {
          edges { cursor } } } }`,
        { id: operationId, after: encodeCursor([2147483647]) },
      )
    );
    expect(logged).toEqual([]);
  });

  await t.step("operations cursors with year 0 and February 30th", async () => {
    const logged = await errorLines(async () => {
      for (const day of ["0000-01-01T00:00:00.000000Z", "2024-02-30T00:00:00.000000Z", "2024-01-01T24:00:00.000000Z"]) {
        await refused(`query($after: String) { bulkOperations(first: 5, after: $after) { edges { cursor } } }`, {
          after: encodeCursor([day, "00000000-0000-0000-0000-000000000000"]),
        });
        await refused(
          `query($f: BulkOperationFilter) { bulkOperations(first: 5, filter: $f) { edges { cursor } } }`,
          {
            f: { createdAfter: day },
          },
        );
      }
    });
    expect(logged).toEqual([]);
  });

  await t.step("node() of a type that is not a Node, or of a key of the wrong type", async () => {
    const logged = await errorLines(async () => {
      for (
        const id of [
          encodeId("Tenant", server.tenant.id),
          encodeId("BulkPreview", "00000000-0000-0000-0000-000000000000"),
          encodeId("BulkOperationEvent", "1"),
          b64("NoSuchType:1"),
          b64("BulkOperation:42"),
          b64("User:not-a-uuid"),
        ]
      ) {
        await refused(`query($id: ID!) { node(id: $id) { id } }`, { id });
      }
    });
    expect(logged).toEqual([]);
  });
});

Deno.test("the Node types ids.ts decodes are checked against the schema at start-up", () => {
  const nodes = (types: string[]) =>
    buildSchema(`interface Node { id: ID! } ${types.map((t) => `type ${t} implements Node { id: ID! }`).join(" ")}
      type Query { node: Node }`);
  const served = ["Ticket", "Comment", "User", "BulkOperation", "WebhookEndpoint", "WebhookDelivery"];
  expect(() => assertNodeTypes(nodes(served))).not.toThrow();
  expect(() => assertNodeTypes(nodes([...served, "Webhook"]))).toThrow("the schema's Node types are");
  expect(() => assertNodeTypes(nodes(served.slice(0, 3)))).toThrow("NODE_TYPES lists");
});
