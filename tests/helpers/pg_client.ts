/** A connected pg.Client the caller owns with `await using` (pg 8's Client has no Symbol.asyncDispose). */
import pg from "pg";

export type OwnedClient = pg.Client & AsyncDisposable;

export async function connectClient(config: string | pg.ClientConfig): Promise<OwnedClient> {
  const client = new pg.Client(config);
  await client.connect();
  // A client the test ended itself, or whose backend was terminated, has nothing left to release.
  let ended = false;
  client.once("end", () => ended = true);
  return Object.assign(client, { [Symbol.asyncDispose]: async () => ended ? undefined : await client.end() });
}
