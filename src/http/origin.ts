/** Where a request came from, as the audit trail records it (src/audit/record.ts). */
import { type RequestOrigin, storedUserAgent } from "../audit/record.ts";

export function requestOrigin(request: Request, clientIp: string | null | undefined): RequestOrigin {
  return { ip: clientIp ?? null, userAgent: storedUserAgent(request.headers.get("user-agent")) };
}
