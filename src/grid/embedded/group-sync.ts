// Group commit for the store's SQLite log (issue #11). Every change is acknowledged only once
// it is on disk, as before, but the fsync no longer runs inside SQLite's commit on the event
// loop (synchronous = FULL blocked it for the whole fsync, for every small file). Commits run
// with synchronous = NORMAL (in WAL mode: written to the log, not synced), then wait here for
// an fdatasync of the log that started after they committed. Commits that finish while one
// sync runs share the next one, so 8 sessions closing files at once pay for about one fsync,
// and the event loop keeps serving requests meanwhile. A log synced after a commit holds that
// commit: this is what synchronous = FULL does in WAL mode, batched.
//
// A commit with nobody to share its sync with (no sync running, and `alone()` says nothing else
// is under way: no upload open, no other change running, none by another session lately) syncs
// on the event loop instead, as long as the disk's syncs are fast (INLINE_SYNC_LIMIT_MS).
// Handing a sync to libuv's pool and being woken when it is done costs more than the sync itself
// on a fast disk: 290–320 µs a commit through the pool against 200–240 µs inline (median) on
// this VM's disk; a lone OpenSSH client's 1,000 small uploads took ~7% less time, its removals
// ~10% (bench/README.md, nineteenth session). When others are about to commit, the pool keeps
// the loop free and their commits share one sync: an inline sync for everyone made 8 concurrent
// small-file clients (eleventh session) and 8 concurrent removers (nineteenth) ~25% slower.
import { fdatasyncSync, promises as fsp } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';

/**
 * The longest an inline sync may take. A disk that is slower to sync (a busy or networked one:
 * 10–50 ms) would hold up other sessions' requests and new logins: after a sync of d ms over the
 * limit, commits go through the pool for INLINE_SYNC_BACKOFF × d ms, then one inline sync tries
 * again, so slow inline syncs block the loop for at most ~1% of the time. Proportional, because
 * this VM's disk, 0.24 ms a sync at the median, has a 3–5 ms one every few thousand: a fixed
 * back-off of 5 s after each sent two thirds of a lone client's commits to the pool.
 */
export const INLINE_SYNC_LIMIT_MS = 2;
export const INLINE_SYNC_BACKOFF = 100;

export interface GroupSyncOptions {
  /** True when no other work could share this commit's sync (default: never, always the pool). */
  alone?: () => boolean;
  /** The longest an inline sync may take before the pool takes over again (INLINE_SYNC_LIMIT_MS). */
  inlineLimitMs?: number;
  /** A monotonic clock in ms (tests). */
  now?: () => number;
}

export class GroupSync {
  private file: FileHandle | undefined;
  /** The sync in progress. */
  private running: Promise<void> | undefined;
  /** The sync that starts when the running one ends, shared by everyone who asked meanwhile. */
  private queued: Promise<void> | undefined;
  /** Inline syncs wait until this time after one that was slow or failed. */
  private inlineAfter = 0;
  private readonly alone: () => boolean;
  private readonly inlineLimitMs: number;
  private readonly now: () => number;
  /** Syncs done so far, and how many of them ran on the event loop (metrics, tests). */
  syncs = 0;
  inlineSyncs = 0;

  constructor(
    private readonly logPath: string,
    options: GroupSyncOptions = {},
  ) {
    this.alone = options.alone ?? (() => false);
    this.inlineLimitMs = options.inlineLimitMs ?? INLINE_SYNC_LIMIT_MS;
    this.now = options.now ?? (() => performance.now());
  }

  /** Resolves once everything committed before this call is on disk. */
  durable(): Promise<void> {
    if (!this.running) {
      if (this.file && this.now() >= this.inlineAfter && this.alone()) return this.syncInline(this.file);
      return this.start();
    }
    this.queued ??= this.running.then(
      () => this.start(),
      () => this.start(),
    );
    return this.queued;
  }

  private syncInline(file: FileHandle): Promise<void> {
    const started = this.now();
    try {
      fdatasyncSync(file.fd);
    } catch (err) {
      // The pool's tries report the same error, and an inline one tries again a second later.
      this.inlineAfter = this.now() + 1000;
      return Promise.reject(err as Error);
    }
    const ended = this.now();
    const took = ended - started;
    if (took > this.inlineLimitMs) this.inlineAfter = ended + INLINE_SYNC_BACKOFF * took;
    this.syncs++;
    this.inlineSyncs++;
    return Promise.resolve();
  }

  private start(): Promise<void> {
    this.queued = undefined;
    const run = this.sync().finally(() => {
      if (this.running === run) this.running = undefined;
    });
    this.running = run;
    return run;
  }

  private async sync(): Promise<void> {
    this.file ??= await fsp.open(this.logPath, 'r+');
    await this.file.datasync();
    this.syncs++;
  }

  async close(): Promise<void> {
    await this.running?.catch(() => {});
    await this.queued?.catch(() => {});
    const f = this.file;
    this.file = undefined;
    await f?.close();
  }
}
