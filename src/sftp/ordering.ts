// Ordering of requests that name paths. Clients pipeline requests without waiting for replies
// (sshfs does not even wait for CLOSE before a RENAME, Tahoe #1059), and the SFTP drafts require
// results "as if sent one at a time" for requests on the same file. A request waits for the
// earlier requests that touch an overlapping path (the same path, an ancestor or a descendant)
// when either of the two changes the namespace (MKDIR, RENAME, REMOVE, a writer's OPEN or CLOSE,
// …); requests that only look (STAT, OPENDIR, a read-only OPEN) run together. Requests on
// unrelated paths never wait for each other, so one slow commit (a big file written out of
// order, a slow backend) cannot stall the rest of the session (issue #10). READ/WRITE on
// handles bypass this: the vfs keeps them in order per handle, which is what transfers need.
import type { VPath } from '../vfs/index.js';

interface Pending {
  readonly paths: readonly VPath[];
  readonly change: boolean;
  readonly settled: Promise<void>;
}

const ignore = (): void => {};

/** One path is the other or lies below it (under the same root or cap). */
export function pathsOverlap(a: VPath, b: VPath): boolean {
  if (a.cap !== b.cap) return false;
  const n = Math.min(a.parts.length, b.parts.length);
  for (let i = 0; i < n; i++) if (a.parts[i] !== b.parts[i]) return false;
  return true;
}

function conflict(a: Pending, paths: readonly VPath[], change: boolean): boolean {
  if (!a.change && !change) return false;
  return a.paths.some((p) => paths.some((q) => pathsOverlap(p, q)));
}

export class PathOrder {
  /** Requests started and not settled yet, oldest first (bounded by the session's in-flight cap). */
  private readonly pending: Pending[] = [];

  /** A request that only reads the namespace at `paths`. */
  look<T>(paths: readonly VPath[], fn: () => Promise<T>): Promise<T> {
    return this.run(paths, false, fn);
  }

  /** A request that changes the namespace at `paths`. */
  change<T>(paths: readonly VPath[], fn: () => Promise<T>): Promise<T> {
    return this.run(paths, true, fn);
  }

  /** Requests waiting or running. */
  get size(): number {
    return this.pending.length;
  }

  private run<T>(paths: readonly VPath[], change: boolean, fn: () => Promise<T>): Promise<T> {
    const before = this.pending.filter((p) => conflict(p, paths, change)).map((p) => p.settled);
    const result = before.length === 0 ? fn() : Promise.all(before).then(fn);
    const entry: Pending = { paths, change, settled: result.then(ignore, ignore) };
    this.pending.push(entry);
    void entry.settled.then(() => this.pending.splice(this.pending.indexOf(entry), 1));
    return result;
  }
}
