/**
 * One webhook POST, with node:http / node:https because they take a `lookup` hook: the
 * connection goes to the address that resolveTarget checked, while the URL's hostname stays
 * the Host header and the TLS server name, so https certificates are verified against the
 * hostname and a DNS answer that changes between check and connect (rebinding) cannot steer
 * the connection. (Deno.createHttpClient's `tcp` proxy transport pins an address too, but it
 * then speaks plain HTTP even for https URLs: measured against a local TLS server, 2026-12-01.)
 * No redirect is followed (a 3xx is a failed attempt), the whole exchange is bounded by
 * WEBHOOK_TIMEOUT_MS, and at most RESPONSE_CAP bytes of the answer are read (kept for
 * last_error) before the connection is dropped.
 */
import http from "node:http";
import https from "node:https";
import type { LookupFunction } from "node:net";
import { resolveTarget, UnsafeUrlError } from "./address-guard.ts";
import { errorMessage } from "../guards.ts";

/** Bytes of a response body read; the rest is discarded. */
export const RESPONSE_CAP = 4096;

export interface SendSettings {
  timeoutMs: number;
  allowPrivateNetworks: boolean;
}

export type SendOutcome =
  | { ok: true; statusCode: number }
  | { ok: false; statusCode: number | null; error: string; gone: boolean };

/** A `lookup` that answers with the already checked address (IP literals never reach it). */
function pinned(address: string): LookupFunction {
  const family = address.includes(":") ? 6 : 4;
  return (_hostname, options, callback) => {
    if (options.all) callback(null, [{ address, family }]);
    else callback(null, address, family);
  };
}

function exchange(
  url: URL,
  address: string,
  headers: Record<string, string>,
  body: string,
  signal: AbortSignal,
): Promise<{ statusCode: number; text: string }> {
  const transport = url.protocol === "https:" ? https : http;
  return new Promise((resolve, reject) => {
    const request = transport.request(url, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "content-length": String(new TextEncoder().encode(body).length),
        "user-agent": "bulk-ops-webhooks/1",
        ...headers,
      },
      lookup: pinned(address),
      agent: false, // no pooled connection to an address checked for another delivery
      signal,
    }, (response) => {
      const chunks: Uint8Array[] = [];
      let size = 0;
      const done = () => {
        const bytes = new Uint8Array(size);
        let offset = 0;
        for (const chunk of chunks) bytes.set(chunk, (offset += chunk.length) - chunk.length);
        resolve({ statusCode: response.statusCode ?? 0, text: new TextDecoder().decode(bytes.slice(0, RESPONSE_CAP)) });
      };
      response.on("data", (chunk: Uint8Array) => {
        chunks.push(chunk);
        size += chunk.length;
        if (size >= RESPONSE_CAP) {
          response.destroy();
          done();
        }
      });
      response.on("end", done);
      response.on("error", reject);
    });
    request.on("error", reject);
    request.end(body);
  });
}

export async function postWebhook(
  url: URL,
  headers: Record<string, string>,
  body: string,
  settings: SendSettings,
): Promise<SendOutcome> {
  const signal = AbortSignal.timeout(settings.timeoutMs);
  try {
    const address = await resolveTarget(url, settings.allowPrivateNetworks, signal);
    const { statusCode, text } = await exchange(url, address, headers, body, signal);
    if (statusCode >= 200 && statusCode < 300) return { ok: true, statusCode };
    return {
      ok: false,
      statusCode,
      error: `HTTP ${statusCode}${text ? `: ${text.slice(0, 500)}` : ""}`,
      gone: statusCode === 410,
    };
  } catch (error) {
    if (error instanceof UnsafeUrlError) return { ok: false, statusCode: null, error: error.message, gone: false };
    const message = signal.aborted
      ? `no answer within ${settings.timeoutMs} ms (WEBHOOK_TIMEOUT_MS)`
      : errorMessage(error);
    return { ok: false, statusCode: null, error: message, gone: false };
  }
}
