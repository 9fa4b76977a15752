// A full collection of the main thread's heap once the process has gone idle after work that
// left garbage behind (issue #11). `lafsd` starts Node with --initial-old-space-size=128 (a third
// less CPU per uploaded byte, src/cli/main.ts), so V8 leaves promoted garbage in the old
// generation until it nears 128 MB, and a long-running server kept each burst's garbage into
// the next: three rounds of 8 × 256 MiB SFTP uploads in one process peaked at 154, 175 and 204
// MiB (heapUsed 36 → 63 → 89 MB). With a full collection between the rounds (7–14 ms each,
// heapUsed 38 → 11 MB), they peaked at 165, 163 and 166. V8 collects when told idle only in
// embedders that tell it (browsers); Node does not, so this does, from event-loop utilization.
//
// After a collection, the next interval that is still idle hands glibc's free pages back to the
// kernel (util/malloc-trim.ts): the collection freed the Buffers, but free() alone returns only
// the top of glibc's heap. It waits an interval because V8 frees dead ArrayBuffers' memory on a
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
}

export const DEFAULT_IDLE_COLLECTION: IdleCollectionOptions = {
  intervalMs: 1000,
  idleUtilization: 0.02,
  growthBytes: 16 * 1024 * 1024,
};

/** Heap and ArrayBuffer bytes in use: what a full collection can give back. */
export function collectableBytes(m: NodeJS.MemoryUsage): number {
  return m.heapUsed + m.arrayBuffers;
}

/** Whether to collect now: the last interval was idle and enough has piled up since the last collection. */
export function shouldCollect(utilization: number, bytesNow: number, bytesAfterLast: number, opts: IdleCollectionOptions): boolean {
  return utilization < opts.idleUtilization && bytesNow - bytesAfterLast >= opts.growthBytes;
}

export interface IdleCollection {
  stop(): void;
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
  /** Each collection's duration and the collectable bytes before and after. */
  collected(c: { ms: number; before: number; after: number }): void;
  /** Each hand-back of free memory after a collection: its duration, whether any was given back, and the RSS before and after. */
  released?(r: { ms: number; gave: boolean; rssBefore: number; rssAfter: number }): void;
}

/** Starts watching; `release` hands free memory back to the kernel (the malloc_trim addon by default). */
export function startIdleCollection(
  events: IdleCollectionEvents,
  opts: IdleCollectionOptions = DEFAULT_IDLE_COLLECTION,
  release: () => boolean = releaseFreedMemory,
): IdleCollection {
  let afterLast = collectableBytes(process.memoryUsage());
  let last: EventLoopUtilization = performance.eventLoopUtilization();
  let releaseDue = false;
  const timer = setInterval(() => {
    const now = performance.eventLoopUtilization();
    const { utilization } = performance.eventLoopUtilization(now, last);
    last = now;
    const idle = utilization < opts.idleUtilization;
    // Work that came in since the collection keeps using what was freed; the next one will do.
    if (releaseDue) {
      releaseDue = false;
      if (idle) {
        const rssBefore = process.memoryUsage.rss();
        const t0 = performance.now();
        const gave = release();
        const ms = performance.now() - t0;
        last = performance.eventLoopUtilization();
        events.released?.({ ms, gave, rssBefore, rssAfter: process.memoryUsage.rss() });
        return;
      }
    }
    let dropped = 0;
    if (idle) for (const pool of pools) dropped += pool.dropIdle();
    const before = collectableBytes(process.memoryUsage());
    // A collection of its own by V8 lowers the mark to beat.
    if (before < afterLast) afterLast = before;
    // Dropped pools did not change `before` (their bytes are still allocated) but are garbage now.
    if (!shouldCollect(utilization, before + dropped, afterLast, opts)) return;
    const t0 = performance.now();
    collectAll();
    const ms = performance.now() - t0;
    afterLast = collectableBytes(process.memoryUsage());
    releaseDue = true;
    // The collection itself must not count as work in the next interval.
    last = performance.eventLoopUtilization();
    events.collected({ ms, before, after: afterLast });
  }, opts.intervalMs);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
