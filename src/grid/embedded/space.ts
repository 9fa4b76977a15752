// Disk space of the embedded store: file data never takes the last `reserve` bytes of the
// store's filesystem, so directory changes (SQLite commits: deletes, renames, links) still
// succeed on a "full" disk and a user can make room by deleting (issue #10). Out-of-space
// errors from the filesystem or SQLite become GridError NO_SPACE, never "internal error".
//
// Why a threshold and not a preallocated reserve file: a file must be given back at the moment
// of need and taken again later, which races with other writers; refusing file data before the
// reserve is reached keeps the room available at all times. statfs is cheap but asynchronous,
// so it is re-read at most every REFRESH_MS and the bytes claimed since are subtracted, which
// keeps concurrent uploads of this process from overshooting together.
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
  private readAt = -Infinity;
  private claimedSince = 0;
  private refreshing: Promise<void> | undefined;

  constructor(
    private readonly dir: string,
    /** Bytes of the filesystem kept for the store's metadata. */
    readonly reserveBytes: number,
  ) {}

  /** Current figures of the store's filesystem. */
  async figures(): Promise<SpaceFigures> {
    const s = await fsp.statfs(this.dir);
    return { totalBytes: s.blocks * s.bsize, usedBytes: (s.blocks - s.bfree) * s.bsize, freeBytes: s.bavail * s.bsize };
  }

  /** Bytes file data may still take: free space minus the reserve (never negative). */
  async available(): Promise<number> {
    await this.fresh();
    return Math.max(0, this.free - this.claimedSince - this.reserveBytes);
  }

  /**
   * Called before `bytes` of file data are written: NO_SPACE when they would eat into the
   * reserve. Claims are counted until the next statfs shows them.
   */
  async claim(bytes: number): Promise<void> {
    await this.fresh();
    if (this.free - this.claimedSince - bytes < this.reserveBytes) throw new GridError('NO_SPACE', NO_SPACE_MESSAGE);
    this.claimedSince += bytes;
  }

  private fresh(): Promise<void> {
    if (performance.now() - this.readAt < REFRESH_MS) return Promise.resolve();
    this.refreshing ??= this.figures()
      .then((f) => {
        this.free = f.freeBytes;
        this.claimedSince = 0;
        this.readAt = performance.now();
      })
      .finally(() => (this.refreshing = undefined));
    return this.refreshing;
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
