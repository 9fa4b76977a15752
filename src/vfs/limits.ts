// Bounds on what a client can make the server store (issue #10): the largest file, the
// account's quota in bytes and files, and the room the store has left. Every check runs before
// the work it guards, so a SETSTAT to 2^40 bytes or a WRITE at offset 2^40 is refused at once
// instead of streaming a terabyte of zeros into the store.
//
// Quota usage is counted like SFTPGo counts it: the account's tree is measured once (at the
// first change that needs it, and again when the count is older than RECOUNT_MS), and every
// change made through lafsd updates the count at once. Each link to a file counts (a hardlink
// counts twice); directories are free. Changes made elsewhere (other accounts sharing a
// directory, other Tahoe clients, the lafsd CLI) are seen at the next count. Bytes being
// written are held against the quota until the file is committed or abandoned, so concurrent
// uploads cannot overshoot it together.
import type { Grid } from '../grid/index.js';
import { VfsError } from './errors.js';

export interface Quota {
  /** Most bytes of files under the account's root. */
  bytes?: number;
  /** Most files under the account's root. */
  files?: number;
}

export interface VfsLimits {
  /** Largest file a client may create or extend to. */
  maxFileSize: number;
  /** The account's quota and usage, shared by all its sessions; undefined: no quota. */
  usage?: AccountUsage;
}

export const DEFAULT_MAX_FILE_SIZE = 100 * 1024 ** 3;

/** How old a count of the account's tree may get before the next change recounts it. */
export const RECOUNT_MS = 10 * 60_000;

/** A jump in size at least this big asks the store whether the bytes fit before any is written. */
const SPACE_CHECK_BYTES = 1024 * 1024;

export interface TreeCount {
  bytes: number;
  files: number;
}

/** Counts the files under `rootCap` (cycles and shared subtrees counted once per directory). */
export async function countTree(grid: Grid, rootCap: string): Promise<TreeCount> {
  const seen = new Set<string>();
  const count: TreeCount = { bytes: 0, files: 0 };
  const queue = [rootCap];
  while (queue.length) {
    const dir = queue.pop()!;
    const info = await grid.stat(dir);
    const key = info.readCap ?? dir;
    if (seen.has(key)) continue;
    seen.add(key);
    for (const e of await grid.list(dir)) {
      if (e.node.kind === 'file') {
        count.files += 1;
        count.bytes += e.node.size ?? 0;
      } else if (e.node.kind === 'dir') {
        queue.push(e.node.cap);
      }
    }
  }
  return count;
}

export class AccountUsage {
  private used: TreeCount = { bytes: 0, files: 0 };
  private held: TreeCount = { bytes: 0, files: 0 };
  private counting: Promise<void> | undefined;
  private countedAt = -Infinity;

  constructor(
    readonly quota: Quota,
    private readonly count: () => Promise<TreeCount>,
  ) {}

  /** What the account uses now (committed changes), as last counted plus changes since. */
  get usage(): Readonly<TreeCount> {
    return this.used;
  }

  private async current(): Promise<void> {
    if (performance.now() - this.countedAt < RECOUNT_MS) return;
    this.counting ??= this.count()
      .then((c) => {
        this.used = c;
        this.countedAt = performance.now();
      })
      .finally(() => (this.counting = undefined));
    await this.counting;
  }

  /** Holds `bytes` more against the quota, or fails QUOTA_EXCEEDED without holding anything. */
  async holdBytes(bytes: number): Promise<void> {
    if (bytes <= 0) return;
    if (this.quota.bytes !== undefined) {
      await this.current();
      if (this.used.bytes + this.held.bytes + bytes > this.quota.bytes) {
        throw new VfsError('QUOTA_EXCEEDED', `quota exceeded: the account may store ${this.quota.bytes} bytes`);
      }
    }
    this.held.bytes += bytes;
  }

  async holdFile(): Promise<void> {
    if (this.quota.files !== undefined) {
      await this.current();
      if (this.used.files + this.held.files + 1 > this.quota.files) {
        throw new VfsError('QUOTA_EXCEEDED', `quota exceeded: the account may store ${this.quota.files} files`);
      }
    }
    this.held.files += 1;
  }

  release(held: TreeCount): void {
    this.held.bytes = Math.max(0, this.held.bytes - held.bytes);
    this.held.files = Math.max(0, this.held.files - held.files);
  }

  /** A change was committed: the account's files grew (or shrank) by this much. */
  changed(delta: TreeCount): void {
    this.used.bytes = Math.max(0, this.used.bytes + delta.bytes);
    this.used.files = Math.max(0, this.used.files + delta.files);
  }
}

/**
 * What one file open for writing may grow to, and what it holds against the quota: the size
 * beyond the file it replaces, and one file when it creates a new name.
 */
export class WriteBudget {
  private held: TreeCount = { bytes: 0, files: 0 };

  constructor(
    private readonly limits: VfsLimits,
    private readonly grid: Grid,
    /** Size of the file this content replaces when committed (0 for a new name). */
    private replacedSize: number,
    /** Committing creates a new name. */
    private newName: boolean,
  ) {}

  /** Before the file is created: a new name needs room for one more file. */
  async start(): Promise<void> {
    if (this.newName && this.limits.usage) {
      await this.limits.usage.holdFile();
      this.held.files = 1;
    }
  }

  /** Before the content grows from `current` to `size` bytes: every limit is checked first. */
  async grow(current: number, size: number): Promise<void> {
    if (size > this.limits.maxFileSize) {
      throw new VfsError('FILE_TOO_LARGE', `file too large: the largest file this server accepts is ${this.limits.maxFileSize} bytes`);
    }
    const usage = this.limits.usage;
    if (usage) {
      const want = Math.max(0, size - this.replacedSize);
      if (want > this.held.bytes) {
        await usage.holdBytes(want - this.held.bytes);
        this.held.bytes = want;
      }
    }
    if (size - current >= SPACE_CHECK_BYTES) await this.grid.checkSpace?.(size - current);
  }

  /** The content was committed at `size` bytes: the count takes it, the holds are released. */
  committed(size: number): void {
    const usage = this.limits.usage;
    if (usage) {
      usage.changed({ bytes: size - this.replacedSize, files: this.newName ? 1 : 0 });
      usage.release(this.held);
    }
    this.held = { bytes: 0, files: 0 };
    this.replacedSize = size;
    this.newName = false;
  }

  /** Nothing (more) will be committed: give the holds back. */
  release(): void {
    this.limits.usage?.release(this.held);
    this.held = { bytes: 0, files: 0 };
  }
}
