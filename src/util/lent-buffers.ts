// Buffers a producer lends out and wants back once the consumer is done with them, so their
// memory can be used again instead of waiting for V8 to collect it (the embedded store's
// download runs, src/grid/embedded/buffer-pool.ts).
//
// The contract: a consumer calls giveBack(view) with the very object it was handed, once
// nothing it started still reads those bytes (a socket's write callback: the kernel, TLS or
// ssh2 has copied them). A view that is never given back is simply never reused: forgetting
// costs memory, not correctness. Giving back twice, or giving back a buffer that was not lent
// (a copy, a subarray, another source's bytes), does nothing.

/** What a lender does when a view comes back. */
export interface Lender {
  returned(): void;
}

const lent = new WeakMap<Uint8Array, Lender>();

/** Marks `view` as lent by `lender`, which hears of it once when it is given back. */
export function lend(view: Uint8Array, lender: Lender): void {
  lent.set(view, lender);
}

/** The consumer is done with `view`: nothing it does reads those bytes any more. */
export function giveBack(view: Uint8Array): void {
  const lender = lent.get(view);
  if (!lender) return;
  lent.delete(view);
  lender.returned();
}
