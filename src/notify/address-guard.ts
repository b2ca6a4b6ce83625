/**
 * Where a webhook may be sent. A URL must be http(s); its host is resolved at delivery time
 * and every address checked, and the request then connects to the address that was checked
 * (webhook-send.ts pins it with a `lookup` hook), so a DNS answer that changes between check and connect (DNS
 * rebinding) cannot reach a private, loopback or link-local address.
 * WEBHOOK_ALLOW_PRIVATE_NETWORKS=1 lifts the address check (tests, local development).
 */

export class UnsafeUrlError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UnsafeUrlError";
  }
}

/** The URL checks that need no DNS (also applied when an endpoint is created or updated). */
export function checkWebhookUrl(raw: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new UnsafeUrlError("Not a URL.");
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new UnsafeUrlError(`Only http and https URLs are allowed, got ${url.protocol}`);
  }
  if (url.username || url.password) throw new UnsafeUrlError("Credentials in the URL are not allowed.");
  return url;
}

function ipv4Octets(address: string): number[] | null {
  const parts = address.split(".");
  if (parts.length !== 4 || !parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255)) return null;
  return parts.map(Number);
}

function privateIpv4([a, b]: number[]): boolean {
  return a === 0 || a === 10 || a === 127 || (a === 100 && b >= 64 && b <= 127) || // this host, RFC 1918, loopback, CGNAT
    (a === 169 && b === 254) || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168) || // link-local, RFC 1918
    (a === 198 && (b === 18 || b === 19)) || a >= 224; // benchmarking, multicast and reserved
}

/** The 8 16-bit groups of an IPv6 address (with `::` and an embedded IPv4 tail expanded). */
function ipv6Groups(address: string): number[] | null {
  let text = address.replace(/^\[|\]$/g, "").split("%")[0].toLowerCase();
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4) {
    const o = ipv4Octets(v4[1]);
    if (!o) return null;
    text = text.slice(0, -v4[1].length) + `${((o[0] << 8) | o[1]).toString(16)}:${((o[2] << 8) | o[3]).toString(16)}`;
  }
  const halves = text.split("::");
  if (halves.length > 2) return null;
  const head = halves[0] ? halves[0].split(":") : [];
  const tail = halves.length === 2 && halves[1] ? halves[1].split(":") : [];
  const fill = halves.length === 2 ? 8 - head.length - tail.length : 0;
  const groups = [...head, ...Array(Math.max(fill, 0)).fill("0"), ...tail];
  if (groups.length !== 8 || !groups.every((g) => /^[0-9a-f]{1,4}$/.test(g))) return null;
  return groups.map((g) => parseInt(g, 16));
}

/** The IPv4 address in two 16-bit groups. */
const embeddedIpv4 = (high: number, low: number) => [high >> 8, high & 0xff, low >> 8, low & 0xff];

/**
 * IPv6 ranges that carry an IPv4 address a packet can end up at: IPv4-compatible (::/96,
 * which also holds :: and ::1), IPv4-mapped (::ffff:0:0/96), NAT64 (64:ff9b::/96, RFC 6052),
 * 6to4 (2002::/16, the relay's IPv4 in groups 1-2) and Teredo (2001::/32, the client's IPv4
 * inverted in groups 6-7). Each is judged by that IPv4 address.
 */
function ipv4Inside(g: number[]): number[] | null {
  const zeros = (from: number, to: number) => g.slice(from, to).every((x) => x === 0);
  if (zeros(0, 6)) return embeddedIpv4(g[6], g[7]);
  if (zeros(0, 5) && g[5] === 0xffff) return embeddedIpv4(g[6], g[7]);
  if (g[0] === 0x64 && g[1] === 0xff9b && zeros(2, 6)) return embeddedIpv4(g[6], g[7]);
  if (g[0] === 0x2002) return embeddedIpv4(g[1], g[2]);
  if (g[0] === 0x2001 && g[1] === 0) return embeddedIpv4(g[6] ^ 0xffff, g[7] ^ 0xffff);
  return null;
}

function privateIpv6(g: number[]): boolean {
  const v4 = ipv4Inside(g);
  if (v4) return privateIpv4(v4);
  return (g[0] & 0xfe00) === 0xfc00 || // unique local fc00::/7
    (g[0] & 0xffc0) === 0xfe80 || (g[0] & 0xffc0) === 0xfec0 || // link-local fe80::/10, site-local fec0::/10
    (g[0] & 0xff00) === 0xff00 || // multicast
    (g[0] === 0x64 && g[1] === 0xff9b && g[2] === 1); // local-use NAT64 64:ff9b:1::/48 (RFC 8215)
}

/** True for addresses a webhook must not reach: private, loopback, link-local, unspecified, multicast. */
export function isPrivateAddress(address: string): boolean {
  const v4 = ipv4Octets(address);
  if (v4) return privateIpv4(v4);
  const v6 = ipv6Groups(address);
  return v6 ? privateIpv6(v6) : true; // not an address we understand: refused
}

/** Resolves the URL's host (an IP literal as is); returns the address to connect to. */
export async function resolveTarget(url: URL, allowPrivate: boolean, signal?: AbortSignal): Promise<string> {
  const host = url.hostname.replace(/^\[|\]$/g, "");
  let addresses: string[];
  if (ipv4Octets(host) || ipv6Groups(host)) addresses = [host];
  else {
    const answers = await Promise.allSettled([
      Deno.resolveDns(host, "A", { signal }),
      Deno.resolveDns(host, "AAAA", { signal }),
    ]);
    addresses = answers.flatMap((a) => a.status === "fulfilled" ? a.value : []);
    if (addresses.length === 0 && host === "localhost") addresses = ["127.0.0.1"];
    if (addresses.length === 0) throw new UnsafeUrlError(`${host} does not resolve.`);
  }
  return safeAddress(host, addresses, allowPrivate);
}

/**
 * The address to connect to out of a DNS answer: every one must be public, otherwise a
 * round-robin answer could mix in a private one.
 */
export function safeAddress(host: string, addresses: string[], allowPrivate: boolean): string {
  if (!allowPrivate) {
    const refused = addresses.find(isPrivateAddress);
    if (refused) {
      throw new UnsafeUrlError(
        `${host} resolves to ${refused}, a private, loopback or link-local address (WEBHOOK_ALLOW_PRIVATE_NETWORKS is off).`,
      );
    }
  }
  return addresses[0];
}
