/**
 * Webhook signing secrets. Unlike API tokens (only a hash is stored) a signing secret must be
 * usable to sign every delivery, so it is stored encrypted: AES-256-GCM under
 * WEBHOOK_SECRET_KEY, a fresh 12-byte IV per secret, and the endpoint id as associated data
 * (a ciphertext copied onto another endpoint's row does not decrypt). A database dump alone
 * reveals no secret; the key lives only in the environment of the service's processes.
 * The secret is shown once (createWebhookEndpoint, rotateWebhookSecret) and never logged.
 */
import { Webhook } from "standardwebhooks";

const IV_BYTES = 12;
/** 24 random bytes: Standard Webhooks asks for 24 to 64. */
const SECRET_BYTES = 24;

/** A new secret in the Standard Webhooks form `whsec_<base64>`, as receivers' libraries take it. */
export function newSigningSecret(): string {
  return `whsec_${btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(SECRET_BYTES))))}`;
}

async function aesKey(key: Uint8Array): Promise<CryptoKey> {
  // A cast kept: WebCrypto's types take only ArrayBuffer-backed views (not SharedArrayBuffer ones), and the
  // key is decoded from WEBHOOK_SECRET_KEY into an ordinary ArrayBuffer; typing the whole chain that way
  // would reach the pg Buffers of stored secrets too.
  return await crypto.subtle.importKey("raw", key as Uint8Array<ArrayBuffer>, "AES-GCM", false, [
    "encrypt",
    "decrypt",
  ]);
}

export async function encryptSecret(key: Uint8Array, endpointId: string, secret: string): Promise<Uint8Array> {
  const iv = crypto.getRandomValues(new Uint8Array(IV_BYTES));
  const data = new TextEncoder().encode(endpointId);
  const sealed = await crypto.subtle.encrypt(
    { name: "AES-GCM", iv, additionalData: data },
    await aesKey(key),
    new TextEncoder().encode(secret),
  );
  const out = new Uint8Array(IV_BYTES + sealed.byteLength);
  out.set(iv);
  out.set(new Uint8Array(sealed), IV_BYTES);
  return out;
}

export async function decryptSecret(key: Uint8Array, endpointId: string, stored: Uint8Array): Promise<string> {
  const plain = await crypto.subtle.decrypt(
    { name: "AES-GCM", iv: stored.slice(0, IV_BYTES), additionalData: new TextEncoder().encode(endpointId) },
    await aesKey(key),
    stored.slice(IV_BYTES),
  );
  return new TextDecoder().decode(plain);
}

/**
 * The `webhook-signature` header: one `v1,<signature>` per secret, space-separated, as
 * Standard Webhooks allows, so during a rotation's overlap a receiver holding either the old
 * or the new secret verifies the message.
 */
export function signatureHeader(secrets: string[], messageId: string, at: Date, body: string): string {
  return secrets.map((secret) => new Webhook(secret).sign(messageId, at, body)).join(" ");
}
