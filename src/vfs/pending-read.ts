// A read-only open of a name whose only version is a file still being written (no link yet).
// sshfs closes a file asynchronously: after `cp a mnt/ && cat mnt/a`, its OPEN of `a` can reach
// us before the CLOSE of the copy. Tahoe answered "no such file"; a local filesystem (OpenSSH's
// sftp-server) opens the file. So the open succeeds at once, and the handle's first request
// waits for that writer to close (its CLOSE is not held up: path requests wait for this OPEN,
// which is done, and handle requests never wait for path requests), then reads what it linked.
// A writer that stays open longer than the wait makes the request fail, never hang.
import type { VfsAttrs } from './attrs.js';
import { VfsError } from './errors.js';
import { notOpenedForWriting, type SetAttrs, type VfsFile } from './handles.js';
import type { OpenWriter } from './openfiles.js';
import { withTimeout } from '../util/timeout.js';

/** How long a read of a file still being written waits for its writer to close. */
export const PENDING_WRITER_WAIT_MS = 5000;

export class PendingReadHandle implements VfsFile {
  readonly readable = true;
  readonly writable = false;
  private opened: Promise<VfsFile> | undefined;
  private closed = false;

  constructor(
    private readonly writer: OpenWriter,
    /** Opens the name again once the writer has closed (the link it made, if any). */
    private readonly reopen: () => Promise<VfsFile>,
    private readonly waitMs = PENDING_WRITER_WAIT_MS,
  ) {}

  get sourceCap(): string | undefined {
    return undefined;
  }

  private file(): Promise<VfsFile> {
    if (this.closed) return Promise.reject(new VfsError('CLOSED', 'file handle is closed'));
    this.opened ??= this.waitForWriter().then(() => this.reopen());
    return this.opened;
  }

  private waitForWriter(): Promise<void> {
    return withTimeout(this.writer.closed(), this.waitMs, () =>
      new VfsError('FAILURE', 'the file is still being written by another handle; open it again once that one is closed'));
  }

  async read(offset: number, length: number): Promise<Buffer> {
    return (await this.file()).read(offset, length);
  }

  async stat(): Promise<VfsAttrs> {
    return (await this.file()).stat();
  }

  async write(): Promise<void> {
    throw notOpenedForWriting();
  }

  async setAttrs(_attrs: SetAttrs): Promise<void> {
    throw notOpenedForWriting();
  }

  async sync(): Promise<void> {}

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const opened = this.opened;
    if (opened) await opened.then((f) => f.close(), () => {});
  }

  abandon(): Promise<void> {
    return this.close();
  }
}
