// The storage interface: caps in, bytes and directory entries out. Both backends (the embedded
// store and a Tahoe node's web-API) implement it with the same semantics, which are Tahoe's
// dirnode semantics (allmydata/dirnode.py), so the vfs above never asks which backend it has.

export type NodeKind = 'file' | 'dir' | 'unknown';
export type FileFormat = 'LIT' | 'CHK' | 'SDMF' | 'MDMF';

/** What a cap points at, as far as the holder of that cap may know. */
export interface NodeInfo {
  kind: NodeKind;
  /** The strongest cap we hold for the node (write cap if we have it). Never log it. */
  cap: string;
  /** Read cap (diminished); undefined for unknown nodes. */
  readCap?: string;
  /** Present exactly when we hold write authority (writable mutable file or directory). */
  writeCap?: string;
  mutable: boolean;
  /** No write authority: immutable nodes, read caps, unknown nodes. */
  readOnly: boolean;
  /** Files: current size in bytes when known. Directories and unknown nodes: undefined. */
  size?: number;
  format?: FileFormat;
}

/**
 * Link metadata, as Tahoe keeps it: `tahoe.linkcrtime`/`tahoe.linkmotime` (float seconds, set
 * by the directory itself), plus user keys such as `mtime`, `ctime`, `no-write`.
 */
export interface Metadata {
  tahoe?: { linkcrtime?: number; linkmotime?: number };
  'no-write'?: boolean;
  mtime?: number;
  ctime?: number;
  [key: string]: unknown;
}

export interface DirEntry {
  /** NFC-normalised name. */
  name: string;
  node: NodeInfo;
  metadata: Metadata;
}

/**
 * Tahoe's `replace=` rule for linking: true replaces anything, false refuses when the name
 * exists, 'only-files' replaces a file but refuses to replace a directory.
 */
export type ReplaceMode = boolean | 'only-files';

export interface SetChildOptions {
  /**
   * New user metadata for the link. Undefined keeps the existing link's user metadata (or none
   * for a new link). When given it replaces every non-`tahoe` key (Tahoe `update_metadata`).
   * Either way `tahoe.linkcrtime` is kept (or set) and `tahoe.linkmotime` becomes now, and a
   * `no-write: true` link to a writable mutable node stores only its read cap.
   */
  metadata?: Metadata;
  replace: ReplaceMode;
}

export interface DeleteChildOptions {
  /** Refuse (NOT_A_DIRECTORY / IS_A_DIRECTORY) unless the child is of this kind. Unknown nodes pass both. */
  mustBe?: 'file' | 'dir';
  /** With mustBe 'dir': refuse (NOT_EMPTY) when the child directory has entries. */
  mustBeEmpty?: boolean;
}

/** A metadata change: keys with `null` are removed, others set; `tahoe` cannot be patched. */
export type MetadataPatch = Record<string, unknown>;

/**
 * Random-access reader of a file. The embedded store reads the version current at open (a
 * snapshot); a Tahoe node cannot serve an older version of a mutable file, so on the web-API
 * backend each read of a mutable file sees the version current then. The size is fixed at open.
 */
export interface FileReader {
  readonly size: number;
  /** Up to `length` bytes at `offset` (fewer only at EOF; empty at or past EOF). */
  read(offset: number, length: number): Promise<Buffer>;
  close(): Promise<void>;
}

/** A streaming immutable upload: bytes in order, then `finish` gives the new file's read cap. */
export interface UploadSink {
  /**
   * Resolves when the bytes are accepted (awaiting it is the backpressure). One write at a
   * time; the sink copies what it keeps, so the caller may reuse `data` once this resolves.
   */
  write(data: Buffer): Promise<void>;
  readonly bytesWritten: number;
  /**
   * Completes the upload: the file exists (unlinked) and its cap is returned. It is durable
   * once something links it (setChild, createMutable, overwriteMutable), or after Grid.sync().
   */
  finish(): Promise<string>;
  /** Gives up: nothing becomes visible. Safe to call more than once or after a failure. */
  abort(): Promise<void>;
}

/** Where new mutable content comes from. */
export type MutableContent = { immutableCap: string };

export interface DiskUsage {
  totalBytes: number;
  usedBytes: number;
  availableBytes: number;
}

export interface Grid {
  /**
   * Node info for any cap. Unknown caps give kind 'unknown'. An object this grid does not hold:
   * NOT_FOUND (embedded store), or UNAVAILABLE on a Tahoe grid, which cannot tell "no such
   * object" from "its servers are unreachable".
   */
  stat(cap: string): Promise<NodeInfo>;

  // --- directories ------------------------------------------------------------------------
  /** All entries of a directory (a consistent snapshot), in no particular order. */
  list(dirCap: string): Promise<DirEntry[]>;
  getChild(dirCap: string, name: string): Promise<DirEntry | undefined>;
  /**
   * Links `childCap` under `name` (see SetChildOptions). EXISTS when `replace` refuses. Unknown
   * caps are kept verbatim; a Tahoe node refuses those without a `ro.`/`imm.` prefix (INVALID).
   */
  setChild(dirCap: string, name: string, childCap: string, options: SetChildOptions): Promise<void>;
  /** Removes a link and returns what it was. NOT_FOUND when missing. */
  deleteChild(dirCap: string, name: string, options?: DeleteChildOptions): Promise<DirEntry>;
  /**
   * Moves a link (same or another directory), keeping its user metadata and refreshing
   * linkmotime. Atomic on the embedded store; on a Tahoe node it is add-then-remove and
   * linkcrtime restarts. Moving a name onto itself is a no-op.
   */
  moveChild(fromDirCap: string, fromName: string, toDirCap: string, toName: string, replace: ReplaceMode): Promise<void>;
  /** Changes user metadata of an existing link; see MetadataPatch. NOT_FOUND when missing. */
  patchMetadata(dirCap: string, name: string, patch: MetadataPatch): Promise<DirEntry>;
  /** Creates a new empty mutable directory linked under `name`; returns its write cap. */
  mkdir(dirCap: string, name: string, options?: { replace?: ReplaceMode; metadata?: Metadata }): Promise<string>;
  /** Creates a new unlinked mutable directory; returns its write cap. */
  createDirectory(): Promise<string>;

  // --- files ------------------------------------------------------------------------------
  openRead(fileCap: string): Promise<FileReader>;
  /** Starts a streaming upload of a new immutable file. */
  upload(): Promise<UploadSink>;
  /** Creates a new mutable file holding the content of an immutable file; returns its write cap. */
  createMutable(content: MutableContent, format?: 'SDMF' | 'MDMF'): Promise<string>;
  /** Publishes a new version of a mutable file (same cap). */
  overwriteMutable(writeCap: string, content: MutableContent): Promise<void>;

  // --- whole grid -------------------------------------------------------------------------
  diskUsage(): Promise<DiskUsage>;
  /**
   * Makes everything done so far durable. Every change is durable when it resolves; this is for
   * an upload that nothing links (UploadSink.finish).
   */
  sync(): Promise<void>;
  /**
   * Fails NO_SPACE when `bytes` more of file data cannot fit, before any is written. Only a
   * store that knows its free space has it (the embedded store); a Tahoe grid cannot tell.
   */
  checkSpace?(bytes: number): Promise<void>;
  close(): Promise<void>;
}
