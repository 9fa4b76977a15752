// An open answered at once whose real open waits until earlier writers of the name have closed.
// sshfs closes files asynchronously: after `echo a > f; echo b >> f; cp x g; cat g`, the OPEN
// for appending to f (or for reading g) can reach us before the CLOSE of the write before it,
// which has linked nothing yet. Opening at once would miss that writer's bytes (no such file,
// or an append onto the version before it). Waiting inside the OPEN deadlocks: sshfs sends the
// earlier CLOSE only once the OPEN is answered. So the OPEN succeeds at once, and the handle's
// first request waits for those writers (their CLOSE is not held up: handle requests never wait
// for path requests), then opens what they linked. The wait is bounded: a writer that stays open
// longer lets the open go ahead, and the real open decides what that means (session.ts).
import type { VfsAttrs } from './attrs.js';
import { VfsError } from './errors.js';
import type { SetAttrs, VfsFile } from './handles.js';
import { resolvable, waitAtMost } from '../util/timeout.js';

/** How long a deferred open waits for the earlier writers to close. */
export const PENDING_WRITER_WAIT_MS = 5000;

export class DeferredOpenHandle implements VfsFile {
  private opened: Promise<VfsFile> | undefined;
  /** The real handle, once it is open (while it is not, this one is `waiting`). */
  private real: VfsFile | undefined;
  private isClosed = false;
  /** Its path was removed or its client went away: it commits nothing, and never opens if it had not yet. */
  private abandoned = false;
  private readonly ended = resolvable();
  /** The earlier writers have all closed. */
  private earlierClosed = false;

  constructor(
    readonly readable: boolean,
    readonly writable: boolean,
    /** Resolves once the earlier writers have closed. */
    private readonly earlier: Promise<unknown>,
    /** The real open, once they have closed or the wait is over. */
    private readonly open: () => Promise<VfsFile>,
    private readonly waitMs = PENDING_WRITER_WAIT_MS,
  ) {
    const done = (): void => {
      this.earlierClosed = true;
    };
    earlier.then(done, done);
  }

  get sourceCap(): string | undefined {
    return undefined;
  }

  /** Resolves once this handle is closed or abandoned (later opens of the name wait for it). */
  closed(): Promise<void> {
    return this.ended.promise;
  }

  /** True while the real open has not happened yet and still can. */
  get waiting(): boolean {
    return !this.real && !this.isClosed && !this.abandoned;
  }

  private file(): Promise<VfsFile> {
    if (this.isClosed || this.abandoned) return Promise.reject(new VfsError('CLOSED', 'file handle is closed'));
    return this.realOpen();
  }

  private realOpen(): Promise<VfsFile> {
    this.opened ??= waitAtMost(this.earlier, this.waitMs)
      .then(() => this.open())
      .then((file) => (this.real = file));
    return this.opened;
  }

  // Each request attaches to the same promise, so they reach the real handle in the order issued.
  async read(offset: number, length: number): Promise<Buffer> {
    return (await this.file()).read(offset, length);
  }

  async write(offset: number, data: Buffer | readonly Buffer[]): Promise<void> {
    return (await this.file()).write(offset, data);
  }

  async stat(): Promise<VfsAttrs> {
    return (await this.file()).stat();
  }

  async setAttrs(attrs: SetAttrs): Promise<void> {
    return (await this.file()).setAttrs(attrs);
  }

  async sync(): Promise<void> {
    return (await this.file()).sync();
  }

  /**
   * A writer that got no request still opens and closes once the earlier writers have closed
   * (an OPEN with CREAT alone commits: `: >> f` creates f), and its close reports what the open
   * or the commit met. If they are still open, it has nothing to add to what they will link,
   * and waiting would deadlock: a writer's CLOSE is ordered with the path's requests, so the
   * earlier CLOSE, arriving after this one (sshfs sends closes from several threads), would wait
   * for it. A reader that never read has nothing to do.
   */
  async close(): Promise<void> {
    if (this.isClosed) return;
    this.isClosed = true;
    try {
      if (this.abandoned) return;
      if (this.writable && (this.opened || this.earlierClosed)) {
        await (await this.realOpen()).close();
      } else if (this.opened) {
        await this.opened.then((f) => f.close(), () => {});
      }
    } finally {
      this.ended.resolve();
    }
  }

  async abandon(): Promise<void> {
    if (this.isClosed || this.abandoned) return;
    this.abandoned = true;
    try {
      if (this.opened) await this.opened.then((f) => f.abandon(), () => {});
    } finally {
      this.ended.resolve();
    }
  }
}
