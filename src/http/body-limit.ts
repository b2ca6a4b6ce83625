/**
 * Bounded request bodies: a POST larger than `maxBytes` is refused with 413 before any of
 * it is parsed (a declared Content-Length at once, a chunked body once it passes the limit),
 * and a body not received within `timeoutMs` is refused with 408 (`Connection: close`): a
 * slow-loris client sending one byte at a time holds no handler, no parser and no database
 * connection past the deadline. Deno.serve itself keeps the TCP connection until the client
 * ends it (it has no per-connection close; docs/security.md says what to put in front). The body is
 * read here, in full, and handed on as a buffered request: Yoga parses JSON from the whole
 * text anyway, so this costs no extra copy.
 */
const refusal = (status: number, code: string, message: string) =>
  new Response(JSON.stringify({ errors: [{ message, extensions: { code } }] }), {
    status,
    headers: { "content-type": "application/json", connection: "close" },
  });

export async function limitBody(request: Request, maxBytes: number, timeoutMs: number): Promise<Request | Response> {
  if (!request.body) return request;
  const tooLarge = () => refusal(413, "PAYLOAD_TOO_LARGE", `Request body over ${maxBytes} bytes.`);
  const declared = request.headers.get("content-length");
  if (declared !== null && Number(declared) > maxBytes) return tooLarge();
  const reader = request.body.getReader();
  let timedOut = false;
  // Cancelling the reader ends the pending read (the handler returns at once).
  const timer = setTimeout(() => {
    timedOut = true;
    reader.cancel().catch(() => {});
  }, timeoutMs);
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    while (true) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > maxBytes) {
        reader.cancel().catch(() => {});
        return tooLarge();
      }
      chunks.push(value);
    }
  } catch (error) {
    if (!timedOut) throw error;
  } finally {
    clearTimeout(timer);
  }
  if (timedOut) return refusal(408, "REQUEST_TIMEOUT", `Request body not received within ${timeoutMs} ms.`);
  const body = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    body.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return new Request(request, { body });
}
