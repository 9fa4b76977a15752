// Collections on demand: the idle collector's full one (collectAll), and a collection of the young
// generation (scavenge), for a thread whose garbage is large Buffers and next to no JavaScript
// objects (the tests use it to promote objects on purpose). V8 starts a scavenge when the
// young generation's objects fill it, or when its young Buffers reach 2 × the default semi-space
// (32 MiB on 64-bit): such a thread can hold tens of MiB of dead Buffers between two. Node has no
// API for it; the `gc` function that --expose-gc installs does it, and V8 installs it in contexts
// created after the flag is set, so it is taken from a fresh one. The flag only adds that
// function, in new contexts: nothing else changes in the process.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

type GcFunction = (options?: { type?: 'minor' | 'major'; execution?: 'sync' | 'async' }) => void;

let gc: GcFunction | undefined;

function gcFunction(): GcFunction {
  if (!gc) {
    setFlagsFromString('--expose-gc');
    gc = runInNewContext('gc') as GcFunction;
  }
  return gc;
}

/** Collects this thread's young generation now: its dead Buffers are freed (their memory by a sweeper that may finish a moment later). */
export function scavenge(): void {
  gcFunction()({ type: 'minor' });
}

/**
 * A full collection of this thread's heap now, compacting every page unless `compact` is false
 * (see util/idle-collection.ts for when each pays). V8 moves live objects off a page only when the page
 * is mostly free by its own heuristics; after a burst of small files the few survivors are
 * spread over the whole old generation, and a plain collection left it at 59–72 MB committed
 * for 13–15 MB used. Compacting this one collection gives those pages back (8 × 1,000 small
 * files, then idle: see bench/README.md); it costs ~15 ms more, and runs only when idle.
 */
export function collectAll(compact = true): void {
  // No options: Node 20's V8 ignores { type: 'major' } (a no-op there; 22 and 24 collect).
  if (!compact) return gcFunction()();
  setFlagsFromString('--compact-on-every-full-gc');
  try {
    gcFunction()();
  } finally {
    setFlagsFromString('--no-compact-on-every-full-gc');
  }
}
