/** Where a request came from, as the audit trail records it (src/audit/record.ts). */
import { type RequestOrigin, storedUserAgent } from "../audit/record.ts";

export function requestOrigin(request: Request, clientIp: string | null | undefined): RequestOrigin {
  return { ip: clientIp ?? null, userAgent: storedUserAgent(request.headers.get("user-agent")) };
}

/** The peer address Deno.serve reports (TCP), or null (a Unix socket). */
export function peerAddress(info: Deno.ServeHandlerInfo): string | null {
  const addr = info.remoteAddr;
  return addr.transport === "tcp" || addr.transport === "udp" ? addr.hostname : null;
}
