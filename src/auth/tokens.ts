/**
 * API tokens: `bo_` + 32 random bytes (base64url). Only their SHA-256 is stored, so a
 * database leak reveals no usable token; a lookup is one unique-index probe on the hash.
 * A token may expire (expires_at) and may be READ_ONLY (no mutations, src/graphql/read-only.ts).
 */
import { sql } from "kysely";
import { CLI_ORIGIN, recordAudit, type RequestOrigin } from "../audit/record.ts";
import { bytesToBase64Url } from "../encoding.ts";
import type { Db } from "../db/database.ts";
import type { Role, TokenScope } from "../db/tables.ts";
import { log } from "../log.ts";
import { errorMessage } from "../guards.ts";

export interface Viewer {
  userId: string;
  tenantId: string;
  role: Role;
  email: string;
  name: string;
  /** The token the request came with; absent for viewers built outside a request (engine, tests). */
  token?: TokenInfo;
  /** The request's IP and User-Agent (set by createContext), recorded with the bulk events it causes. */
  origin?: RequestOrigin;
}

export interface TokenInfo {
  id: string;
  scope: TokenScope;
  /** Hex SHA-256 of the token: the key open sockets and streams are counted and closed by. */
  key: string;
}

const TOKEN_PREFIX = "bo_";

/** last_used_at is written at most this often per token: a busy token costs one write a minute. */
export const LAST_USED_RESOLUTION_MS = 60_000;

export async function hashToken(token: string): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(token)));
}

const toHex = (bytes: Uint8Array) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
const fromHex = (hex: string) => Uint8Array.from(hex.match(/../g) ?? [], (byte) => parseInt(byte, 16));

/** The key of a token (hex SHA-256), the same whether or not the token is valid. */
export async function tokenKey(token: string): Promise<string> {
  return toHex(await hashToken(token));
}

function randomToken(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  return TOKEN_PREFIX + bytesToBase64Url(bytes);
}

export interface MintOptions {
  /** When the token stops working; undefined never. */
  expiresAt?: Date;
  scope?: TokenScope;
}

/** Mints a token for the user and returns it; the plain token is never stored. Audited as TOKEN_MINTED. */
export async function mintToken(db: Db, userId: string, label = "", options: MintOptions = {}): Promise<string> {
  const token = randomToken();
  const hash = await hashToken(token);
  await db.transaction().execute(async (tx) => {
    const user = await tx.selectFrom("users").select("tenant_id").where("id", "=", userId).executeTakeFirstOrThrow();
    const row = await tx.insertInto("api_tokens").values({
      user_id: userId,
      token_hash: hash,
      label,
      expires_at: options.expiresAt ?? null,
      scope: options.scope ?? "FULL",
    }).returning("id").executeTakeFirstOrThrow();
    await recordAudit(tx, {
      tenantId: user.tenant_id,
      actorId: null,
      action: "TOKEN_MINTED",
      subject: row.id,
      data: {
        userId,
        label,
        scope: options.scope ?? "FULL",
        expiresAt: options.expiresAt?.toISOString() ?? null,
      },
      origin: CLI_ORIGIN,
    });
  });
  return token;
}

export async function mintTokenForEmail(
  db: Db,
  email: string,
  label = "",
  options: MintOptions = {},
): Promise<string> {
  const user = await db.selectFrom("users").select("id").where("email", "=", email.toLowerCase())
    .executeTakeFirst();
  if (!user) throw new Error(`no user with email ${email}`);
  return await mintToken(db, user.id, label, options);
}

/** Revokes the given active tokens (one statement) and audits each as TOKEN_REVOKED; returns how many. */
async function revokeWhere(db: Db, filter: { hash: Uint8Array } | { userId: string }): Promise<number> {
  return await db.transaction().execute(async (tx) => {
    let update = tx.updateTable("api_tokens").set({ revoked_at: new Date() }).where("revoked_at", "is", null);
    update = "hash" in filter
      ? update.where("token_hash", "=", filter.hash)
      : update.where("user_id", "=", filter.userId);
    const revoked = await update.returning(["id", "user_id"]).execute();
    if (revoked.length === 0) return 0;
    const { tenant_id } = await tx.selectFrom("users").select("tenant_id").where("id", "=", revoked[0].user_id)
      .executeTakeFirstOrThrow();
    for (const row of revoked) {
      await recordAudit(tx, {
        tenantId: tenant_id,
        actorId: null,
        action: "TOKEN_REVOKED",
        subject: row.id,
        data: { userId: row.user_id },
        origin: CLI_ORIGIN,
      });
    }
    return revoked.length;
  });
}

export async function revokeToken(db: Db, token: string): Promise<boolean> {
  return (await revokeWhere(db, { hash: await hashToken(token) })) > 0;
}

/** Revokes every active token of the user with this email; returns how many (null: no such user). */
export async function revokeUserTokens(db: Db, email: string): Promise<number | null> {
  const user = await db.selectFrom("users").select("id").where("email", "=", email.toLowerCase())
    .executeTakeFirst();
  return user ? await revokeWhere(db, { userId: user.id }) : null;
}

/** The viewer behind a token, or null for an unknown, malformed, revoked or expired one. */
export async function viewerForToken(db: Db, token: string): Promise<Viewer | null> {
  if (!token.startsWith(TOKEN_PREFIX) || token.length > 100) return null;
  const hash = await hashToken(token);
  const row = await db.selectFrom("api_tokens as t")
    .innerJoin("users as u", "u.id", "t.user_id")
    .select(["t.id as token_id", "t.scope", "t.last_used_at", "u.id", "u.tenant_id", "u.role", "u.email", "u.name"])
    .where("t.token_hash", "=", hash)
    .where("t.revoked_at", "is", null)
    .where((eb) => eb.or([eb("t.expires_at", "is", null), eb("t.expires_at", ">", sql<Date>`now()`)]))
    .executeTakeFirst();
  if (!row) return null;
  if (!row.last_used_at || Date.now() - row.last_used_at.getTime() > LAST_USED_RESOLUTION_MS) {
    touchLastUsed(db, row.token_id);
  }
  return {
    userId: row.id,
    tenantId: row.tenant_id,
    role: row.role,
    email: row.email,
    name: row.name,
    token: { id: row.token_id, scope: row.scope, key: toHex(hash) },
  };
}

/**
 * Records the use in the background (the request does not wait for a write). The condition
 * makes concurrent requests and several API processes write once per minute between them.
 */
function touchLastUsed(db: Db, tokenId: string): void {
  db.updateTable("api_tokens").set({ last_used_at: sql`now()` }).where("id", "=", tokenId)
    .where((eb) =>
      eb.or([
        eb("last_used_at", "is", null),
        eb("last_used_at", "<", sql<Date>`now() - make_interval(secs => ${LAST_USED_RESOLUTION_MS / 1000})`),
      ])
    )
    .execute().catch((error) => log.warn("auth", `recording last_used_at failed: ${errorMessage(error)}`));
}

/** Of these token keys, the ones whose token still works (exists, not revoked, not expired): one query. */
export async function liveTokenKeys(db: Db, keys: string[]): Promise<Set<string>> {
  if (keys.length === 0) return new Set();
  const rows = await db.selectFrom("api_tokens").select("token_hash")
    .where("token_hash", "=", sql<Uint8Array>`ANY(${keys.map(fromHex)}::bytea[])`)
    .where("revoked_at", "is", null)
    .where((eb) => eb.or([eb("expires_at", "is", null), eb("expires_at", ">", sql<Date>`now()`)]))
    .execute();
  return new Set(rows.map((row) => toHex(row.token_hash)));
}

/** Extracts the token from an `Authorization: Bearer <token>` value. */
export function bearerToken(header: string | null | undefined): string | null {
  if (!header) return null;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return match ? match[1] : null;
}
