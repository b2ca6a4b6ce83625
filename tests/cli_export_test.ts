/**
 * `deno task cli -- export` as a real subprocess (with the task's own permissions) against
 * the test server: the file it writes equals the HTTP download byte for byte, gzipped or
 * not; a refused export writes no file.
 */
import { expect } from "expect";
import { DownloadError, downloadExport } from "../src/cli/export.ts";
import { downloadBytes, idsNewestFirst, startExport, uuidOf, waitExported } from "./helpers/exports.ts";
import { startTestServer, type TestServer } from "./helpers/server.ts";
import { runSubprocess, taskFlags } from "./helpers/subprocess.ts";
import { tempDir } from "./helpers/temp_dir.ts";

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
  await using server = await startTestServer({
    tickets: 40,
    env: { WORKERS: "1", BULK_CHUNK_SIZE: "7", BULK_EXPORT_CHUNK_SIZE: "7", BULK_POLL_MS: "50" },
  });
  await using dir = await tempDir("cli-export-");
  const open = await server.db.selectFrom("tickets").select("id").where("tenant_id", "=", server.tenant.id)
    .where("status", "in", ["OPEN", "PENDING"]).execute();
  const csvOut = `${dir.path}/open.csv`;
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

  const jsonOut = `${dir.path}/all.json.gz`;
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
  expect(await filesIn(dir.path)).toEqual(["all.json.gz", "open.csv"]);

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
    `${dir.path}/bad.csv`,
  );
  expect(bad.code).toBe(1);
  expect(bad.stderr).toContain('error INVALID_PARAMS (input.fields): Unknown fields: "secret".');
  const usage = await runCli(server, "export", "--filter", "status=OPEN", "--out", `${dir.path}/x.csv`);
  expect(usage.code).toBe(2);
  expect(usage.stderr).toContain("export needs --format");
  expect(await filesIn(dir.path)).toEqual(["all.json.gz", "open.csv"]);
});

Deno.test("cli export download: a transfer broken midway resumes with Range + If-Range; a refusal leaves no file", async () => {
  await using server = await startTestServer({
    tickets: 60,
    env: { WORKERS: "1", BULK_CHUNK_SIZE: "7", BULK_EXPORT_CHUNK_SIZE: "7", BULK_POLL_MS: "50" },
  });
  await using dir = await tempDir("cli-resume-");
  // A real HTTP server in front of the service that breaks off the first download after 1,000 bytes.
  const seen: { range: string | null; ifRange: string | null }[] = [];
  await using front = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (request) => {
    const url = new URL(request.url);
    const upstream = await fetch(`${server.url}${url.pathname}`, { headers: request.headers });
    seen.push({ range: request.headers.get("range"), ifRange: request.headers.get("if-range") });
    if (seen.length > 1 || upstream.status !== 200) return upstream;
    const reader = upstream.body!.getReader();
    let sent = 0;
    const broken = new ReadableStream<Uint8Array>({
      async pull(controller) {
        const { value } = await reader.read();
        const piece = value!.subarray(0, Math.min(value!.length, 1000 - sent));
        sent += piece.length;
        controller.enqueue(piece);
        if (sent >= 1000) {
          await reader.cancel();
          controller.error(new Error("connection lost"));
        }
      },
    });
    return new Response(broken, { status: 200, headers: upstream.headers });
  });
  const frontGraphql = `http://127.0.0.1:${front.addr.port}/graphql`;
  const token = server.tenant.agent.token;
  const id = await startExport(server, token, { targets: { filter: {} }, format: "JSONL", includeComments: true });
  await waitExported(server, id);
  const whole = await downloadBytes(server, token, id);
  expect(whole.length).toBeGreaterThan(2000);

  const out = `${dir.path}/tickets.jsonl`;
  expect(await downloadExport(frontGraphql, token, id, out)).toBe(whole.length);
  expect(await Deno.readFile(out)).toEqual(whole);
  expect(seen.length).toBe(2);
  expect(seen[0]).toEqual({ range: null, ifRange: null });
  expect(seen[1].range).toMatch(/^bytes=\d+-$/);
  expect(Number(/\d+/.exec(seen[1].range!)![0])).toBeGreaterThan(0);
  expect(seen[1].ifRange).toBe(`"${uuidOf(id)}-${whole.length}"`);

  // A refused download (the export is still running): a typed error, and neither the file nor a .part.
  const running = await startExport(server, token, {
    targets: { filter: {} },
    format: "CSV",
    scheduledAt: new Date(Date.now() + 3_600_000).toISOString(),
  });
  const refused = await downloadExport(frontGraphql, token, running, `${dir.path}/running.csv`).catch((e) => e);
  expect(refused).toBeInstanceOf(DownloadError);
  expect({ status: refused.status, code: refused.code }).toEqual({ status: 409, code: "EXPORT_NOT_READY" });
  expect(await filesIn(dir.path)).toEqual(["tickets.jsonl"]);
});
