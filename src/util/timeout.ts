// Waiting for a promise, but not forever; and promises resolved from outside.

const TIMED_OUT = Symbol('timed out');

/** `promise`'s outcome, or TIMED_OUT once `ms` have passed; the timer never outlives the wait. */
async function orTimedOut<T>(promise: Promise<T>, ms: number): Promise<T | typeof TIMED_OUT> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([promise, new Promise<typeof TIMED_OUT>((resolve) => (timer = setTimeout(resolve, ms, TIMED_OUT)))]);
  } finally {
    clearTimeout(timer);
  }
}

/** `promise`'s outcome, or `onTimeout()`'s error once `ms` have passed; the timer never outlives the wait. */
export async function withTimeout<T>(promise: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  const outcome = await orTimedOut(promise, ms);
  if (outcome === TIMED_OUT) throw onTimeout();
  return outcome;
}

/** Waits for `promise` to settle, but never longer than `ms`; its outcome is not reported. */
export async function waitAtMost(promise: Promise<unknown>, ms: number): Promise<void> {
  await orTimedOut(promise.catch(() => {}), ms);
}

/** A promise and its resolve function (Promise.withResolvers needs Node 22). */
export function resolvable(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}
