/**
 * `deno task token -- --user <email> [--label <text>]`: mints an API token for a user and prints
 * it alone on the last line of stdout (everything else goes to stderr), so
 * `TOKEN=$(deno task token -- --user agent@demo.test | tail -n1)` works.
 * `deno task token -- --revoke <token>` revokes a token.
 *
 * Works against the database every entry point uses (src/db/connect.ts): DATABASE_URL when set,
 * otherwise the embedded PostgreSQL in DATA_DIR, whether or not `deno task start` is running.
 * Exit codes: 0 done, 1 unknown user or token (or no usable database), 2 usage or configuration error.
 */
import { withTaskDatabase } from "./task-database.ts";
import { parseArgs } from "node:util";
import { mintTokenForEmail, revokeToken } from "../auth/tokens.ts";

const USAGE = `Usage:
  deno task token -- --user <email> [--label <text>]   mint a token (printed alone on the last line)
  deno task token -- --revoke <token>                  revoke a token`;

export class UsageError extends Error {}

export type TokenCommand =
  | { kind: "mint"; email: string; label: string }
  | { kind: "revoke"; token: string };

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
        help: { type: "boolean", short: "h" },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  if (values.help) throw new UsageError("");
  if (values.revoke !== undefined) {
    if (values.user !== undefined) throw new UsageError("pass --user or --revoke, not both");
    if (values.revoke.trim() === "") throw new UsageError("--revoke needs a token");
    return { kind: "revoke", token: values.revoke.trim() };
  }
  if (values.user === undefined || values.user.trim() === "") throw new UsageError("--user <email> is required");
  const label = values.label ?? "cli";
  if (label.length > 200) throw new UsageError("--label is limited to 200 characters");
  return { kind: "mint", email: values.user.trim(), label };
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
    const user = await db.selectFrom("users").select(["email", "role"])
      .where("email", "=", command.email.toLowerCase()).executeTakeFirst();
    if (!user) {
      console.error(`Error: no user with email ${command.email}`);
      return 1;
    }
    const token = await mintTokenForEmail(db, user.email, command.label);
    console.error(`token for ${user.email} (${user.role}), label "${command.label}":`);
    console.log(token);
    return 0;
  });
}

if (import.meta.main) Deno.exit(await main());
