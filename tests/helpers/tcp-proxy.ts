/**
 * A TCP proxy on 127.0.0.1 in front of a test server, to drop a browser's connections for real (the console's
 * "reconnecting" state): `drop()` closes every connection open now; while `refuse` is set, new connections are
 * closed as soon as they are accepted; `allow()` lets them through again.
 */
export class TcpProxy implements AsyncDisposable {
  readonly #listener: Deno.TcpListener;
  readonly #conns = new Set<Deno.TcpConn>();
  readonly #accepting: Promise<void>;
  #refusing = false;

  constructor(private readonly targetPort: number) {
    this.#listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    this.#accepting = this.#accept();
  }

  get url(): string {
    return `http://127.0.0.1:${this.#listener.addr.port}`;
  }

  async #accept(): Promise<void> {
    try {
      for await (const client of this.#listener) {
        if (this.#refusing) {
          client.close();
          continue;
        }
        const upstream = await Deno.connect({ hostname: "127.0.0.1", port: this.targetPort });
        this.#conns.add(client).add(upstream);
        void this.#pump(client, upstream);
        void this.#pump(upstream, client);
      }
    } catch { /* listener closed */ }
  }

  async #pump(from: Deno.TcpConn, to: Deno.TcpConn): Promise<void> {
    try {
      await from.readable.pipeTo(to.writable);
    } catch { /* one side closed */ }
    this.#close(from);
    this.#close(to);
  }

  #close(conn: Deno.TcpConn): void {
    if (!this.#conns.delete(conn)) return;
    try {
      conn.close();
    } catch { /* already closed */ }
  }

  /** Closes every open connection and refuses new ones until `allow()`. */
  drop(): void {
    this.#refusing = true;
    for (const conn of [...this.#conns]) this.#close(conn);
  }

  allow(): void {
    this.#refusing = false;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.drop();
    this.#listener.close();
    await this.#accepting;
  }
}
