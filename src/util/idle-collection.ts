// A full collection of the main thread's heap once the process has gone idle after work that
// left garbage behind (issue #11). `lafsd` starts Node with --initial-old-space-size=128 (a third
// less CPU per uploaded byte, src/cli/main.ts), so V8 leaves promoted garbage in the old
// generation until it nears 128 MB, and a long-running server kept each burst's garbage into
// the next: three rounds of 8 × 256 MiB SFTP uploads in one process peaked at 154, 175 and 204
// MiB (heapUsed 36 → 63 → 89 MB). With a full collection between the rounds (7–14 ms each,
// heapUsed 38 → 11 MB), they peaked at 165, 163 and 166. V8 collects when told idle only in
// embedders that tell it (browsers); Node does not, so this does, from event-loop utilization.
import { performance, type EventLoopUtilization } from 'node:perf_hooks';
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

/** Starts watching; `onCollected` hears each collection's duration and the bytes before and after. */
export function startIdleCollection(
  onCollected: (c: { ms: number; before: number; after: number }) => void,
  opts: IdleCollectionOptions = DEFAULT_IDLE_COLLECTION,
): IdleCollection {
  let afterLast = collectableBytes(process.memoryUsage());
  let last: EventLoopUtilization = performance.eventLoopUtilization();
  const timer = setInterval(() => {
    const now = performance.eventLoopUtilization();
    const { utilization } = performance.eventLoopUtilization(now, last);
    last = now;
    const before = collectableBytes(process.memoryUsage());
    // A collection of its own by V8 lowers the mark to beat.
    if (before < afterLast) afterLast = before;
    if (!shouldCollect(utilization, before, afterLast, opts)) return;
    const t0 = performance.now();
    collectAll();
    const ms = performance.now() - t0;
    afterLast = collectableBytes(process.memoryUsage());
    // The collection itself must not count as work in the next interval.
    last = performance.eventLoopUtilization();
    onCollected({ ms, before, after: afterLast });
  }, opts.intervalMs);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
