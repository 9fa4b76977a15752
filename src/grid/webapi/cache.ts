// A short-lived cache of node answers (listings, mutable file sizes) that stays correct under
// writes: invalidating a key drops both the cached value and any fetch already in flight for it,
// so an answer that was on its way before a write can never be stored after it. Concurrent gets
// of one key share one fetch.

interface Slot<V> {
  promise: Promise<V>;
  /** When the fetched value stops being served; undefined while the fetch is in flight. */
  expires?: number;
  /** When the fetch that gave the value started. */
  fetchedAt: number;
}

export class TtlCache<V> {
  private readonly slots = new Map<string, Slot<V>>();

  constructor(
    private readonly ttlMs: number,
    private readonly maxEntries = 512,
    private readonly now: () => number = () => Date.now(),
  ) {}

  /**
   * The cached value of `key`, or the result of `fetch` (shared with concurrent callers).
   * `fresh` skips a cached value (but joins a fetch in flight, which started no earlier).
   */
  get(key: string, fetch: () => Promise<V>, fresh = false): Promise<V> {
    const slot = this.slots.get(key);
    if (slot) {
      const inFlight = slot.expires === undefined;
      if (inFlight || (!fresh && slot.expires! > this.now())) {
        // Refresh recency for the LRU bound.
        this.slots.delete(key);
        this.slots.set(key, slot);
        return slot.promise;
      }
      this.slots.delete(key);
    }
    const mine: Slot<V> = { promise: Promise.resolve() as unknown as Promise<V>, fetchedAt: this.now() };
    mine.promise = fetch().then(
      (value) => {
        if (this.slots.get(key) === mine) {
          if (this.ttlMs > 0) mine.expires = this.now() + this.ttlMs;
          else this.slots.delete(key);
        }
        return value;
      },
      (err: unknown) => {
        if (this.slots.get(key) === mine) this.slots.delete(key); // failures are never cached
        throw err;
      },
    );
    this.slots.set(key, mine);
    while (this.slots.size > this.maxEntries) this.slots.delete(this.slots.keys().next().value as string);
    return mine.promise;
  }

  /** How old the value cached (or being fetched) for `key` is, in ms; undefined when there is none. */
  age(key: string): number | undefined {
    const slot = this.slots.get(key);
    return slot ? this.now() - slot.fetchedAt : undefined;
  }

  invalidate(key: string): void {
    this.slots.delete(key);
  }

  /** Drops every key starting with `prefix`. */
  invalidatePrefix(prefix: string): void {
    for (const key of [...this.slots.keys()]) if (key.startsWith(prefix)) this.slots.delete(key);
  }

  clear(): void {
    this.slots.clear();
  }

  get size(): number {
    return this.slots.size;
  }
}
