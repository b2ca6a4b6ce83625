/**
 * A per-request batch loader: every load() issued in the same tick becomes one query
 * (e.g. the assignees of a 100-ticket page are fetched with one `id = ANY($1)`).
 */
export class BatchLoader<V> {
  #pending = new Map<string, { resolve: (v: V | null) => void; reject: (e: unknown) => void }[]>();
  #cache = new Map<string, Promise<V | null>>();

  constructor(private readonly fetch: (keys: string[]) => Promise<Map<string, V>>) {}

  load(key: string): Promise<V | null> {
    const cached = this.#cache.get(key);
    if (cached) return cached;
    const promise = new Promise<V | null>((resolve, reject) => {
      if (this.#pending.size === 0) queueMicrotask(() => this.#flush());
      const waiters = this.#pending.get(key) ?? [];
      waiters.push({ resolve, reject });
      this.#pending.set(key, waiters);
    });
    this.#cache.set(key, promise);
    return promise;
  }

  async #flush(): Promise<void> {
    const batch = this.#pending;
    this.#pending = new Map();
    try {
      const found = await this.fetch([...batch.keys()]);
      for (const [key, waiters] of batch) waiters.forEach((w) => w.resolve(found.get(key) ?? null));
    } catch (error) {
      for (const waiters of batch.values()) waiters.forEach((w) => w.reject(error));
    }
  }
}
