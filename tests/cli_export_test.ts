/**
 * `deno task cli -- export` as a real subprocess (with the task's own permissions) against
 * the test server: the file it writes equals the HTTP download byte for byte, gzipped or
 * not; a refused export writes no file.
 */
import { expect } from "expect";
import { downloadBytes, idsNewestFirst } from "./helpers/exports.ts";
import { startTestServer, type TestServer } from "./helpers/server.ts";
import { runSubprocess, taskFlags } from "./helpers/subprocess.ts";

const permissions = await taskFlags("cli");
const MAIN = new URL("../src/cli/main.ts", import.meta.url).pathname;

function runCli(server: TestServer, ...args: string[]) {
  const env = { NO_COLOR: "1", BULK_TOKEN: server.tenant.agent.token, BULK_URL: server.url };
  return runSubprocess(
    Deno.execPath(),
    ["run", ...permissions, MAIN, ...args],
    { env, clearEnv: true },
    120_000,
    `cli ${args.join(" ")}`,
  );
}

/** The export's global id from the CLI's first stderr line ("export <id> RUNNING (...)"). */
const filesIn = async (dir: string) => (await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name).sort();

const exportIdIn = (stderr: string) => /^export (\S+) /m.exec(stderr)![1];

Deno.test("cli export: --out gets exactly the downloaded file (CSV, gzipped JSON), --watch draws progress", async () => {
  const server = await startTestServer({
    tickets: 40,
    env: { WORKERS: "1", BULK_CHUNK_SIZE: "7", BULK_POLL_MS: "50" },
  });
  const dir = await Deno.makeTempDir({ prefix: "cli-export-" });
  try {
    const open = await server.db.selectFrom("tickets").select("id").where("tenant_id", "=", server.tenant.id)
      .where("status", "in", ["OPEN", "PENDING"]).execute();
    const csvOut = `${dir}/open.csv`;
    const csv = await runCli(
      server,
      "export",
      "--filter",
      "status=OPEN,PENDING",
      "--format",
      "csv",
      "--out",
      csvOut,
      "--watch",
    );
    expect({ code: csv.code, stderr: csv.stderr }).toMatchObject({
      code: 0,
      stderr: expect.stringContaining(`100.0%  ${open.length}/${open.length}`),
    });
    const written = await Deno.readFile(csvOut);
    expect(csv.stdout).toContain(`wrote ${written.length} bytes to ${csvOut}`);
    expect(written).toEqual(await downloadBytes(server, server.tenant.agent.token, exportIdIn(csv.stderr)));
    expect(new TextDecoder().decode(written).trimEnd().split("\r\n").length).toBe(open.length + 1);

    const jsonOut = `${dir}/all.json.gz`;
    const json = await runCli(
      server,
      "export",
      "--filter",
      "includeDeleted",
      "--format",
      "json",
      "--gzip",
      "--include-comments",
      "--out",
      jsonOut,
    );
    expect(json.code).toBe(0);
    expect(await Deno.readFile(jsonOut)).toEqual(
      await downloadBytes(server, server.tenant.agent.token, exportIdIn(json.stderr)),
    );
    expect(await filesIn(dir)).toEqual(["all.json.gz", "open.csv"]);

    // Refused: unknown fields (exit 1, the server's typed message), no file and no .part left.
    const ids = await idsNewestFirst(server.db, server.tenant.id);
    const bad = await runCli(
      server,
      "export",
      "--ids",
      btoa(`Ticket:${ids[0]}`),
      "--format",
      "csv",
      "--fields",
      "title,secret",
      "--out",
      `${dir}/bad.csv`,
    );
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('error INVALID_PARAMS (input.fields): Unknown fields: "secret".');
    const usage = await runCli(server, "export", "--filter", "status=OPEN", "--out", `${dir}/x.csv`);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain("export needs --format");
    expect(await filesIn(dir)).toEqual(["all.json.gz", "open.csv"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
    await server.stop();
  }
});
