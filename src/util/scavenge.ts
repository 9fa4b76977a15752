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

type GcFunction = (options?: { type?: 'minor' | 'major'; execution?: 'sync' | 'async'; flavor?: 'regular' | 'last-resort' }) => void;

/**
 * V8 12 and later (Node 22, 24) keep the pages a full collection frees in a pool, still resident,
 * until their memory reducer runs, 8 s or more later and only once the process allocates little;
 * V8 11 (Node 20) unmaps them at once. Only a collection that reduces the footprint empties the
 * pool: `gc`'s "last-resort" flavour (two or more full, compacting collections; V8 11 lacks it).
 * Measured (/tmp mem.sh, 8 clients × 256 MiB uploads, then 8 × 1,000 small files and a session
 * removing them all, three rounds, Node 22): peaks 141-144, 175-180, 175-186 MiB with plain
 * collections, the pool holding 40-45 MiB of 256 KiB pages (smaps: 241 such mappings for 19 MB of
 * heap); 128-132, 128-136, 137-139 with this; Node 20: 124-127, 132-143, 135-140. Its price: a
 * busy or ended collection takes 50-75 ms instead of 15-25.
 */
const POOLS_FREED_PAGES = Number(process.versions.v8.split('.')[0]) >= 12;

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
 * A full collection of this thread's heap now that gives its free pages back to the system,
 * compacting every page unless `compact` is false (on V8 12 and later it always compacts)
 * (see util/idle-collection.ts for when each pays). V8 moves live objects off a page only when the page
 * is mostly free by its own heuristics; after a burst of small files the few survivors are
 * spread over the whole old generation, and a plain collection left it at 59–72 MB committed
 * for 13–15 MB used. Compacting this one collection gives those pages back (8 × 1,000 small
 * files, then idle: see bench/README.md); it costs ~15 ms more, and runs only when idle.
 */
export function collectAll(compact = true): void {
  // It always compacts: its pages go back only that way.
  if (POOLS_FREED_PAGES) return gcFunction()({ type: 'major', execution: 'sync', flavor: 'last-resort' });
  // No options: Node 20's V8 ignores { type: 'major' } (a no-op there; 22 and 24 collect).
  if (!compact) return gcFunction()();
  setFlagsFromString('--compact-on-every-full-gc');
  try {
    gcFunction()();
  } finally {
    setFlagsFromString('--no-compact-on-every-full-gc');
  }
}
