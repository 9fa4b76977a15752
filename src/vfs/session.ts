// The protocol-neutral session of one logged-in user: every filesystem rule lives here, once,
// and both the SFTP and FTP adapters only translate to and from it. Paths arrive already
// canonical (paths.ts). Tahoe's sftpd is the reference; DESIGN.md lists where we differ.
import { unboundedListings, type ListingShare } from './listing-budget.js';
import { isReadOnly, parseCap } from '../caps/index.js';
import { isGridError, type DirEntry, type DiskUsage, type Grid, type Metadata, type NodeInfo } from '../grid/index.js';
import { attrsOf, displayedMtime, isNoWrite, pendingFileAttrs, S_IFDIR, type VfsAttrs } from './attrs.js';
import { WriteContent } from './content.js';
import { VfsError, isVfsError, toVfsError } from './errors.js';
import { attrsToPatch, ReadHandle, WriteHandle, type SetAttrs, type VfsFile, type WriteTarget } from './handles.js';
import { DEFAULT_MAX_FILE_SIZE, WriteBudget, type VfsLimits } from './limits.js';
import type { ChangeActivity } from './change-activity.js';
import { NameIndex, type OpenFiles, type OpenWriter } from './openfiles.js';
import { DeferredOpenHandle } from './deferred-open.js';
import { LiveReadHandle } from './live-read.js';
import { unlimitedShare, type MemoryShare } from '../util/memory-budget.js';
import { redactedPath, type VPath } from './paths.js';

export interface OpenFlags {
  read?: boolean;
  write?: boolean;
  create?: boolean;
  truncate?: boolean;
  exclusive?: boolean;
  append?: boolean;
}

/**
 * One line of the audit trail: what changed or was transferred (never caps). `commit`: a file
 * written and linked (`bytes` its size, `received` the bytes the client wrote since the last
 * commit); `read`: a file opened for reading was closed (`bytes` read by the client).
 */
export interface AuditEvent {
  op: string;
  path: string;
  to?: string;
  bytes?: number;
  received?: number;
  ms: number;
  result: 'ok' | string;
}

export interface VfsSessionOptions {
  grid: Grid;
  rootCap: string;
  username: string;
  openFiles: OpenFiles;
  /** Folder for encrypted temporary files of out-of-order writes. */
  spillDir: string;
  maxOpenFiles?: number;
  /** Largest file, and the account's quota (limits.ts). Default: DEFAULT_MAX_FILE_SIZE, no quota. */
  limits?: VfsLimits;
  /**
   * This session's share of the process's transfer memory (util/memory-budget.ts): the protocol
   * adapter reports its payloads to it, the vfs its out-of-order writes. Default: unlimited.
   */
  memory?: MemoryShare;
  /** This session's share of the directory entries open directory handles may hold (listing-budget.ts). Default: unbounded. */
  listings?: ListingShare;
  audit?: (event: AuditEvent) => void;
  /** How long an open waits for earlier writers of the name to close (deferred-open.ts). */
  pendingWriterWaitMs?: number;
  /** Changes of all the process's sessions (change-activity.ts): told when each begins and ends. */
  changes?: ChangeActivity;
}

export interface ListEntry {
  name: string;
  attrs: VfsAttrs;
}

/** A writer of this session waiting to open (deferred-open.ts), and where it will open: rename moves it. */
interface DeferredWriter {
  readonly handle: DeferredOpenHandle;
  readonly place: { dir: NodeInfo; name: string };
}

/** A directory in which a name is looked up, and how it was reached. */
interface ParentDir {
  dir: NodeInfo;
  name: string;
  /** Read caps of every directory from the root down to `dir` (for cycle checks). */
  chain: string[];
}

export const DEFAULT_MAX_OPEN_FILES = 512;
const COPY_CHUNK = 256 * 1024;

export class VfsSession {
  readonly username: string;
  private readonly grid: Grid;
  private root?: NodeInfo;
  private readonly files = new Set<VfsFile>();
  private closed = false;
  private readonly limits: VfsLimits;
  /** Aborted when the client is gone: long work for this session (filling, re-streaming) stops. */
  private readonly ended = new AbortController();
  /** This session's share of the process's transfer memory; given back when the session closes. */
  readonly memory: MemoryShare;
  private readonly listings: ListingShare;
  /** Writers this session opened (WriteHandles register in the shared OpenFiles, with everyone's). */
  private readonly ownWriters = new WeakSet<OpenWriter>();
  /** This session's deferred writers (deferred-open.ts), from their open to their close. */
  private readonly deferredWriters = new NameIndex<DeferredWriter>();

  constructor(private readonly opts: VfsSessionOptions) {
    this.grid = opts.grid;
    this.username = opts.username;
    this.limits = opts.limits ?? { maxFileSize: DEFAULT_MAX_FILE_SIZE };
    this.memory = opts.memory ?? unlimitedShare();
    this.listings = opts.listings ?? unboundedListings();
  }

  /** True when the account's root cap grants no write authority. */
  get readOnly(): boolean {
    return isReadOnly(parseCap(this.opts.rootCap));
  }

  get openFileCount(): number {
    return this.files.size;
  }

  // --- resolution -------------------------------------------------------------------------

  private async stat(cap: string): Promise<NodeInfo> {
    try {
      return await this.grid.stat(cap);
    } catch (err) {
      if (isGridError(err, 'NOT_FOUND')) throw new VfsError('NO_SUCH_FILE', 'no such object');
      throw err;
    }
  }

  private async rootOf(path: VPath): Promise<NodeInfo> {
    if (path.cap !== undefined) return this.stat(path.cap);
    this.root ??= await this.stat(this.opts.rootCap);
    return this.root;
  }

  /** Walks to the directory holding the last component of `path`. */
  private async parentOf(path: VPath): Promise<ParentDir> {
    let dir = await this.rootOf(path);
    const chain: string[] = [];
    const parts = path.parts;
    for (let i = 0; i < parts.length - 1; i++) {
      chain.push(this.checkDir(dir, parts[i - 1]).readCap!);
      const entry = await this.grid.getChild(dir.cap, parts[i]!);
      if (!entry) throw new VfsError('NO_SUCH_FILE', `No such file or directory: ${parts[i]}`);
      dir = entry.node;
    }
    this.checkDir(dir, parts[parts.length - 2]);
    chain.push(dir.readCap!);
    return { dir, name: parts[parts.length - 1]!, chain };
  }

  private checkDir(node: NodeInfo, name: string | undefined): NodeInfo {
    if (node.kind === 'unknown') throw new VfsError('UNKNOWN_NODE', 'cannot use an unknown object as a directory');
    if (node.kind !== 'dir') throw new VfsError('NO_SUCH_FILE', `not a directory: ${name ?? '/'}`);
    return node;
  }

  private needParent(path: VPath, what: string): void {
    if (path.parts.length === 0) {
      throw new VfsError('NO_SUCH_FILE', path.cap !== undefined ? `cannot ${what} an object specified by URI` : `cannot ${what} the root directory`);
    }
  }

  private writers(dir: NodeInfo, name: string) {
    return this.opts.openFiles.at(dir.readCap!, name);
  }

  /** Runs a change (remove, rmdir, mkdir, rename, setattrs, hardlink) and audits it. */
  private async timed<T>(op: string, path: VPath, fn: () => Promise<T>, extra: Partial<AuditEvent> = {}): Promise<T> {
    this.opts.changes?.begin(this);
    const started = Date.now();
    try {
      const result = await fn();
      this.opts.audit?.({ op, path: redactedPath(path), ms: Date.now() - started, result: 'ok', ...extra });
      return result;
    } catch (err) {
      const e = toVfsError(err);
      this.opts.audit?.({ op, path: redactedPath(path), ms: Date.now() - started, result: e.code, ...extra });
      throw e;
    } finally {
      this.opts.changes?.end();
    }
  }

  // --- queries ----------------------------------------------------------------------------

  /**
   * `/uri` itself, while the root has no child of that name, is a read-only directory that lists
   * nothing: clients walk into it on their way to `/uri/CAP` (curl's default FTP method sends
   * `CWD uri` before `CWD CAP` or `RETR CAP`).
   */
  private static isUriDir(path: VPath): boolean {
    return path.cap === undefined && path.parts.length === 1 && path.parts[0] === 'uri';
  }

  /** Attributes of the node at `path`; a file being written shows its current size. */
  async attrs(path: VPath): Promise<VfsAttrs> {
    try {
      return await this.nodeAttrs(path);
    } catch (err) {
      if (VfsSession.isUriDir(path) && isVfsError(err, 'NO_SUCH_FILE')) return { kind: 'dir', mode: S_IFDIR | 0o555, noWrite: true, mutable: false };
      throw err;
    }
  }

  private async nodeAttrs(path: VPath): Promise<VfsAttrs> {
    try {
      if (path.parts.length === 0) return attrsOf(await this.rootOf(path), undefined, true);
      const { dir, name } = await this.parentOf(path);
      const entry = await this.grid.getChild(dir.cap, name);
      const open = this.writers(dir, name);
      const newest = open[open.length - 1];
      if (!entry) {
        if (newest) return pendingFileAttrs(newest.currentSize, newest.openedAt);
        throw new VfsError('NO_SUCH_FILE', `No such file or directory: ${name}`);
      }
      const attrs = attrsOf(entry.node, entry.metadata, dir.readOnly);
      if (newest) attrs.size = newest.currentSize;
      return attrs;
    } catch (err) {
      throw toVfsError(err);
    }
  }

  /** The directory at `path`, listed (a snapshot), including files being written into it. */
  /**
   * A listing kept open (SFTP's OPENDIR until CLOSE): list(), counted against the session's and
   * the process's bounds on entries held that way until `release` (or the session's close).
   */
  async openListing(path: VPath): Promise<{ entries: ListEntry[]; release: () => void }> {
    const entries = await this.list(path);
    if (this.closed) throw new VfsError('CLOSED', 'the session ended');
    return { entries, release: this.listings.take(entries.length) };
  }

  async list(path: VPath): Promise<ListEntry[]> {
    try {
      let dir: NodeInfo;
      if (path.parts.length === 0) {
        dir = await this.rootOf(path);
      } else {
        const parent = await this.parentOf(path);
        const entry = await this.grid.getChild(parent.dir.cap, parent.name);
        if (!entry && VfsSession.isUriDir(path)) return [];
        if (!entry) throw new VfsError('NO_SUCH_FILE', `No such file or directory: ${parent.name}`);
        dir = entry.node;
      }
      if (dir.kind === 'unknown') throw new VfsError('UNKNOWN_NODE', 'cannot list an unknown object as a directory');
      if (dir.kind === 'file') throw new VfsError('NOT_A_DIRECTORY', 'cannot list a file as if it were a directory');
      const entries: DirEntry[] = await this.grid.list(dir.cap);
      const open = this.opts.openFiles.inDir(dir.readCap!);
      const out: ListEntry[] = entries.map((e) => {
        const attrs = attrsOf(e.node, e.metadata, dir.readOnly);
        const writers = open.get(e.name);
        if (writers?.length) attrs.size = writers[writers.length - 1]!.currentSize;
        return { name: e.name, attrs };
      });
      const listed = new Set(entries.map((e) => e.name));
      for (const [name, writers] of open) {
        const w = writers[writers.length - 1]!;
        if (!listed.has(name)) out.push({ name, attrs: pendingFileAttrs(w.currentSize, w.openedAt) });
      }
      return out;
    } catch (err) {
      throw toVfsError(err);
    }
  }

  async diskUsage(): Promise<DiskUsage> {
    try {
      return await this.grid.diskUsage();
    } catch (err) {
      throw toVfsError(err);
    }
  }

  // --- files ------------------------------------------------------------------------------

  async open(path: VPath, flags: OpenFlags): Promise<VfsFile> {
    if (!flags.read && !flags.write) {
      throw new VfsError('INVALID_ARGUMENT', 'invalid file open flags: at least one of read and write must be set');
    }
    if (flags.exclusive && !flags.create) throw new VfsError('INVALID_ARGUMENT', 'invalid file open flags: exclusive without create');
    if (this.closed) throw new VfsError('CLOSED', 'session is closed');
    if (this.files.size >= (this.opts.maxOpenFiles ?? DEFAULT_MAX_OPEN_FILES)) {
      throw new VfsError('TOO_MANY_OPEN_FILES', 'too many open files');
    }
    if (flags.write) this.opts.changes?.note(this);
    const file = await this.openFile(path, flags).catch((err) => {
      throw toVfsError(err);
    });
    this.files.add(file);
    return file;
  }

  private async openFile(path: VPath, flags: OpenFlags): Promise<VfsFile> {
    if (path.parts.length === 0) {
      if (path.cap === undefined) throw new VfsError('NO_SUCH_FILE', 'path cannot be empty');
      return this.openCap(path.cap, flags, Boolean(flags.write || flags.create));
    }
    const { dir, name } = await this.parentOf(path);
    return this.openAt({ dir, name }, flags);
  }

  /**
   * Opens `name` in `dir`. `waited`: the open was deferred until earlier writers closed (or the
   * wait ran out), so it is never deferred again. `unaudited`: a reader that writes no audit
   * line (a live reader's second part: the live reader's line counts it).
   */
  private async openAt(at: { dir: NodeInfo; name: string }, flags: OpenFlags, how: { waited?: boolean; unaudited?: boolean } = {}): Promise<VfsFile> {
    const { dir, name } = at;
    const { waited = false } = how;
    const writer = Boolean(flags.write || flags.create);
    // A new open waits until a close in progress at this name has committed (sshfs reopens).
    for (const w of this.writers(dir, name)) await w.settled();
    // This session still writes the name and the open depends on what is there (sshfs closes
    // late: `echo a > f; echo b >> f; cat f`): a reader reads the writer's bytes, an open that
    // keeps the content opens what the writers link (live-read.ts, deferred-open.ts).
    if (!waited && !flags.exclusive && !(writer && flags.truncate)) {
      const own = this.ownWritersAt(dir, name);
      if (own.waiting.length === 0 && own.open.length > 0 && !writer) {
        const source = own.open.at(-1)!;
        return new LiveReadHandle(source, () => this.openWhereLinked(source, at, flags), how.unaudited ? undefined : this.readAudit(name));
      }
      if (own.waiting.length > 0 || own.open.length > 0) {
        return this.deferred(at, flags, Promise.all([...own.waiting, ...own.open].map((w) => w.closed())));
      }
    }
    if (flags.exclusive) {
      if (dir.readOnly) throw new VfsError('PERMISSION_DENIED', 'cannot create a file when the parent directory is read-only');
      if (this.writers(dir, name).length) throw new VfsError('EXISTS', 'cannot create a file exclusively when it already exists');
      // The empty placeholder is a new file: it needs room in the quota before it is linked.
      const placeholder = new WriteBudget(this.limits, this.grid, 0, true);
      await placeholder.start();
      try {
        await this.grid.setChild(dir.cap, name, 'URI:LIT:', { replace: false });
      } catch (err) {
        placeholder.release();
        if (isGridError(err, 'EXISTS')) throw new VfsError('EXISTS', 'cannot create a file exclusively when it already exists');
        throw err;
      }
      placeholder.committed(0);
    }
    const entry = await this.grid.getChild(dir.cap, name);
    if (!entry) {
      // Only another session's writer has it so far: read what it links once it closes.
      const pending = writer ? undefined : this.writers(dir, name).at(-1);
      if (pending && waited) {
        throw new VfsError('FAILURE', 'the file is still being written by another handle; open it again once that one is closed');
      }
      if (pending) return this.deferred(at, flags, pending.closed());
      if (!flags.create) throw new VfsError('NO_SUCH_FILE', `No such file or directory: ${name}`);
      if (dir.readOnly) throw new VfsError('PERMISSION_DENIED', 'cannot create a file when the parent directory is read-only');
      return this.newWriter({ kind: 'link', dirCap: dir.cap, dirReadCap: dir.readCap!, name }, flags, undefined, undefined, true);
    }
    const node = entry.node;
    if (node.kind === 'unknown') throw new VfsError('UNKNOWN_NODE', 'cannot open an unknown object');
    if (node.kind === 'dir') throw new VfsError('IS_A_DIRECTORY', 'cannot open a directory as if it were a file');
    const attrs = attrsOf(node, entry.metadata, dir.readOnly);
    if (!writer) return this.reader(node, attrs, how.unaudited ? undefined : name);
    if (isNoWrite(node, entry.metadata, dir.readOnly)) throw new VfsError('PERMISSION_DENIED', 'cannot open a non-writeable file for writing');
    const target: WriteTarget = { kind: 'link', dirCap: dir.cap, dirReadCap: dir.readCap!, name };
    if (node.mutable && node.writeCap) target.mutableWriteCap = node.writeCap;
    return this.newWriter(target, flags, node, attrs, Boolean((flags.create || flags.truncate) && !flags.exclusive));
  }

  private async openCap(cap: string, flags: OpenFlags, writer: boolean): Promise<VfsFile> {
    const node = await this.stat(cap);
    if (node.kind === 'unknown') throw new VfsError('UNKNOWN_NODE', 'cannot open an unknown cap');
    if (node.kind === 'dir') throw new VfsError('IS_A_DIRECTORY', 'cannot open a directory cap');
    if (flags.exclusive) throw new VfsError('EXISTS', 'cannot create a file exclusively when it already exists');
    const attrs = attrsOf(node, undefined, true);
    if (!writer) return this.reader(node, attrs, '[cap]');
    if (node.readOnly || !node.writeCap) {
      throw new VfsError('PERMISSION_DENIED', 'cannot write to a non-writeable filecap without a parent directory');
    }
    return this.newWriter({ kind: 'mutable-cap', writeCap: node.writeCap }, flags, node, attrs, Boolean(flags.create || flags.truncate));
  }

  /**
   * A live reader's second part: what `writer` linked, at the name it was opened at or where a
   * rename moved the writer (not whatever took the old name since).
   */
  private async openWhereLinked(writer: WriteHandle, at: { dir: NodeInfo; name: string }, flags: OpenFlags): Promise<VfsFile> {
    const now = writer.linkedAt;
    const moved = now !== undefined && (now.dirReadCap !== at.dir.readCap || now.name !== at.name);
    return this.openAt(moved ? { dir: await this.stat(now.dirCap), name: now.name } : at, flags, { unaudited: true });
  }

  /** A reader of `node`; its close is audited under `label`, if given. */
  private async reader(node: NodeInfo, attrs: VfsAttrs, label: string | undefined): Promise<VfsFile> {
    const reader = await this.grid.openRead(node.cap);
    return new ReadHandle(reader, { ...attrs, size: reader.size }, node.mutable ? undefined : node.cap, label === undefined ? undefined : this.readAudit(label));
  }

  /** The audit line of a reader's close. */
  private readAudit(label: string): (bytes: number, ms: number, error: unknown) => void {
    return (bytes, ms, error) =>
      this.opts.audit?.({ op: 'read', path: label, bytes, ms, result: error === undefined ? 'ok' : toVfsError(error).code });
  }

  /**
   * This session's writers of a name: those open (WriteHandles, some of them opened by deferred
   * handles) and deferred ones still waiting to open.
   */
  private ownWritersAt(dir: NodeInfo, name: string): { open: WriteHandle[]; waiting: DeferredOpenHandle[] } {
    const open = this.writers(dir, name).filter((w): w is WriteHandle => this.ownWriters.has(w) && w instanceof WriteHandle);
    const waiting = this.deferredWriters.at(dir.readCap!, name).filter((d) => d.handle.waiting).map((d) => d.handle);
    return { open, waiting };
  }

  /**
   * An open answered now whose real open, at wherever `place` then points, comes once `earlier`
   * resolves (deferred-open.ts). Writers are kept by name until they close, so that remove and
   * rename apply to them as to open writers.
   */
  private deferred(at: { dir: NodeInfo; name: string }, flags: OpenFlags, earlier: Promise<unknown>): DeferredOpenHandle {
    const place = { ...at };
    const writer = Boolean(flags.write || flags.create);
    const handle = new DeferredOpenHandle(Boolean(flags.read), writer, earlier, () => this.openAt(place, flags, { waited: true }), this.opts.pendingWriterWaitMs);
    if (writer) {
      const d: DeferredWriter = { handle, place };
      this.deferredWriters.add(place.dir.readCap!, place.name, d);
      void handle.closed().then(() => this.deferredWriters.remove(place.dir.readCap!, place.name, d));
    }
    return handle;
  }

  private async newWriter(target: WriteTarget, flags: OpenFlags, node: NodeInfo | undefined, attrs: VfsAttrs | undefined, changed: boolean): Promise<WriteHandle> {
    // Committing replaces `node` (its size is given back to the quota) or creates a new name.
    const budget = new WriteBudget(this.limits, this.grid, node?.size ?? 0, node === undefined);
    await budget.start();
    let base;
    try {
      base = node && !flags.truncate ? { cap: node.cap, reader: await this.grid.openRead(node.cap) } : undefined;
    } catch (err) {
      budget.release();
      throw err;
    }
    const content = new WriteContent(this.grid, this.opts.spillDir, base, { ended: this.ended.signal, memory: this.memory });
    const label = target.kind === 'link' ? target.name : '[cap]';
    const handle = new WriteHandle({
      grid: this.grid,
      openFiles: this.opts.openFiles,
      target,
      content,
      budget,
      readable: Boolean(flags.read),
      append: Boolean(flags.append),
      changed,
      ...(attrs ? { initialAttrs: attrs } : {}),
      onCommit: (bytes, ms, error, received) =>
        this.opts.audit?.({ op: 'commit', path: label, bytes, received, ms, result: error === undefined ? 'ok' : toVfsError(error).code }),
    });
    this.ownWriters.add(handle);
    return handle;
  }

  /** Closes a file opened by this session (commits writers); errors reach the client. */
  async closeFile(file: VfsFile): Promise<void> {
    const changes = file.writable ? this.opts.changes : undefined; // a writer's close links or publishes
    changes?.begin(this);
    try {
      await file.close();
    } catch (err) {
      throw toVfsError(err);
    } finally {
      changes?.end();
      this.files.delete(file);
    }
  }

  /**
   * copy-data@openssh.com: copies bytes between two open files. Copying a whole unchanged file
   * into an empty new one is a relink of the same immutable cap: no bytes are copied.
   */
  async copyData(src: VfsFile, srcOffset: number, length: number, dst: VfsFile, dstOffset: number): Promise<void> {
    if (!src.readable) throw new VfsError('PERMISSION_DENIED', 'source handle was not opened for reading');
    if (!dst.writable) throw new VfsError('PERMISSION_DENIED', 'destination handle was not opened for writing');
    // Copying a range of a file onto a later part of itself would read bytes it already
    // overwrote; OpenSSH's sftp-server refuses it the same way.
    if (src === dst && srcOffset <= dstOffset && dstOffset < srcOffset + (length === 0 ? Infinity : length)) {
      throw new VfsError('FAILURE', 'copy-data: read and write ranges overlap');
    }
    const srcSize = (await src.stat()).size ?? 0;
    if (dst instanceof WriteHandle && src.sourceCap && srcOffset === 0 && dstOffset === 0 && (length === 0 || length >= srcSize) && (await dst.isEmpty())) {
      await dst.replaceContent(src.sourceCap);
      return;
    }
    const end = length === 0 ? srcSize : Math.min(srcSize, srcOffset + length);
    for (let pos = srcOffset; pos < end; pos += COPY_CHUNK) {
      if (this.ended.signal.aborted) throw new VfsError('CLOSED', 'the session ended');
      const data = await src.read(pos, Math.min(COPY_CHUNK, end - pos));
      if (data.length === 0) break;
      await dst.write(dstOffset + (pos - srcOffset), data);
    }
  }

  // --- changes ----------------------------------------------------------------------------

  async remove(path: VPath): Promise<void> {
    await this.timed('remove', path, async () => {
      this.needParent(path, 'remove');
      const { dir, name } = await this.parentOf(path);
      if (dir.readOnly) throw new VfsError('PERMISSION_DENIED', 'cannot remove from a read-only directory');
      const open = [...this.writers(dir, name), ...this.deferredWriters.at(dir.readCap!, name).map((d) => d.handle)];
      for (const w of open) await w.abandon();
      try {
        const removed = await this.grid.deleteChild(dir.cap, name, { mustBe: 'file' });
        this.uncount(removed);
      } catch (err) {
        if (isGridError(err, 'NOT_FOUND') && open.length) return;
        if (isGridError(err, 'NOT_FOUND')) throw new VfsError('NO_SUCH_FILE', `No such file or directory: ${name}`);
        if (isGridError(err, 'IS_A_DIRECTORY')) throw new VfsError('IS_A_DIRECTORY', 'remove requires a file, not a directory');
        throw err;
      }
    });
  }

  async rmdir(path: VPath): Promise<void> {
    await this.timed('rmdir', path, async () => {
      this.needParent(path, 'remove');
      const { dir, name } = await this.parentOf(path);
      if (dir.readOnly) throw new VfsError('PERMISSION_DENIED', 'cannot remove from a read-only directory');
      try {
        await this.grid.deleteChild(dir.cap, name, { mustBe: 'dir', mustBeEmpty: true });
      } catch (err) {
        if (isGridError(err, 'NOT_FOUND')) throw new VfsError('NO_SUCH_FILE', `No such file or directory: ${name}`);
        if (isGridError(err, 'NOT_A_DIRECTORY')) throw new VfsError('NOT_A_DIRECTORY', 'rmdir requires a directory, not a file');
        throw err;
      }
    });
  }

  async mkdir(path: VPath, permissions?: number): Promise<void> {
    await this.timed('mkdir', path, async () => {
      if (permissions !== undefined && (permissions & 0o200) === 0) {
        throw new VfsError('PERMISSION_DENIED', 'cannot create a directory that is initially read-only');
      }
      if (path.parts.length === 0) throw new VfsError('EXISTS', 'the directory already exists');
      const { dir, name } = await this.parentOf(path);
      if (dir.readOnly) throw new VfsError('PERMISSION_DENIED', 'cannot create a directory in a read-only directory');
      if (this.writers(dir, name).length) throw new VfsError('EXISTS', `"${name}" already exists`);
      try {
        await this.grid.mkdir(dir.cap, name, { replace: false });
      } catch (err) {
        if (isGridError(err, 'EXISTS')) throw new VfsError('EXISTS', `"${name}" already exists`);
        throw err;
      }
    });
  }

  /**
   * Renames `from` to `to`. 'no-replace' (SFTP RENAME) refuses an existing target; 'posix'
   * (posix-rename, FTP RNTO) replaces it as rename(2) does: a file may replace a file, a
   * directory may replace an empty directory, nothing else.
   */
  async rename(from: VPath, to: VPath, mode: 'no-replace' | 'posix'): Promise<void> {
    await this.timed('rename', from, async () => {
      if (from.parts.length === 0) throw new VfsError('NO_SUCH_FILE', 'cannot rename a source object specified by URI or the root');
      if (to.parts.length === 0) throw new VfsError('NO_SUCH_FILE', 'cannot rename to a destination specified by URI or the root');
      const [src, dst] = await Promise.all([this.parentOf(from), this.parentOf(to)]);
      if (src.dir.readOnly || dst.dir.readOnly) throw new VfsError('PERMISSION_DENIED', 'cannot rename in a read-only directory');
      const [srcEntry, dstEntry] = await Promise.all([this.grid.getChild(src.dir.cap, src.name), this.grid.getChild(dst.dir.cap, dst.name)]);
      const srcWriters = this.writers(src.dir, src.name);
      const srcDeferred = this.deferredWriters.at(src.dir.readCap!, src.name);
      if (!srcEntry && srcWriters.length === 0 && srcDeferred.length === 0) throw new VfsError('NO_SUCH_FILE', `No such file or directory: ${src.name}`);
      const same = src.dir.readCap === dst.dir.readCap && src.name === dst.name;
      const dstWriters = same ? [] : [...this.writers(dst.dir, dst.name), ...this.deferredWriters.at(dst.dir.readCap!, dst.name)];
      if (mode === 'no-replace') {
        if (same || dstEntry || dstWriters.length) throw new VfsError('TARGET_EXISTS', `cannot rename to existing path /${to.parts.join('/')}`);
      } else {
        if (same) return;
        if (dstWriters.length) throw new VfsError('PERMISSION_DENIED', 'the destination is open for writing');
        if (dstEntry) await this.checkPosixReplace(srcEntry?.node.kind ?? 'file', dstEntry);
      }
      const replaced = mode === 'posix' && srcEntry ? dstEntry : undefined;
      if (srcEntry?.node.kind === 'dir' && dst.chain.includes(srcEntry.node.readCap!)) {
        throw new VfsError('INVALID_ARGUMENT', 'cannot move a directory into itself');
      }
      if (srcEntry) {
        try {
          await this.grid.moveChild(src.dir.cap, src.name, dst.dir.cap, dst.name, mode === 'posix');
          if (replaced) this.uncount(replaced);
        } catch (err) {
          if (isGridError(err, 'EXISTS')) throw new VfsError('TARGET_EXISTS', `cannot rename to existing path /${to.parts.join('/')}`);
          if (!(isGridError(err, 'NOT_FOUND') && srcWriters.length + srcDeferred.length)) throw err;
        }
      }
      for (const w of srcWriters) w.retarget(dst.dir.cap, dst.dir.readCap!, dst.name);
      for (const d of srcDeferred) {
        this.deferredWriters.remove(src.dir.readCap!, src.name, d);
        Object.assign(d.place, { dir: dst.dir, name: dst.name }); // the object its open reads
        this.deferredWriters.add(dst.dir.readCap!, dst.name, d);
      }
    }, { to: redactedPath(to) });
  }

  private async checkPosixReplace(srcKind: string, dstEntry: DirEntry): Promise<void> {
    const dstKind = dstEntry.node.kind;
    if (dstKind === 'dir' && srcKind !== 'dir') throw new VfsError('IS_A_DIRECTORY', 'cannot replace a directory with a file');
    if (dstKind !== 'dir' && srcKind === 'dir') throw new VfsError('NOT_A_DIRECTORY', 'cannot replace a file with a directory');
    if (dstKind === 'dir' && (await this.grid.list(dstEntry.node.cap)).length > 0) {
      throw new VfsError('NOT_EMPTY', 'cannot replace a directory that is not empty');
    }
  }

  /** SETSTAT of a path: size truncates/extends, permissions set no-write, mtime is stored. */
  async setAttrs(path: VPath, attrs: SetAttrs): Promise<void> {
    await this.timed('setattrs', path, async () => {
      if (attrs.size !== undefined && (!Number.isSafeInteger(attrs.size) || attrs.size < 0)) {
        throw new VfsError('INVALID_ARGUMENT', 'new size is not a valid nonnegative integer');
      }
      if (path.parts.length === 0) {
        // The root (or a cap) has no link to hold metadata. Times are accepted and ignored, as
        // a client touching "." expects; taking write authority away is not possible.
        if (attrs.permissions !== undefined && (attrs.permissions & 0o200) === 0) {
          throw new VfsError('PERMISSION_DENIED', 'cannot make an object specified by URI or the root read-only');
        }
        if (attrs.size !== undefined) throw new VfsError('IS_A_DIRECTORY', 'cannot truncate a directory');
        return;
      }
      const { dir, name } = await this.parentOf(path);
      if (dir.readOnly) throw new VfsError('PERMISSION_DENIED', 'cannot change attributes in a read-only directory');
      const entry = await this.grid.getChild(dir.cap, name);
      const open = this.writers(dir, name);
      if (!entry && open.length === 0) throw new VfsError('NO_SUCH_FILE', `No such file or directory: ${name}`);
      if (attrs.size !== undefined) await this.truncatePath(path, attrs.size, entry, open);
      const patch = attrsToPatch({ ...attrs, size: undefined });
      if (Object.keys(patch).length === 0) return;
      if (!entry) {
        for (const w of open) if (w instanceof WriteHandle) w.addMetadataPatch(patch);
        return;
      }
      // A chmod must not change the time clients see: pin it when no client time is stored.
      if (patch.mtime === undefined && entry.metadata.mtime === undefined) {
        const shown = displayedMtime(entry.metadata);
        if (shown !== undefined) patch.mtime = shown;
      }
      await this.grid.patchMetadata(dir.cap, name, patch);
    });
  }

  /** truncate(2) of a path: through a write handle, so the new content is committed at once. */
  private async truncatePath(path: VPath, size: number, entry: DirEntry | undefined, open: OpenWriter[]): Promise<void> {
    if (entry?.node.kind === 'dir') throw new VfsError('IS_A_DIRECTORY', 'cannot truncate a directory');
    if (!entry) {
      for (const w of open) if (w instanceof WriteHandle) await w.setAttrs({ size });
      return;
    }
    const file = await this.open(path, { write: true });
    try {
      await file.setAttrs({ size });
    } finally {
      await this.closeFile(file);
    }
  }

  /** hardlink@openssh.com: links the same cap under a second name; no bytes are copied. */
  async hardlink(from: VPath, to: VPath): Promise<void> {
    await this.timed('hardlink', from, async () => {
      this.needParent(to, 'link to');
      const node = from.parts.length === 0 ? { node: await this.rootOf(from), metadata: undefined as Metadata | undefined } : await this.entryAt(from);
      if (node.node.kind === 'dir') throw new VfsError('PERMISSION_DENIED', 'cannot hard-link a directory');
      const dst = await this.parentOf(to);
      if (dst.dir.readOnly) throw new VfsError('PERMISSION_DENIED', 'cannot link into a read-only directory');
      if (this.writers(dst.dir, dst.name).length) throw new VfsError('EXISTS', `"${dst.name}" already exists`);
      const { tahoe: _t, ...user } = node.metadata ?? {};
      // A second link counts against the quota like a copy (each link is a file to the client).
      const budget = new WriteBudget(this.limits, this.grid, 0, true);
      await budget.start();
      try {
        await budget.grow(0, node.node.size ?? 0);
        await this.grid.setChild(dst.dir.cap, dst.name, node.node.cap, { replace: false, metadata: user });
      } catch (err) {
        budget.release();
        if (isGridError(err, 'EXISTS')) throw new VfsError('EXISTS', `"${dst.name}" already exists`);
        throw err;
      }
      budget.committed(node.node.size ?? 0);
    }, { to: redactedPath(to) });
  }

  /** A link to a file is gone: the account's count gives its bytes and one file back. */
  private uncount(entry: DirEntry): void {
    if (entry.node.kind === 'file') this.limits.usage?.changed({ bytes: -(entry.node.size ?? 0), files: -1 });
  }

  private async entryAt(path: VPath): Promise<DirEntry> {
    const { dir, name } = await this.parentOf(path);
    const entry = await this.grid.getChild(dir.cap, name);
    if (!entry) throw new VfsError('NO_SUCH_FILE', `No such file or directory: ${name}`);
    return entry;
  }

  /**
   * The client is gone: long work it started (filling a sparse file, re-streaming a file written
   * out of order, copy-data) stops at the next chunk instead of running on for nobody. Commits
   * that only need finishing (a sequential upload's CLOSE) still complete.
   */
  cancel(): void {
    this.ended.abort();
  }

  /** The session ends: open files that were never closed commit nothing. */
  async close(): Promise<void> {
    this.closed = true;
    const files = [...this.files];
    this.files.clear();
    await Promise.all(
      files.map(async (f) => {
        await f.abandon().catch(() => {});
        await f.close().catch(() => {});
      }),
    );
    this.memory.close();
    this.listings.close();
  }
}

