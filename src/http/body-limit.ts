/**
 * Bounded request bodies: a POST larger than `maxBytes` is refused with 413 before any of
 * it is parsed. A declared Content-Length is checked at once; a body without one (chunked)
 * is read up to the limit and handed on as a buffered request.
 */
export async function limitBody(request: Request, maxBytes: number): Promise<Request | Response> {
  if (!request.body) return request;
  const tooLarge = () =>
    new Response(
      JSON.stringify({
        errors: [{ message: `Request body over ${maxBytes} bytes.`, extensions: { code: "PAYLOAD_TOO_LARGE" } }],
      }),
      { status: 413, headers: { "content-type": "application/json" } },
    );
  const declared = request.headers.get("content-length");
  if (declared !== null) return Number(declared) > maxBytes ? tooLarge() : request;
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of request.body) {
    size += chunk.byteLength;
    if (size > maxBytes) return tooLarge();
    chunks.push(chunk);
  }
  const body = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    body.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return new Request(request, { body });
}
