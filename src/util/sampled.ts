// A slow read's answer, kept for a while so that asking often costs little.

/**
 * Keeps the answer of a slow read (a walk of the store) for ten times as long as the read took,
 * at least `minMs`: the cost stays near a tenth of one thread however large the store grows,
 * and a small store is read afresh at nearly every scrape.
 */
export function sampled<T>(read: () => Promise<T>, minMs = 1000, maxMs = 600_000): () => Promise<T> {
  let value: { v: T; until: number } | undefined;
  let pending: Promise<T> | undefined;
  return () => {
    if (value && performance.now() < value.until) return Promise.resolve(value.v);
    pending ??= (async () => {
      const started = performance.now();
      try {
        const v = await read();
        const took = performance.now() - started;
        value = { v, until: performance.now() + Math.min(maxMs, Math.max(minMs, 10 * took)) };
        return v;
      } finally {
        pending = undefined;
      }
    })();
    return pending;
  };
}
