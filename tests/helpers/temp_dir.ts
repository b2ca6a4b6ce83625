/** A temporary directory that `await using` removes (with its contents) when the scope ends. */
export interface TempDir {
  path: string;
  [Symbol.asyncDispose](): Promise<void>;
}

export async function tempDir(prefix: string): Promise<TempDir> {
  const path = await Deno.makeTempDir({ prefix });
  return { path, [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }) };
}
