/**
 * `deno task token -- --user <email> [--label <text>] [--expires 30d] [--read-only]`: mints an API
 * token for a user and prints it alone on the last line of stdout (everything else goes to
 * stderr), so `TOKEN=$(deno task token -- --user agent@demo.test | tail -n1)` works.
 * `deno task token -- --revoke <token>` revokes a token; `--revoke-user <email>` every token of
 * a user. Open sockets and SSE streams of a revoked token are closed by the API's token sweep
 * (TOKEN_SWEEP_MS, docs/security.md).
 *
 * Works against the database every entry point uses (src/db/connect.ts): DATABASE_URL when set,
 * otherwise the embedded PostgreSQL in DATA_DIR, whether or not `deno task start` is running.
 * Exit codes: 0 done, 1 unknown user or token (or no usable database), 2 usage or configuration error.
 */
import { withTaskDatabase } from "./task-database.ts";
import { parseArgs } from "node:util";
import { mintTokenForEmail, revokeToken, revokeUserTokens } from "../auth/tokens.ts";
import type { TokenScope } from "../db/tables.ts";
import { hasKey } from "../guards.ts";

const USAGE = `Usage:
  deno task token -- --user <email> [--label <text>] [--expires <n>m|h|d] [--read-only]
                                          mint a token (printed alone on the last line)
  deno task token -- --revoke <token>     revoke a token
  deno task token -- --revoke-user <email>  revoke every token of a user`;

export class UsageError extends Error {}

export type TokenCommand =
  | { kind: "mint"; email: string; label: string; expiresInMs: number | null; scope: TokenScope }
  | { kind: "revoke"; token: string }
  | { kind: "revoke-user"; email: string };

const UNIT_MS = { m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** "30d", "12h", "90m" -> milliseconds; at most 10 years. */
export function parseDuration(text: string): number {
  const match = /^(\d{1,6})([mhd])$/.exec(text.trim());
  const unit = match?.[2] ?? "";
  if (!match || Number(match[1]) === 0 || !hasKey(UNIT_MS, unit)) {
    throw new UsageError(`--expires takes a positive duration such as 90m, 12h or 30d (got "${text}")`);
  }
  const ms = Number(match[1]) * UNIT_MS[unit];
  if (ms > 3650 * UNIT_MS.d) throw new UsageError("--expires is limited to 3650d");
  return ms;
}

/** Parses the task's arguments; throws UsageError with a message fit for the user. */
export function parseTokenArgs(args: string[]): TokenCommand {
  let values;
  try {
    ({ values } = parseArgs({
      args: args[0] === "--" ? args.slice(1) : args,
      options: {
        user: { type: "string" },
        label: { type: "string" },
        revoke: { type: "string" },
        "revoke-user": { type: "string" },
        expires: { type: "string" },
        "read-only": { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  if (values.help) throw new UsageError("");
  const modes = [values.user, values.revoke, values["revoke-user"]].filter((v) => v !== undefined);
  if (modes.length > 1) throw new UsageError("pass one of --user, --revoke, --revoke-user");
  const mintOnly = values.expires !== undefined || values["read-only"] !== undefined;
  if (values.revoke !== undefined) {
    if (values.revoke.trim() === "") throw new UsageError("--revoke needs a token");
    if (mintOnly) throw new UsageError("--expires and --read-only apply to --user only");
    return { kind: "revoke", token: values.revoke.trim() };
  }
  if (values["revoke-user"] !== undefined) {
    if (values["revoke-user"].trim() === "") throw new UsageError("--revoke-user needs an email");
    if (mintOnly) throw new UsageError("--expires and --read-only apply to --user only");
    return { kind: "revoke-user", email: values["revoke-user"].trim() };
  }
  if (values.user === undefined || values.user.trim() === "") throw new UsageError("--user <email> is required");
  const label = values.label ?? "cli";
  if (label.length > 200) throw new UsageError("--label is limited to 200 characters");
  return {
    kind: "mint",
    email: values.user.trim(),
    label,
    expiresInMs: values.expires === undefined ? null : parseDuration(values.expires),
    scope: values["read-only"] ? "READ_ONLY" : "FULL",
  };
}

async function main(): Promise<number> {
  let command: TokenCommand;
  try {
    command = parseTokenArgs(Deno.args);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    if (error.message) console.error(`Error: ${error.message}`);
    console.error(USAGE);
    return 2;
  }
  return await withTaskDatabase("bulk-ops token", async (db) => {
    if (command.kind === "revoke") {
      if (!(await revokeToken(db, command.token))) {
        console.error("Error: no such active token (unknown, or already revoked)");
        return 1;
      }
      console.error("token revoked");
      return 0;
    }
    if (command.kind === "revoke-user") {
      const revoked = await revokeUserTokens(db, command.email);
      if (revoked === null) {
        console.error(`Error: no user with email ${command.email}`);
        return 1;
      }
      console.error(`${revoked} token(s) of ${command.email} revoked`);
      return 0;
    }
    const user = await db.selectFrom("users").select(["email", "role"])
      .where("email", "=", command.email.toLowerCase()).executeTakeFirst();
    if (!user) {
      console.error(`Error: no user with email ${command.email}`);
      return 1;
    }
    const expiresAt = command.expiresInMs === null ? undefined : new Date(Date.now() + command.expiresInMs);
    const token = await mintTokenForEmail(db, user.email, command.label, { expiresAt, scope: command.scope });
    const limits = [
      command.scope === "READ_ONLY" ? "read-only" : "",
      expiresAt ? `expires ${expiresAt.toISOString()}` : "",
    ]
      .filter(Boolean).join(", ");
    console.error(`token for ${user.email} (${user.role}), label "${command.label}"${limits ? `, ${limits}` : ""}:`);
    console.log(token);
    return 0;
  });
}

if (import.meta.main) Deno.exit(await main());
