// Random-access reads over HTTP ranges, at the speed of one streaming GET or better.
//
// A Tahoe node serves each ranged GET of an immutable file with a downloader of its own (share
// discovery, hash trees, then one segment after another), so what matters is how many ranges
// are asked and how much work each one carries:
// - a reader that goes forward (a client copying a file out: OpenSSH's 64 pipelined 255 KiB
//   READs, FTP's RETR) gets large ranges (`rangeBytes`), `parallelRanges` at a time, up to
//   `readAheadBytes` ahead of it: each range costs the node a fixed start (finding shares,
//   hash trees) and then streams, and a few at once keep it busy while one waits for its
//   storage servers (measured on a 2-of-3 grid: two 16 MiB ranges at once move a 32 MiB file
//   in 0.63× the time of one GET of it; sixteen 1 MiB ranges take 1.6×);
// - every range streams: a read is answered as soon as its bytes have arrived, not when its
//   range is complete;
// - reads elsewhere (a client peeking into a file) fetch only the segments they touch
//   (`segmentSize`, Tahoe's 128 KiB), with no read-ahead;
// - bytes already fetched are never fetched again while they are still to be read, and a range
//   is dropped once it has been read (memory per reader: the read-ahead plus the range being
//   read, 24 + 8 MiB by default: on a real grid one forward reader held four 8 MiB ranges);
// - with a RangeBudget, each reader going forward holds at most its equal share of it, in
//   ranges sized to fit that share (below).
// A failed range is forgotten, so the next read of those bytes tries again (no sticky failure).
import { GridError } from '../errors.js';
import type { FileReader } from '../types.js';

export interface ReadOptions {
  /** Alignment and smallest fetch (Tahoe's immutable segments are 128 KiB). */
  segmentSize: number;
  /** Size of the ranges of a reader going forward. */
  rangeBytes: number;
  /** How far ahead of a reader going forward its ranges reach (0: no read-ahead). */
  readAheadBytes: number;
  /** Ranges of one reader in flight at once. */
  parallelRanges: number;
  /** Fetch the whole file as one range on the first read (SDMF: Tahoe retrieves it whole for any range). */
  wholeFile?: boolean;
  /** Bytes all readers of the grid may hold in ranges before read-ahead stops (RangeBudget). */
  budget?: RangeBudget;
}

/**
 * Range bytes held by all readers of one grid. Each range's buffer is allocated when it starts,
 * and one reader going forward holds its read-ahead plus the range it reads (32 MiB by
 * default): nothing bounded many readers, so 500 open handles that each read 32 KiB from the
 * start of a file could hold 500 × 8–48 MiB (found on 2026-12-05, the same hole as the embedded
 * store's reader caches). A read is always served; what the budget bounds is read-ahead.
 *
 * The budget is shared equally between the readers going forward. First come, first served was
 * unfair and slow once it bound: on a real 2-of-3 grid, 8 downloads on a 32 MiB budget finished
 * one client in 7–13 s and the others in 25–36 s, and those others fell back to one 128 KiB
 * ranged GET per SFTP READ (778 of them), which cost Tahoe 5× the CPU and the clients 2.4–3.2×
 * the time. Now every reader gets ranges sized to its share (a quarter of it, so three stay in
 * flight while one is read), whole segments, at most `rangeBytes`. Eight readers on the
 * default 256 MiB get 28 MiB each: ranges of 7 MiB instead of 8.
 */
export class RangeBudget {
  private used = 0;
  private forwardReaders = 0;

  constructor(readonly limit: number) {}

  get heldBytes(): number {
    return this.used;
  }

  /** Whether `bytes` more fit under the limit. */
  fits(bytes: number): boolean {
    return this.used + bytes <= this.limit;
  }

  /**
   * Each forward reader's equal part of the limit, keeping one part free: a reader that came
   * first and read ahead with a larger share drains its excess into that part while the others
   * take up theirs, instead of pushing the whole budget over (then every reader, itself
   * included, fetched single segments until it had drained).
   */
  share(): number {
    return Math.floor(this.limit / (this.forwardReaders + 1));
  }

  /** @internal A reader started going forward (until it closes). */
  enter(): void {
    this.forwardReaders++;
  }

  /** @internal */
  leave(): void {
    this.forwardReaders--;
  }

  /** @internal */
  change(delta: number): void {
    this.used += delta;
  }
}

/**
 * Streams bytes [first, last] (inclusive; the caller keeps them within the size it knows) into
 * `sink` as they arrive; resolves with the number of bytes delivered, which is smaller only when
 * the file is shorter now than it was (a mutable file that shrank).
 */
export type RangeStreamer = (first: number, last: number, sink: (data: Buffer) => void, signal: AbortSignal) => Promise<number>;

interface Waiter {
  /** Absolute offset up to which the waiter needs the bytes (or the range's end). */
  until: number;
  resolve: () => void;
  reject: (err: unknown) => void;
}

interface Range {
  start: number;
  end: number;
  buf: Buffer;
  /** Bytes arrived, from `start`. */
  filled: number;
  done: boolean;
  failure?: unknown;
  waiters: Waiter[];
  /** Bytes handed out to reads (sorted disjoint intervals, absolute offsets). */
  read: Array<[number, number]>;
  controller: AbortController;
  lastUse: number;
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

function fullyRead(r: Range): boolean {
  return r.done && r.read.length === 1 && r.read[0]![0] <= r.start && r.read[0]![1] >= r.start + r.filled;
}

export class RangeReader implements FileReader {
  /** Sorted by start, never overlapping. */
  private ranges: Range[] = [];
  /** End of the reads of a reader going forward (-1: none yet). */
  private frontier = -1;
  private uses = 0;
  private closed = false;
  /** Bytes of this reader's ranges. */
  private held = 0;
  /** Counted among the budget's forward readers. */
  private counted = false;

  constructor(
    readonly size: number,
    private readonly stream: RangeStreamer,
    private readonly opts: ReadOptions,
  ) {}

  async read(offset: number, length: number): Promise<Buffer> {
    if (this.closed) throw new GridError('INVALID', 'reader is closed');
    if (!Number.isSafeInteger(offset) || offset < 0 || !Number.isSafeInteger(length) || length < 0) {
      throw new GridError('INVALID', 'bad read offset or length');
    }
    const end = Math.min(this.size, offset + length); // exclusive; never past the known size
    if (offset >= end) return Buffer.alloc(0);
    // Going forward: at the start, or near where the reads have got to (pipelined reads finish
    // in any order, so "near" spans the read-ahead).
    const slack = Math.max(this.opts.readAheadBytes, this.opts.rangeBytes);
    const forward = offset === 0 || (this.frontier >= 0 && offset >= this.frontier - slack && offset <= this.frontier + slack);
    if (forward) {
      this.frontier = Math.max(this.frontier, end);
      if (!this.counted && this.opts.budget && !this.opts.wholeFile) {
        this.counted = true;
        this.opts.budget.enter();
      }
    }
    const parts = this.cover(offset, end, forward);
    if (forward) this.readAhead(end);
    this.trim();
    const out: Buffer[] = [];
    for (const r of parts) {
      const from = Math.max(offset, r.start);
      const to = Math.min(end, r.end);
      await this.arrival(r, to);
      const have = Math.min(to, r.start + r.filled);
      if (have > from) {
        out.push(r.buf.subarray(from - r.start, have - r.start));
        addInterval(r.read, from, have);
      }
      if (have < to) break; // the file ended early (a mutable file shrank): a short read
    }
    this.trim();
    // What was read to the end is given back: the next ranges start now, not at the next read,
    // which would otherwise find its bytes missing and fetch just those.
    if (forward && !this.closed) this.readAhead(this.frontier);
    // A copy: the reply may outlive the range, whose buffer is large.
    if (out.length === 1) return Buffer.from(out[0]!);
    return Buffer.concat(out);
  }

  /** The ranges holding [offset, end), creating ranges for the gaps. */
  private cover(offset: number, end: number, forward: boolean): Range[] {
    const out: Range[] = [];
    let pos = offset;
    while (pos < end) {
      const existing = this.ranges.find((r) => r.start <= pos && pos < r.end);
      if (existing) {
        existing.lastUse = ++this.uses;
        out.push(existing);
        pos = existing.end;
        continue;
      }
      const nextStart = this.ranges.find((r) => r.start > pos)?.start ?? this.size;
      let start: number;
      let stop: number;
      if (this.opts.wholeFile) {
        start = pos;
        stop = nextStart;
      } else {
        const seg = this.opts.segmentSize;
        // Whole segments (the node decodes whole segments anyway), never over a neighbour.
        start = Math.max(Math.floor(pos / seg) * seg, this.prevEnd(pos));
        stop = Math.min(nextStart, Math.ceil(end / seg) * seg);
        const size = this.forwardRangeBytes();
        if (forward && this.mayHold(size)) stop = Math.min(nextStart, Math.max(stop, start + size));
      }
      const r = this.start(start, Math.min(stop, this.size));
      out.push(r);
      pos = r.end;
    }
    return out;
  }

  /** End of the range before `pos` (0 when none), so new ranges never overlap old ones. */
  private prevEnd(pos: number): number {
    let e = 0;
    for (const r of this.ranges) if (r.end <= pos) e = Math.max(e, r.end);
    return e;
  }

  private inFlight(): number {
    let n = 0;
    for (const r of this.ranges) if (!r.done) n++;
    return n;
  }

  /** Starts ranges after `pos` until `readAheadBytes` ahead are asked for or `parallelRanges` are in flight. */
  private readAhead(pos: number): void {
    if (this.opts.readAheadBytes <= 0 || this.opts.wholeFile) return;
    const limit = Math.min(this.size, pos + this.opts.readAheadBytes);
    let at = pos;
    while (at < limit) {
      const existing = this.ranges.find((r) => r.start <= at && at < r.end);
      if (existing) {
        at = existing.end;
        continue;
      }
      if (this.inFlight() >= this.opts.parallelRanges) return;
      const seg = this.opts.segmentSize;
      const start = Math.max(Math.floor(at / seg) * seg, this.prevEnd(at));
      const nextStart = this.ranges.find((r) => r.start > at)?.start ?? this.size;
      const stop = Math.min(nextStart, this.size, start + this.forwardRangeBytes());
      if (!this.mayHold(stop - start)) return;
      at = this.start(start, stop).end;
    }
  }

  private start(start: number, end: number): Range {
    const r: Range = {
      start,
      end,
      buf: this.allocate(end - start),
      filled: 0,
      done: false,
      waiters: [],
      read: [],
      controller: new AbortController(),
      lastUse: ++this.uses,
    };
    const i = this.ranges.findIndex((x) => x.start > start);
    this.ranges.splice(i < 0 ? this.ranges.length : i, 0, r);
    const sink = (data: Buffer) => {
      const n = Math.min(data.length, r.buf.length - r.filled);
      data.copy(r.buf, r.filled, 0, n);
      r.filled += n;
      this.wake(r);
    };
    this.stream(start, end - 1, sink, r.controller.signal).then(
      () => {
        r.done = true;
        this.wake(r);
        this.trim();
        // A read-ahead slot is free: keep the pipeline full for a reader going forward.
        if (!this.closed && this.frontier >= 0) this.readAhead(this.frontier);
      },
      (err: unknown) => {
        r.done = true;
        r.failure = err;
        // Forgotten at once, so the next read of these bytes asks again.
        this.forget(r);
        this.wake(r);
      },
    );
    return r;
  }

  private wake(r: Range): void {
    if (r.waiters.length === 0) return;
    const keep: Waiter[] = [];
    for (const w of r.waiters) {
      if (r.failure !== undefined) w.reject(r.failure);
      else if (r.done || r.start + r.filled >= w.until) w.resolve();
      else keep.push(w);
    }
    r.waiters = keep;
  }

  /** Resolves once the range has bytes up to `until` (or has ended); rejects if it failed. */
  private arrival(r: Range, until: number): Promise<void> {
    if (r.failure !== undefined) return Promise.reject(r.failure);
    if (r.done || r.start + r.filled >= until) return Promise.resolve();
    return new Promise((resolve, reject) => r.waiters.push({ until, resolve, reject }));
  }

  /**
   * Drops ranges read to the end, then (beyond about two read-aheads of bytes) the least
   * recently used ones that nobody waits for; ranges in flight stay.
   */
  private trim(): void {
    for (const r of this.ranges.filter((x) => fullyRead(x) && x.waiters.length === 0)) this.forget(r);
    const budget = 2 * Math.max(this.opts.readAheadBytes, this.opts.rangeBytes, 4 * this.opts.segmentSize);
    let held = this.ranges.reduce((n, r) => n + r.buf.length, 0);
    if (held <= budget) return;
    for (const r of [...this.ranges].sort((a, b) => a.lastUse - b.lastUse)) {
      if (held <= budget) break;
      if (!r.done || r.waiters.length > 0) continue;
      this.forget(r);
      held -= r.buf.length;
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const r of this.ranges) {
      if (!r.done) r.controller.abort();
      for (const w of r.waiters) w.reject(new GridError('INVALID', 'reader is closed'));
      r.waiters = [];
    }
    for (const r of [...this.ranges]) this.forget(r);
    if (this.counted) {
      this.counted = false;
      this.opts.budget?.leave();
    }
  }

  /** Size of the next range going forward: `rangeBytes`, or less to fit this reader's share. */
  private forwardRangeBytes(): number {
    const budget = this.opts.budget;
    if (!budget) return this.opts.rangeBytes;
    const seg = this.opts.segmentSize;
    const quarter = Math.floor(budget.share() / (this.opts.parallelRanges + 1) / seg) * seg;
    return Math.max(seg, Math.min(this.opts.rangeBytes, quarter));
  }

  /** Whether this reader may hold `bytes` more for reading ahead: within the budget and its share. */
  private mayHold(bytes: number): boolean {
    const budget = this.opts.budget;
    if (!budget) return true;
    return budget.fits(bytes) && this.held + bytes <= budget.share();
  }

  /** A range's buffer, counted in the grid's budget until forget(). */
  private allocate(bytes: number): Buffer {
    this.held += bytes;
    this.opts.budget?.change(bytes);
    return Buffer.allocUnsafe(bytes);
  }

  /** Drops a range from this reader and gives its bytes back to the budget. */
  private forget(r: Range): void {
    const before = this.ranges.length;
    this.ranges = this.ranges.filter((x) => x !== r);
    if (this.ranges.length < before) {
      this.held -= r.buf.length;
      this.opts.budget?.change(-r.buf.length);
    }
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
