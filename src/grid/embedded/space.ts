// Disk space of the embedded store: file data never takes the last `reserve` bytes of the
// store's filesystem, so directory changes (SQLite commits: deletes, renames, links) still
// succeed on a "full" disk and a user can make room by deleting (issue #10). Out-of-space
// errors from the filesystem or SQLite become GridError NO_SPACE, never "internal error".
//
// Why a threshold and not a preallocated reserve file: a file must be given back at the moment
// of need and taken again later, which races with other writers; refusing file data before the
// reserve is reached keeps the room available at all times. statfs is cheap but asynchronous,
// so it is re-read at most every REFRESH_MS and the bytes claimed since are subtracted, which
// keeps concurrent uploads of this process from overshooting together. A re-read forgets the
// claims made before it, the ones not written yet included: those are at most the segments in
// the sealer's hands (sealer.ts MAX_IN_FLIGHT, 4 MiB), far less than the reserve.
import { promises as fsp } from 'node:fs';
import { GridError } from '../errors.js';

const REFRESH_MS = 100;

export const NO_SPACE_MESSAGE = 'no space left on the store';

export interface SpaceFigures {
  totalBytes: number;
  usedBytes: number;
  /** Free to unprivileged users (statfs bavail), before the reserve is taken off. */
  freeBytes: number;
}

export class SpaceGuard {
  private free = 0;
  /** When the statfs that gave `free` started: what was written before then is in `free`. */
  private readAt = -Infinity;
  private claimedSince = 0;
  private refreshing: Promise<void> | undefined;

  constructor(
    private readonly dir: string,
    /** Bytes of the filesystem kept for the store's metadata. */
    readonly reserveBytes: number,
    private readonly statfs: (dir: string) => Promise<{ blocks: number; bfree: number; bavail: number; bsize: number }> = fsp.statfs,
  ) {}

  /** Current figures of the store's filesystem. */
  async figures(): Promise<SpaceFigures> {
    const s = await this.statfs(this.dir);
    return { totalBytes: s.blocks * s.bsize, usedBytes: (s.blocks - s.bfree) * s.bsize, freeBytes: s.bavail * s.bsize };
  }

  /** Bytes file data may still take: free space minus the reserve (never negative). */
  async available(): Promise<number> {
    await this.fresh(REFRESH_MS);
    return Math.max(0, this.free - this.claimedSince - this.reserveBytes);
  }

  /**
   * Called before `bytes` of file data are written: NO_SPACE when they would eat into the
   * reserve. Claims are counted until the next statfs shows them.
   */
  async claim(bytes: number): Promise<void> {
    await this.fresh(REFRESH_MS);
    if (!this.fits(bytes)) {
      // The claims counted since the last statfs may be of an upload that failed or was
      // deduplicated, and never written: a retry right after a failed upload was refused for
      // them. So a refusal always rests on a statfs made after the claim (cheap: only when full).
      await this.fresh(0);
      if (!this.fits(bytes)) throw new GridError('NO_SPACE', NO_SPACE_MESSAGE);
    }
    this.claimedSince += bytes;
  }

  private fits(bytes: number): boolean {
    return this.free - this.claimedSince - bytes >= this.reserveBytes;
  }

  /** Makes `free` come from a statfs started at most `maxAgeMs` ago (joining one under way). */
  private async fresh(maxAgeMs: number): Promise<void> {
    const wanted = performance.now() - maxAgeMs;
    while (this.readAt < wanted) {
      this.refreshing ??= this.read().finally(() => (this.refreshing = undefined));
      await this.refreshing;
    }
  }

  private async read(): Promise<void> {
    const startedAt = performance.now();
    const claimedBefore = this.claimedSince;
    const f = await this.figures();
    this.free = f.freeBytes;
    // Claims made while statfs ran may not be in its figures: they stay counted.
    this.claimedSince -= claimedBefore;
    this.readAt = startedAt;
  }
}

/** True for the ways a full disk shows up: ENOSPC/EDQUOT from the OS, SQLITE_FULL from SQLite. */
export function isOutOfSpace(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e && depth < 8; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (code === 'ENOSPC' || code === 'EDQUOT' || code === 'SQLITE_FULL') return true;
  }
  return false;
}

/** `err`, as NO_SPACE when it is a full disk. */
export function classifyStorageError(err: unknown): unknown {
  if (err instanceof GridError && err.code === 'NO_SPACE') return err;
  return isOutOfSpace(err) ? new GridError('NO_SPACE', NO_SPACE_MESSAGE, { cause: err }) : err;
}
