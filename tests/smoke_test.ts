import { expect } from "expect";
import { gql } from "./helpers/graphql.ts";
import { startTestServer } from "./helpers/server.ts";

Deno.test("the viewer query answers over real HTTP", async () => {
  const server = await startTestServer({ tickets: 10 });
  try {
    const result = await gql(server.graphqlUrl, server.tenant.agent.token, "{ viewer { user { role } } }");
    expect(result.data).toEqual({ viewer: { user: { role: "AGENT" } } });
  } finally {
    await server.stop();
  }
});
