/**
 * `deno task seed` and `deno task token` against the database DATABASE_URL names (here the
 * test server's own database), run as subprocesses exactly as a user runs them.
 */
import { expect } from "expect";
import { gql } from "./helpers/graphql.ts";
import { startTestServer } from "./helpers/server.ts";
import { REPO_ROOT, runTask } from "./helpers/task_process.ts";
import { parseSeedArgs } from "../src/tasks/seed.ts";
import { parseTokenArgs, UsageError } from "../src/tasks/token.ts";

const task = (args: string[], env: Record<string, string>) => runTask(REPO_ROOT, args, env);

Deno.test("deno task seed and deno task token with DATABASE_URL", async (t) => {
  await using server = await startTestServer();
  const env = { DATABASE_URL: server.databaseUrl };
  const demoCount = async () => {
    const row = await server.db.selectFrom("tickets").innerJoin("users", "users.tenant_id", "tickets.tenant_id")
      .where("users.email", "=", "admin@demo.test").select((eb) => eb.fn.countAll<string>().as("n"))
      .executeTakeFirstOrThrow();
    return Number(row.n);
  };
  await t.step("seed: creates the demo tenant when missing, then adds N tickets set-based", async () => {
    const first = await task(["seed", "--", "--tickets", "5000"], env);
    // stderr holds only deno's own "Task seed ..." line: no warning, no error, no progress
    // line (5,000 tickets is one slice).
    expect({ code: first.code, stderr: first.stderr.split("\n").filter((l) => l && !/^Task seed /.test(l)) })
      .toEqual({ code: 0, stderr: [] });
    expect(first.stderr).toMatch(/^Task seed /);
    expect(first.stdout).toContain("created the demo tenant with 3 users and 1,000 tickets");
    expect(first.stdout).toMatch(/added 5,000 tickets in [\d.]+ s .*the demo tenant now has 6,000 tickets/);
    expect(await demoCount()).toBe(6000);

    const second = await task(["seed", "--", "--tickets", "1_000"], env);
    expect(second.code).toBe(0);
    expect(second.stdout).not.toContain("created the demo tenant");
    expect(second.stdout).toContain("now has 7,000 tickets");
    expect(await demoCount()).toBe(7000);

    // The seeded tickets are varied: every status, priority and category, some unassigned.
    const spread = await server.db.selectFrom("tickets").select((eb) => [
      eb.fn.count<string>("status").distinct().as("statuses"),
      eb.fn.count<string>("priority").distinct().as("priorities"),
      eb.fn.count<string>("category").distinct().as("categories"),
      eb.fn.count<string>("assignee_id").distinct().as("assignees"),
    ]).executeTakeFirstOrThrow();
    expect(spread).toEqual({ statuses: "4", priorities: "4", categories: "5", assignees: "2" });
    // The other tenants were not touched.
    const others = await server.db.selectFrom("tickets").select((eb) => eb.fn.countAll<string>().as("n"))
      .where("tenant_id", "in", [server.tenant.id, server.otherTenant.id]).executeTakeFirstOrThrow();
    expect(others.n).toBe("0");
  });

  await t.step("seed: bad arguments exit 2 with the usage", async () => {
    for (
      const args of [[], ["--", "--tickets"], ["--", "--tickets", "many"], ["--", "--tickets", "0"], [
        "--",
        "--rows",
        "5",
      ]]
    ) {
      const result = await task(["seed", ...args], env);
      expect({ args, code: result.code }).toEqual({ args, code: 2 });
      expect(result.stderr).toContain("Usage: deno task seed -- --tickets <N>");
    }
    expect(await demoCount()).toBe(7000);
  });

  await t.step("token: the token alone on the last line, usable at once", async () => {
    const minted = await task(["token", "--", "--user", "AGENT@demo.test"], env);
    expect(minted.code).toBe(0);
    const token = minted.stdout.trimEnd().split("\n").at(-1)!;
    expect(token).toMatch(/^bo_[A-Za-z0-9_-]{43}$/);
    const result = await gql(server.graphqlUrl, token, "{ viewer { user { email role } tenant { name } } }");
    expect(result.data).toEqual({
      viewer: { user: { email: "agent@demo.test", role: "AGENT" }, tenant: { name: "Demo Help Desk" } },
    });
    const label = await server.db.selectFrom("api_tokens").select("label").orderBy("created_at", "desc")
      .executeTakeFirstOrThrow();
    expect(label.label).toBe("cli");
  });
});

Deno.test("task arguments are parsed strictly", () => {
  const mint = { kind: "mint", expiresInMs: null, scope: "FULL" };
  expect(parseTokenArgs(["--", "--user", "a@b.c"])).toEqual({ ...mint, email: "a@b.c", label: "cli" });
  expect(parseTokenArgs(["--user", "a@b.c", "--label", "ci"])).toEqual({ ...mint, email: "a@b.c", label: "ci" });
  expect(parseTokenArgs(["--user", "a@b.c", "--expires", "30d", "--read-only"])).toEqual({
    ...mint,
    email: "a@b.c",
    label: "cli",
    expiresInMs: 30 * 86_400_000,
    scope: "READ_ONLY",
  });
  expect(parseTokenArgs(["--user", "a@b.c", "--expires", "90m"])).toEqual(
    expect.objectContaining({ expiresInMs: 90 * 60_000 }),
  );
  expect(parseTokenArgs(["--revoke", "bo_x"])).toEqual({ kind: "revoke", token: "bo_x" });
  expect(parseTokenArgs(["--revoke-user", "a@b.c"])).toEqual({ kind: "revoke-user", email: "a@b.c" });
  for (
    const bad of [
      [],
      ["--user"],
      ["--user", ""],
      ["--usr", "a@b.c"],
      ["a@b.c"],
      ["--user", "a", "--revoke", "b"],
      ["--user", "a", "--expires", "30"],
      ["--user", "a", "--expires", "0d"],
      ["--user", "a", "--expires", "-1d"],
      ["--user", "a", "--expires", "99999d"],
      ["--revoke", "bo_x", "--read-only"],
      ["--revoke-user", "a", "--user", "b"],
    ]
  ) {
    expect(() => parseTokenArgs(bad)).toThrow(UsageError);
  }
  expect(parseSeedArgs(["--", "--tickets", "1000000"])).toBe(1_000_000);
  expect(parseSeedArgs(["--tickets", "1_000_000"])).toBe(1_000_000);
  expect(parseSeedArgs(["--tickets", "1e6"])).toBe(1_000_000);
  for (const bad of [[], ["--tickets", "-5"], ["--tickets", "1.5"], ["--tickets", "2e7"], ["--tickets", "x"]]) {
    expect(typeof parseSeedArgs(bad)).toBe("string");
  }
});
