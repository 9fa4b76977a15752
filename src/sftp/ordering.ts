// Ordering of requests that name paths. Clients pipeline requests without waiting for replies
// (sshfs does not even wait for CLOSE before a RENAME, Tahoe #1059), and the SFTP drafts require
// results "as if sent one at a time" for requests on the same file. We keep it simple and safe:
// requests that only look (STAT, OPENDIR, a read-only OPEN) run concurrently with each other;
// a request that changes the namespace (MKDIR, RENAME, a writer's CLOSE, …) waits for every
// earlier path request, and every later one waits for it. READ/WRITE on handles bypass this: the
// vfs keeps them in order per handle, which is what bulk transfers need.

type Settled = Promise<void>;

const ignore = (): void => {};

export class PathOrder {
  /** Settles when the last change, and everything before it, has finished. */
  private lastChange: Settled = Promise.resolve();
  /** Lookups started since the last change. */
  private readonly lookups = new Set<Settled>();

  /** A request that only reads the namespace. */
  look<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.lastChange.then(fn);
    const settled = run.then(ignore, ignore);
    this.lookups.add(settled);
    void settled.then(() => this.lookups.delete(settled));
    return run;
  }

  /** A request that changes the namespace. */
  change<T>(fn: () => Promise<T>): Promise<T> {
    const before = this.lookups.size === 0 ? this.lastChange : Promise.all([this.lastChange, ...this.lookups]);
    const run = before.then(fn);
    this.lastChange = run.then(ignore, ignore);
    this.lookups.clear();
    return run;
  }
}
