// Open files. A ReadHandle reads one snapshot of a file. A WriteHandle collects the new content
// (content.ts) and, on close or fsync, commits it: a new immutable file relinked at its name,
// or a new version of the mutable file it was opened on. Operations on one handle run in the
// order they were issued, however many are in flight.
import { parseCap } from '../caps/index.js';
import type { Grid, FileReader, Metadata, MetadataPatch } from '../grid/index.js';
import { pendingFileAttrs, type VfsAttrs } from './attrs.js';
import { WriteContent } from './content.js';
import { VfsError, toVfsError } from './errors.js';
import type { WriteBudget } from './limits.js';
import type { OpenFiles, OpenWriter } from './openfiles.js';
import { resolvable } from '../util/timeout.js';

/** Attribute changes a client asks for (SFTP SETSTAT/FSETSTAT, FTP SITE CHMOD / MFMT). */
export interface SetAttrs {
  size?: number;
  permissions?: number;
  mtime?: number;
  atime?: number;
}

export interface VfsFile {
  read(offset: number, length: number): Promise<Buffer>;
  /** Writes `data` at `offset`; pieces (a request that arrived in parts) land one after the other. */
  write(offset: number, data: Buffer | readonly Buffer[]): Promise<void>;
  stat(): Promise<VfsAttrs>;
  setAttrs(attrs: SetAttrs): Promise<void>;
  /** Commits what was written so far (fsync@openssh.com); the handle stays open. */
  sync(): Promise<void>;
  /** Commits (writers) and releases the handle; a second close is a no-op. */
  close(): Promise<void>;
  /** Its path was removed or its client went away: commit nothing (close() still releases it). */
  abandon(): Promise<void>;
  /** The cap of the unchanged file this handle reads, if it is one (copy-data relinks it). */
  readonly sourceCap: string | undefined;
  readonly readable: boolean;
  readonly writable: boolean;
}

/** Metadata changes implied by attributes: permissions set or clear `no-write`; times are kept. */
export function attrsToPatch(attrs: SetAttrs): MetadataPatch {
  const patch: MetadataPatch = {};
  if (attrs.permissions !== undefined) patch['no-write'] = (attrs.permissions & 0o200) === 0 ? true : null;
  if (attrs.mtime !== undefined) patch.mtime = attrs.mtime;
  return patch;
}

/**
 * What every handle opened for reading only shares: writes refused, and the bytes read and the
 * first read error counted for one line at close.
 */
export abstract class ReadOnlyHandle implements VfsFile {
  readonly readable = true;
  readonly writable = false;
  private closed = false;
  private readonly openedAt = Date.now();
  /** Bytes handed to the client, and the first read error, for `onClose`. */
  private sent = 0;
  private failure: unknown;

  constructor(
    /** Called once when the handle closes (logging, metrics): bytes read, ms open, first error. */
    private readonly onClose?: (bytes: number, ms: number, error: unknown) => void,
  ) {}

  abstract readonly sourceCap: string | undefined;
  protected abstract readBytes(offset: number, length: number): Promise<Buffer>;
  protected abstract attrs(): Promise<VfsAttrs>;
  /** Lets go of what the handle read from (the handle is closed already). */
  protected abstract release(): Promise<void>;

  protected check(): void {
    if (this.closed) throw new VfsError('CLOSED', 'file handle is closed');
  }

  async read(offset: number, length: number): Promise<Buffer> {
    this.check();
    try {
      const data = await this.readBytes(offset, length);
      this.sent += data.length;
      return data;
    } catch (err) {
      this.failure ??= err;
      throw toVfsError(err);
    }
  }

  async stat(): Promise<VfsAttrs> {
    this.check();
    return this.attrs();
  }

  async write(): Promise<void> {
    this.check();
    throw notOpenedForWriting();
  }

  async setAttrs(): Promise<void> {
    this.check();
    throw notOpenedForWriting();
  }

  async sync(): Promise<void> {
    this.check();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.release().catch(() => {});
    this.onClose?.(this.sent, Date.now() - this.openedAt, this.failure);
  }

  abandon(): Promise<void> {
    return this.close();
  }
}

/** A reader of one snapshot of a file. */
export class ReadHandle extends ReadOnlyHandle {
  constructor(
    private readonly reader: FileReader,
    private readonly fixedAttrs: VfsAttrs,
    readonly sourceCap: string | undefined,
    onClose?: (bytes: number, ms: number, error: unknown) => void,
  ) {
    super(onClose);
  }

  protected readBytes(offset: number, length: number): Promise<Buffer> {
    return this.reader.read(offset, length);
  }

  protected async attrs(): Promise<VfsAttrs> {
    return this.fixedAttrs;
  }

  protected release(): Promise<void> {
    return this.reader.close();
  }
}

/** Where a writer's content goes when committed. */
export type WriteTarget =
  | {
      kind: 'link';
      dirCap: string;
      dirReadCap: string;
      name: string;
      /** Set when the name held a writable mutable file at open: commits publish a new version. */
      mutableWriteCap?: string;
    }
  | { kind: 'mutable-cap'; writeCap: string };

export interface WriteHandleOptions {
  grid: Grid;
  openFiles: OpenFiles;
  target: WriteTarget;
  content: WriteContent;
  /** The size and quota limits, checked before each change of size (limits.ts). */
  budget: WriteBudget;
  readable: boolean;
  append: boolean;
  /** Tahoe's has_changed at open: CREAT or TRUNC without EXCL means close must commit. */
  changed: boolean;
  /** Attributes shown by fstat before the first commit (existing file), else a new file's. */
  initialAttrs?: VfsAttrs;
  /**
   * Called after each commit with its outcome (logging, metrics): the committed size, `error`
   * when it failed, and the bytes the client wrote since the previous commit.
   */
  onCommit?: (bytes: number, ms: number, error: unknown, received: number) => void;
}

/** Current user metadata of a link, without Tahoe's own block. */
function userPart(metadata: Metadata | undefined): Metadata {
  const { tahoe: _t, ...user } = metadata ?? {};
  return user;
}

export class WriteHandle implements VfsFile, OpenWriter {
  readonly writable = true;
  readonly readable: boolean;
  readonly openedAt = Math.floor(Date.now() / 1000);
  private target: WriteTarget;
  private readonly content: WriteContent;
  private readonly budget: WriteBudget;
  private changed: boolean;
  private patch: MetadataPatch = {};
  private state: 'open' | 'closing' | 'closed' = 'open';
  /** Removed from the namespace (its path was removed, or the client went away): commit nothing. */
  private abandoned = false;
  /**
   * The first WRITE that failed (quota, full disk, …): the content lacks bytes the client sent,
   * so it is never committed. Linking it would replace a good file with a truncated one that
   * clients which ignore write errors (paramiko's pipelined put) would never notice.
   */
  private lostWrite: VfsError | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private committing?: Promise<void>;
  /** Resolved when the handle is closed (its commit over) or abandoned: live-read.ts, deferred-open.ts. */
  private readonly ended = resolvable();
  /** Bytes the client wrote since the last commit. */
  private received = 0;

  constructor(private readonly opts: WriteHandleOptions) {
    this.target = opts.target;
    this.content = opts.content;
    this.budget = opts.budget;
    this.readable = opts.readable;
    this.changed = opts.changed;
    if (this.target.kind === 'link') opts.openFiles.add(this.target.dirReadCap, this.target.name, this);
  }

  get currentSize(): number {
    return this.content.size;
  }

  get sourceCap(): string | undefined {
    return undefined;
  }

  /** Runs `op` after every operation issued before it. */
  private enqueue<T>(op: () => Promise<T>): Promise<T> {
    const run = this.queue.then(op, op);
    this.queue = run.catch(() => {});
    return run.catch((err) => {
      throw toVfsError(err);
    });
  }

  private checkOpen(): void {
    if (this.state === 'closed' || this.state === 'closing') throw new VfsError('CLOSED', 'file handle is closed');
  }

  async read(offset: number, length: number): Promise<Buffer> {
    this.checkOpen();
    if (!this.readable) throw new VfsError('PERMISSION_DENIED', 'file handle was not opened for reading');
    return this.enqueue(() => this.readContent(offset, length));
  }

  private async readContent(offset: number, length: number): Promise<Buffer> {
    // Bytes the client wrote are missing (lostWrite): no read pretends otherwise.
    if (this.lostWrite) throw this.lostWrite;
    return this.content.read(offset, length);
  }

  /**
   * A read for another handle of the same session (live-read.ts): what this writer holds now,
   * in order with its writes. Undefined once it is closing or abandoned: its content is going.
   */
  readLive(offset: number, length: number): Promise<Buffer> | undefined {
    if (this.state !== 'open' || this.abandoned) return undefined;
    return this.enqueue(() => this.readContent(offset, length));
  }

  /** The attributes fstat shows now, for another handle of the same session (as readLive). */
  statLive(): Promise<VfsAttrs> | undefined {
    if (this.state !== 'open' || this.abandoned) return undefined;
    return this.stat();
  }

  async write(offset: number, data: Buffer | readonly Buffer[]): Promise<void> {
    this.checkOpen();
    // One queued operation for all pieces: each queued operation keeps its promises and closures
    // alive until its turn, long enough to be promoted. With one per 32 KiB piece, 8 uploads at
    // once left 60-70 MB of such garbage in the old generation; with one per WRITE, ~30.
    const pieces = Buffer.isBuffer(data) ? [data] : data;
    let length = 0;
    for (const piece of pieces) length += piece.length;
    return this.enqueue(async () => {
      // The file can no longer be saved: a later write fails at once and holds none of its
      // bytes. (It used to wait in memory as out of order behind the lost one, answered OK.)
      if (this.lostWrite) throw this.lostWrite;
      try {
        let at = this.opts.append ? this.content.size : offset;
        await this.budget.grow(this.content.size, Math.max(this.content.size, at + length));
        this.changed = true;
        for (const piece of pieces) {
          await this.content.write(at, piece);
          at += piece.length;
          this.received += piece.length;
        }
      } catch (err) {
        this.lostWrite = toVfsError(err);
        // Out-of-order bytes held for this file go now, not at CLOSE: a session over its share
        // of the transfer memory stops reading its connection, so it might never read the CLOSE
        // (8 failing uploads at once hung that way, and the server with them).
        this.content.dropPending();
        throw err;
      }
    });
  }

  async stat(): Promise<VfsAttrs> {
    this.checkOpen();
    return this.enqueue(async () => {
      const base = this.opts.initialAttrs ?? pendingFileAttrs(0, this.openedAt);
      const attrs: VfsAttrs = { ...base, size: this.content.size };
      const noWrite = this.patch['no-write'];
      if (noWrite !== undefined) {
        attrs.noWrite = noWrite === true;
        attrs.mode = (attrs.mode & ~0o777) | (attrs.noWrite ? 0o444 : 0o666);
      }
      if (typeof this.patch.mtime === 'number') attrs.mtime = this.patch.mtime;
      return attrs;
    });
  }

  async setAttrs(attrs: SetAttrs): Promise<void> {
    this.checkOpen();
    if (attrs.size !== undefined && (!Number.isSafeInteger(attrs.size) || attrs.size < 0)) {
      throw new VfsError('INVALID_ARGUMENT', 'new size is not a valid nonnegative integer');
    }
    return this.enqueue(async () => {
      if (attrs.size !== undefined) {
        await this.budget.grow(this.content.size, attrs.size);
        await this.content.truncate(attrs.size);
        this.changed = true;
      }
      Object.assign(this.patch, attrsToPatch({ ...attrs, size: undefined }));
    });
  }

  /** True when nothing was written and the file is empty (copy-data may relink into it). */
  isEmpty(): Promise<boolean> {
    return this.enqueue(async () => this.content.size === 0 && this.content.isUnchanged);
  }

  /** The content becomes exactly the immutable file `cap` (copy-data as a relink). */
  async replaceContent(cap: string): Promise<void> {
    this.checkOpen();
    return this.enqueue(async () => {
      await this.budget.grow(this.content.size, (await this.opts.grid.stat(cap)).size ?? 0);
      await this.content.replaceWith(cap);
      this.changed = true;
    });
  }

  /** Metadata changes from the path (SETSTAT of a file being written and not yet linked). */
  addMetadataPatch(patch: MetadataPatch): void {
    Object.assign(this.patch, patch);
  }

  async sync(): Promise<void> {
    this.checkOpen();
    return this.enqueue(() => this.commit(true));
  }

  close(): Promise<void> {
    if (this.state !== 'open') return this.committing ?? Promise.resolve();
    this.state = 'closing';
    this.committing = this.enqueue(async () => {
      try {
        await this.commit(false);
      } finally {
        this.state = 'closed';
        this.unregister();
        this.budget.release();
        this.ended.resolve();
        await this.content.dispose();
      }
    });
    return this.committing;
  }

  /**
   * Nothing will be committed: the path was removed, or the client went away. The handle keeps
   * reading its own data until it is closed. A close already in progress still finishes (the
   * client asked for it).
   */
  async abandon(): Promise<void> {
    if (this.state === 'closing') return this.settled();
    if (this.state !== 'open') return;
    this.abandoned = true;
    this.unregister();
    this.budget.release();
    this.ended.resolve();
  }

  async settled(): Promise<void> {
    await this.committing?.catch(() => {});
  }

  closed(): Promise<void> {
    return this.ended.promise;
  }

  /** Where a commit links the content now (a rename moves it); undefined for a writer of a cap. */
  get linkedAt(): { dirCap: string; dirReadCap: string; name: string } | undefined {
    const t = this.target;
    return t.kind === 'link' ? { dirCap: t.dirCap, dirReadCap: t.dirReadCap, name: t.name } : undefined;
  }

  retarget(dirCap: string, dirReadCap: string, name: string): void {
    if (this.target.kind !== 'link') return;
    this.opts.openFiles.remove(this.target.dirReadCap, this.target.name, this);
    this.target = { ...this.target, dirCap, dirReadCap, name };
    this.opts.openFiles.add(dirReadCap, name, this);
  }

  private takeReceived(): number {
    const n = this.received;
    this.received = 0;
    return n;
  }

  private unregister(): void {
    if (this.target.kind === 'link') this.opts.openFiles.remove(this.target.dirReadCap, this.target.name, this);
  }

  /** Publishes the current content (and metadata changes) where the target says. */
  private async commit(keepOpen: boolean): Promise<void> {
    if (this.abandoned) return;
    const hasPatch = Object.keys(this.patch).length > 0;
    if (!this.changed && !hasPatch) return;
    const started = Date.now();
    try {
      if (this.lostWrite) throw new VfsError(this.lostWrite.code, `${this.lostWrite.message} (a write failed, so the file was not saved)`);
      await this.publish(keepOpen, hasPatch);
    } catch (err) {
      this.opts.onCommit?.(this.content.size, Date.now() - started, err, this.takeReceived());
      throw err;
    }
    this.budget.committed(this.content.size);
    this.changed = false;
    this.patch = {};
    this.opts.onCommit?.(this.content.size, Date.now() - started, undefined, this.takeReceived());
  }

  private async publish(keepOpen: boolean, hasPatch: boolean): Promise<void> {
    const { grid } = this.opts;
    const target = this.target;
    const cap = this.changed ? await this.content.commit(keepOpen) : undefined;
    if (target.kind === 'mutable-cap') {
      if (isNewContent(cap)) await grid.overwriteMutable(target.writeCap, { immutableCap: cap });
    } else if (target.mutableWriteCap) {
      if (isNewContent(cap)) await grid.overwriteMutable(target.mutableWriteCap, { immutableCap: cap });
      if (hasPatch) await grid.patchMetadata(target.dirCap, target.name, this.patch).catch(ignoreMissing);
    } else if (cap) {
      const existing = await grid.getChild(target.dirCap, target.name);
      const user = userPart(existing?.metadata);
      // New content: the time a client sees becomes the link's (now), unless it set one.
      delete user.mtime;
      for (const [key, value] of Object.entries(this.patch)) {
        if (value === null) delete user[key];
        else user[key] = value;
      }
      // 'only-files': a directory that appeared at this name meanwhile is never replaced.
      await grid.setChild(target.dirCap, target.name, cap, { replace: 'only-files', metadata: user });
    } else {
      await grid.patchMetadata(target.dirCap, target.name, this.patch).catch(ignoreMissing);
    }
  }
}

/** New content to publish: an immutable file cap (an unchanged mutable file commits its own cap). */
function isNewContent(cap: string | undefined): cap is string {
  if (cap === undefined) return false;
  const t = parseCap(cap).type;
  return t === 'LIT' || t === 'CHK';
}

function ignoreMissing(err: unknown): void {
  if (toVfsError(err).code !== 'NO_SUCH_FILE') throw err;
}

/** The refusal of a write or setstat on a handle opened for reading only. */
export function notOpenedForWriting(): VfsError {
  return new VfsError('PERMISSION_DENIED', 'file handle was not opened for writing');
}
