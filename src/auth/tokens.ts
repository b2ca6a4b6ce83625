/**
 * API tokens: `bo_` + 32 random bytes (base64url). Only their SHA-256 is stored, so a
 * database leak reveals no usable token; a lookup is one unique-index probe on the hash.
 */
import { bytesToBase64Url } from "../encoding.ts";
import type { Db } from "../db/database.ts";
import type { Role } from "../db/tables.ts";

export interface Viewer {
  userId: string;
  tenantId: string;
  role: Role;
  email: string;
  name: string;
}

const TOKEN_PREFIX = "bo_";

export async function hashToken(token: string): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(token)));
}

function randomToken(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  return TOKEN_PREFIX + bytesToBase64Url(bytes);
}

/** Mints a token for the user and returns it; the plain token is never stored. */
export async function mintToken(db: Db, userId: string, label = ""): Promise<string> {
  const token = randomToken();
  await db.insertInto("api_tokens").values({ user_id: userId, token_hash: await hashToken(token), label })
    .execute();
  return token;
}

export async function mintTokenForEmail(db: Db, email: string, label = ""): Promise<string> {
  const user = await db.selectFrom("users").select("id").where("email", "=", email.toLowerCase())
    .executeTakeFirst();
  if (!user) throw new Error(`no user with email ${email}`);
  return await mintToken(db, user.id, label);
}

export async function revokeToken(db: Db, token: string): Promise<boolean> {
  const result = await db.updateTable("api_tokens").set({ revoked_at: new Date() })
    .where("token_hash", "=", await hashToken(token)).where("revoked_at", "is", null).executeTakeFirst();
  return result.numUpdatedRows > 0n;
}

/** The viewer behind a token, or null for an unknown, malformed or revoked one. */
export async function viewerForToken(db: Db, token: string): Promise<Viewer | null> {
  if (!token.startsWith(TOKEN_PREFIX) || token.length > 100) return null;
  const row = await db.selectFrom("api_tokens as t")
    .innerJoin("users as u", "u.id", "t.user_id")
    .select(["u.id", "u.tenant_id", "u.role", "u.email", "u.name"])
    .where("t.token_hash", "=", await hashToken(token))
    .where("t.revoked_at", "is", null)
    .executeTakeFirst();
  if (!row) return null;
  return { userId: row.id, tenantId: row.tenant_id, role: row.role, email: row.email, name: row.name };
}

/** Extracts the token from an `Authorization: Bearer <token>` value. */
export function bearerToken(header: string | null | undefined): string | null {
  if (!header) return null;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return match ? match[1] : null;
}
