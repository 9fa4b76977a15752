// Random-access reads over HTTP ranges. Reads are served from aligned blocks fetched with one
// Range request each and kept in a small per-reader cache, with read-ahead when reads are
// sequential, so that an SFTP client's 64 pipelined 32 KiB reads cost a handful of requests
// instead of 64. Large reads skip the cache and fetch their range in one request.
import { GridError } from '../errors.js';
import type { FileReader } from '../types.js';

export interface BlockOptions {
  /** Bytes per cached block (Tahoe's segments are 128 KiB; a multiple keeps fetches aligned). */
  blockSize: number;
  /** Blocks kept per reader. */
  cacheBlocks: number;
  /** Blocks fetched ahead of a sequential reader. */
  readAheadBlocks: number;
}

/** Fetches bytes [first, last] (inclusive; the caller keeps them within the file). */
export type RangeFetcher = (first: number, last: number) => Promise<Buffer>;

interface Block {
  data: Promise<Buffer>;
  length: number;
  /** Reads waiting for it: evicting it would free nothing, and a read-ahead in flight is work done. */
  waiting: number;
  settled: boolean;
  /** Parts already handed out to reads (sorted, disjoint, relative to the block's start). */
  read: Array<[number, number]>;
}

/** Adds [from, to) to sorted disjoint intervals, merging what touches. */
function addInterval(list: Array<[number, number]>, from: number, to: number): void {
  let i = 0;
  while (i < list.length && list[i]![1] < from) i++;
  let start = from;
  let end = to;
  let j = i;
  while (j < list.length && list[j]![0] <= end) {
    start = Math.min(start, list[j]![0]);
    end = Math.max(end, list[j]![1]);
    j++;
  }
  list.splice(i, j - i, [start, end]);
}

function fullyRead(block: Block): boolean {
  return block.read.length === 1 && block.read[0]![0] === 0 && block.read[0]![1] >= block.length;
}

export class RangeReader implements FileReader {
  private readonly blocks = new Map<number, Block>();
  private nextSequential = -1;
  /** Sequential reads in a row: read-ahead grows with it (1, 2, 4 … blocks), so a reader that only peeks at a file fetches little. */
  private streak = 0;
  /** The range fetched ahead of a sequential large reader. */
  private ahead?: { offset: number; end: number; data: Promise<Buffer> };
  private directNext = -1;
  private closed = false;

  constructor(
    readonly size: number,
    private readonly fetchRange: RangeFetcher,
    private readonly opts: BlockOptions,
  ) {}

  async read(offset: number, length: number): Promise<Buffer> {
    if (this.closed) throw new GridError('INVALID', 'reader is closed');
    if (!Number.isSafeInteger(offset) || offset < 0 || !Number.isSafeInteger(length) || length < 0) {
      throw new GridError('INVALID', 'bad read offset or length');
    }
    const end = Math.min(this.size, offset + length); // exclusive; never past the known size
    if (offset >= end) return Buffer.alloc(0);
    const B = this.opts.blockSize;
    const first = Math.floor(offset / B);
    const last = Math.floor((end - 1) / B);
    // More than two blocks: one direct request (no copy through the cache, nothing evicted).
    if (last - first + 1 > 2) return this.readDirect(offset, end);
    const pending = Array.from({ length: last - first + 1 }, (_, i) => this.use(first + i));
    this.readAhead(first, last);
    const parts = await Promise.all(pending);
    for (let i = first; i <= last; i++) {
      const block = this.blocks.get(i);
      if (block) addInterval(block.read, Math.max(offset, i * B) - i * B, Math.min(end, (i + 1) * B) - i * B);
    }
    const joined = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
    const from = offset - first * B;
    return joined.subarray(from, from + (end - offset));
  }

  /** The bytes of a block, for a read that waits on them (the block stays while it waits). */
  private async use(index: number): Promise<Buffer> {
    const block = this.block(index);
    block.waiting++;
    try {
      return await block.data;
    } finally {
      block.waiting--;
      this.trim();
    }
  }

  /**
   * Keeps at most `cacheBlocks` blocks: drops blocks read to the end first (readers mostly go
   * forward), then the least recently used, but never one that a read waits for or that has
   * not arrived yet. Those are held by their reads anyway, and dropping a fetch in flight only
   * means fetching it again: a client with more reads in flight than the cache holds (OpenSSH:
   * 64 × 255 KiB) briefly exceeds the cache instead of having its blocks fetched twice.
   */
  private trim(): void {
    for (const pass of [fullyRead, () => true]) {
      for (const [index, block] of this.blocks) {
        if (this.blocks.size <= this.opts.cacheBlocks) return;
        if (block.waiting === 0 && block.settled && pass(block)) this.blocks.delete(index);
      }
    }
  }

  /** Blocks not yet read to the end: room for read-ahead is what they leave. */
  private unread(): number {
    let n = 0;
    for (const block of this.blocks.values()) if (!fullyRead(block)) n++;
    return n;
  }

  /**
   * Reads too big to go through the cache without evicting what it is there for: one range
   * request each, and when they follow each other, the next one is already on its way.
   */
  private async readDirect(offset: number, end: number): Promise<Buffer> {
    const ahead = this.ahead;
    this.ahead = undefined;
    const data = ahead && ahead.offset === offset && ahead.end === end ? ahead.data : this.fetchRange(offset, end - 1);
    const sequential = offset === 0 || offset === this.directNext;
    this.directNext = end;
    if (sequential && end < this.size) {
      const nextEnd = Math.min(this.size, end + (end - offset));
      const next = { offset: end, end: nextEnd, data: this.fetchRange(end, nextEnd - 1) };
      next.data.catch(() => {}); // errors surface when (if) that range is read
      this.ahead = next;
    }
    return data;
  }

  private block(index: number): Block {
    const cached = this.blocks.get(index);
    if (cached) {
      this.blocks.delete(index); // most recently used goes last
      this.blocks.set(index, cached);
      return cached;
    }
    const B = this.opts.blockSize;
    const first = index * B;
    const last = Math.min(this.size, first + B) - 1;
    const block: Block = { data: this.fetchRange(first, last), length: last - first + 1, waiting: 0, settled: false, read: [] };
    block.data.then(
      () => {
        block.settled = true;
        this.trim();
      },
      () => {
        // A failed block is forgotten so the next read tries again (no sticky failure).
        if (this.blocks.get(index) === block) this.blocks.delete(index);
      },
    );
    this.blocks.set(index, block);
    this.trim();
    return block;
  }

  /** After a read that continues the previous one, starts fetching the following blocks. */
  private readAhead(first: number, last: number): void {
    // Pipelined reads complete in any order: near the previous read counts as sequential.
    const sequential = this.nextSequential >= 0 && Math.abs(first - this.nextSequential) <= this.opts.cacheBlocks;
    this.nextSequential = last + 1;
    if (!sequential && first !== 0) {
      this.streak = 0;
      return;
    }
    this.streak = Math.min(this.streak + 1, 16);
    const count = Math.min(this.opts.readAheadBlocks, 2 ** (this.streak - 1));
    const lastBlock = Math.floor((this.size - 1) / this.opts.blockSize);
    for (let i = last + 1; i <= Math.min(lastBlock, last + count); i++) {
      // Only into free room: a read-ahead must not push out blocks that are still to be read.
      // (A failed one is forgotten; its error surfaces if that block is read.)
      if (!this.blocks.has(i) && this.unread() < this.opts.cacheBlocks) this.block(i);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    this.blocks.clear();
    this.ahead = undefined;
  }
}

/** A reader over bytes we already hold (LIT caps carry their content). */
export class BytesReader implements FileReader {
  constructor(private readonly data: Buffer) {}
  get size(): number {
    return this.data.length;
  }
  async read(offset: number, length: number): Promise<Buffer> {
    if (!Number.isSafeInteger(offset) || offset < 0 || !Number.isSafeInteger(length) || length < 0) {
      throw new GridError('INVALID', 'bad read offset or length');
    }
    return this.data.subarray(Math.min(offset, this.data.length), Math.min(this.data.length, offset + length));
  }
  async close(): Promise<void> {}
}
