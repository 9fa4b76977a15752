// Group commit for the store's SQLite log (issue #11). Every change is acknowledged only once
// it is on disk, as before, but the fsync no longer runs inside SQLite's commit on the event
// loop (synchronous = FULL blocked it for the whole fsync, for every small file). Commits run
// with synchronous = NORMAL (in WAL mode: written to the log, not synced), then wait here for
// an fdatasync of the log that started after they committed. Commits that finish while one
// sync runs share the next one, so 8 sessions closing files at once pay for about one fsync,
// and the event loop keeps serving requests meanwhile. A log synced after a commit holds that
// commit: this is what synchronous = FULL does in WAL mode, batched.
import { promises as fsp } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';

export class GroupSync {
  private file: FileHandle | undefined;
  /** The sync in progress. */
  private running: Promise<void> | undefined;
  /** The sync that starts when the running one ends, shared by everyone who asked meanwhile. */
  private queued: Promise<void> | undefined;
  /** Syncs done so far (for tests and measurements). */
  syncs = 0;

  constructor(private readonly logPath: string) {}

  /** Resolves once everything committed before this call is on disk. */
  durable(): Promise<void> {
    if (!this.running) return this.start();
    this.queued ??= this.running.then(
      () => this.start(),
      () => this.start(),
    );
    return this.queued;
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
