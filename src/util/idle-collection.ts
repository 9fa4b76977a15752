// A full collection of the main thread's heap once the process has gone idle after work that
// left garbage behind (issue #11). `lafsd` starts Node with --initial-old-space-size=128 (a third
// less CPU per uploaded byte, src/cli/main.ts), so V8 leaves promoted garbage in the old
// generation until it nears 128 MB, and a long-running server kept each burst's garbage into
// the next: three rounds of 8 × 256 MiB SFTP uploads in one process peaked at 154, 175 and 204
// MiB (heapUsed 36 → 63 → 89 MB). With a full collection between the rounds (7–14 ms each,
// heapUsed 38 → 11 MB), they peaked at 165, 163 and 166. V8 collects when told idle only in
// embedders that tell it (browsers); Node does not, so this does, from event-loop utilization,
// and also as soon as the last session ends (sessionsEnded), since a server can go from one
// burst straight into the next without an idle interval between them, and during a long burst
// once the heap itself has grown a lot (see the timer).
//
// Each full collection while no session is open has a price the next burst pays: V8 discards
// the optimized code whose object shapes died with the sessions' objects (57-115 functions of
// ssh2, Node's streams and the SFTP paths), and 1,000 small downloads after it took 0.97-1.07 s of
// CPU against 0.54-0.73. Fewer such collections cost memory in back-to-back bursts instead
// (bench/README.md, twelfth session, with the policy that was tried).
//
// After a collection, the next idle interval hands glibc's free pages back to the kernel
// (util/malloc-trim.ts): the collection freed the Buffers, but free() alone returns only the top
// of glibc's heap. It waits an interval because V8 frees dead ArrayBuffers' memory on a
// background thread after the collection itself.
import { performance, type EventLoopUtilization } from 'node:perf_hooks';
import { releaseFreedMemory } from './malloc-trim.js';
import { collectAll } from './scavenge.js';

export interface IdleCollectionOptions {
  /** How often utilization is sampled. */
  intervalMs: number;
  /** Event-loop utilization (0..1) over one interval below which the process counts as idle. */
  idleUtilization: number;
  /** Growth of the heap plus ArrayBuffers since the last full collection that makes one worth it (`[lafsd] idle_collect`). */
  growthBytes: number;
  /** Growth of the heap alone since the last full collection that makes one worth it while busy. */
  busyGrowthBytes: number;
}

export const DEFAULT_IDLE_COLLECTION: IdleCollectionOptions = {
  intervalMs: 1000,
  idleUtilization: 0.02,
  growthBytes: 16 * 1024 * 1024,
  busyGrowthBytes: 32 * 1024 * 1024,
};

/** Heap and ArrayBuffer bytes in use: what a full collection can give back. */
export function collectableBytes(m: NodeJS.MemoryUsage): number {
  return m.heapUsed + m.arrayBuffers;
}

/** Whether enough has piled up since the last collection to make one worth it. */
function hasGrown(bytesNow: number, bytesAfterLast: number, opts: IdleCollectionOptions): boolean {
  return bytesNow - bytesAfterLast >= opts.growthBytes;
}

/** Whether to collect now: the last interval was idle and enough has piled up since the last collection. */
export function shouldCollect(utilization: number, bytesNow: number, bytesAfterLast: number, opts: IdleCollectionOptions): boolean {
  return utilization < opts.idleUtilization && hasGrown(bytesNow, bytesAfterLast, opts);
}

export interface IdleCollection {
  stop(): void;
  /**
   * The last open session has ended. What the sessions left is garbage now, so it is collected
   * at once if enough piled up, without compacting (see startIdleCollection), rather than at the
   * next idle interval: a server that goes from one burst straight into the next (8 clients'
   * small files, then 8 big uploads) has none, and carried the first burst's garbage into the
   * second. At most one such collection per interval.
   */
  sessionsEnded(): void;
}

/** Pools of memory kept for reuse, asked to let it go when the process goes idle. */
export interface IdleReleasable {
  /** Drops what the pool keeps; returns the bytes that became garbage. */
  dropIdle(): number;
}

const pools = new Set<IdleReleasable>();

/**
 * Registers a pool that lets go of what it keeps when the process is idle: its bytes count
 * toward the threshold of that interval's collection, which frees them. Without this they would
 * wait for V8, which does not collect a process that allocates nothing. Returns the unregister.
 */
export function releaseWhenIdle(pool: IdleReleasable): () => void {
  pools.add(pool);
  return () => pools.delete(pool);
}

export interface IdleCollectionEvents {
  /**
   * Each collection: why (`idle`, an idle interval; `ended`, the last session ended; `busy`, the
   * heap grew by busyGrowthBytes in busy intervals), its duration, and the collectable bytes
   * before and after.
   */
  collected(c: { why: 'idle' | 'ended' | 'busy'; ms: number; before: number; after: number }): void;
  /** Each hand-back of free memory after a collection: its duration, whether any was given back, and the RSS before and after. */
  released?(r: { ms: number; gave: boolean; rssBefore: number; rssAfter: number }): void;
}

/**
 * Starts watching; `release` hands free memory back to the kernel (the malloc_trim addon by default).
 *
 * Only collections in idle intervals compact. A compacting collection copies every survivor to
 * new pages before it frees the old ones, so when the last session ends (the process still
 * holding the burst's buffers), it raised that moment's peak above the burst's: 8 × 256 MiB
 * uploads, three rounds, peaked at 160–172 MiB with it and 150–160 without (measured, see
 * bench/README.md). So that collection does not compact, and the next idle interval does,
 * whatever piled up since, which is what gives the pages back. (On Node 22 and later every
 * collection compacts: V8 12 keeps freed pages resident otherwise; see util/scavenge.ts.)
 */
export function startIdleCollection(
  events: IdleCollectionEvents,
  opts: IdleCollectionOptions = DEFAULT_IDLE_COLLECTION,
  release: () => boolean = releaseFreedMemory,
): IdleCollection {
  const initial = process.memoryUsage();
  /** What the last full collection left: heap and ArrayBuffers (idle and ended), heap alone (busy). */
  let afterLast = collectableBytes(initial);
  let heapAfterLast = initial.heapUsed;
  let last: EventLoopUtilization = performance.eventLoopUtilization();
  let releaseDue = false;
  let compactDue = false;
  let lastEndedAt = -Infinity;
  let endedCheck: NodeJS.Immediate | undefined;
  /** Memory in use now, read once; a collection of its own by V8 lowers the marks to beat. */
  const usageNow = (): NodeJS.MemoryUsage => {
    const m = process.memoryUsage();
    afterLast = Math.min(afterLast, collectableBytes(m));
    heapAfterLast = Math.min(heapAfterLast, m.heapUsed);
    return m;
  };
  const collect = (why: 'idle' | 'ended' | 'busy', before: number): void => {
    const compact = why === 'idle';
    const t0 = performance.now();
    collectAll(compact);
    const t1 = performance.now();
    if (why === 'ended') lastEndedAt = t1;
    const m = process.memoryUsage();
    afterLast = collectableBytes(m);
    heapAfterLast = m.heapUsed;
    compactDue = !compact;
    // malloc_trim gives back whole pages only: after a compacting collection.
    releaseDue = compact;
    // The collection itself must not count as work in the next interval.
    last = performance.eventLoopUtilization();
    events.collected({ why, ms: t1 - t0, before, after: afterLast });
  };
  const timer = setInterval(() => {
    const now = performance.eventLoopUtilization();
    const { utilization } = performance.eventLoopUtilization(now, last);
    last = now;
    const idle = utilization < opts.idleUtilization;
    // The hand-back waits for an idle interval, however many busy ones come first: giving up
    // after one lost it for good whenever the interval after the collection was not idle, as on
    // a loaded machine, where V8's own tasks after a compaction can pass the idle mark (CI).
    if (releaseDue && idle) {
      releaseDue = false;
      const rssBefore = process.memoryUsage.rss();
      const t0 = performance.now();
      const gave = release();
      const ms = performance.now() - t0;
      last = performance.eventLoopUtilization();
      events.released?.({ ms, gave, rssBefore, rssAfter: process.memoryUsage.rss() });
      return;
    }
    // A long burst of small requests (8 clients removing 1,000 files each) promotes its requests'
    // objects, and with --initial-old-space-size=128 V8 lets them fill the old generation toward
    // 128 MB before it collects: the heap grew 56 -> 95 MB committed, RSS 115 -> 155 MiB. So a
    // busy interval collects (without compacting) once the heap grew by busyGrowthBytes since
    // the last full collection, V8's own included: 10-20 ms at most once a second. With it,
    // that burst peaked at 133-137 MiB against 157-181 (bench/README.md, tenth session).
    const m = usageNow();
    if (!idle && m.heapUsed - heapAfterLast >= opts.busyGrowthBytes) return collect('busy', collectableBytes(m));
    let dropped = 0;
    if (idle) for (const pool of pools) dropped += pool.dropIdle();
    const before = collectableBytes(m);
    // Dropped pools did not change `before` (their bytes are still allocated) but are garbage now.
    if ((idle && compactDue) || shouldCollect(utilization, before + dropped, afterLast, opts)) collect('idle', before);
  }, opts.intervalMs);
  timer.unref();
  return {
    stop: () => {
      clearInterval(timer);
      if (endedCheck) clearImmediate(endedCheck);
    },
    sessionsEnded: () => {
      // After the closing session's own callbacks, not inside them.
      endedCheck ??= setImmediate(() => {
        endedCheck = undefined;
        // A client that connects for each file ends its last session each time.
        if (performance.now() - lastEndedAt < opts.intervalMs) return;
        const before = collectableBytes(usageNow());
        // The pools stay: the next session would fill them again at once.
        if (hasGrown(before, afterLast, opts)) collect('ended', before);
      });
    },
  };
}
