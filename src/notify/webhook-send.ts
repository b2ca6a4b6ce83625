/**
 * One webhook POST. Connects to the address resolveTarget checked (a Deno.HttpClient whose
 * transport is a TCP connection to that address: the URL, Host header and TLS name stay the
 * endpoint's own, so https certificates are still verified against the hostname), follows no
 * redirect (a 3xx is a failed attempt), gives up after WEBHOOK_TIMEOUT_MS, and reads at most
 * RESPONSE_CAP bytes of the answer (kept for last_error) before dropping the connection.
 */
import { resolveTarget, UnsafeUrlError } from "./address-guard.ts";

/** Bytes of a response body read; the rest is discarded. */
export const RESPONSE_CAP = 4096;

export interface SendSettings {
  timeoutMs: number;
  allowPrivateNetworks: boolean;
}

export type SendOutcome =
  | { ok: true; statusCode: number }
  | { ok: false; statusCode: number | null; error: string; gone: boolean };

async function cappedText(response: Response): Promise<string> {
  if (!response.body) return "";
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    while (size < RESPONSE_CAP) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      size += value.length;
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) bytes.set(chunk, (offset += chunk.length) - chunk.length);
  return new TextDecoder().decode(bytes.slice(0, RESPONSE_CAP));
}

const defaultPort = (url: URL) => url.port ? Number(url.port) : url.protocol === "https:" ? 443 : 80;

export async function postWebhook(
  url: URL,
  headers: Record<string, string>,
  body: string,
  settings: SendSettings,
): Promise<SendOutcome> {
  const signal = AbortSignal.timeout(settings.timeoutMs);
  let client: Deno.HttpClient | undefined;
  try {
    const address = await resolveTarget(url, settings.allowPrivateNetworks, signal);
    client = Deno.createHttpClient({ proxy: { transport: "tcp", hostname: address, port: defaultPort(url) } });
    const response = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json", "user-agent": "bulk-ops-webhooks/1", ...headers },
      body,
      redirect: "manual",
      signal,
      client,
    });
    const text = await cappedText(response);
    if (response.status >= 200 && response.status < 300) return { ok: true, statusCode: response.status };
    return {
      ok: false,
      statusCode: response.status,
      error: `HTTP ${response.status}${text ? `: ${text.slice(0, 500)}` : ""}`,
      gone: response.status === 410,
    };
  } catch (error) {
    if (error instanceof UnsafeUrlError) return { ok: false, statusCode: null, error: error.message, gone: false };
    const message = signal.aborted
      ? `no answer within ${settings.timeoutMs} ms (WEBHOOK_TIMEOUT_MS)`
      : (error as Error).message;
    return { ok: false, statusCode: null, error: message, gone: false };
  } finally {
    client?.close();
  }
}
