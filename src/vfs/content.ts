// The bytes of a file open for writing, and how they become a new immutable file.
//
// Sequential mode (what almost every client does): bytes at the current end stream straight
// into the grid's upload as they arrive, so closing a 1 GiB file costs no more than closing a
// 1 KiB one. Writes that arrive ahead of the end (pipelined, out of order) wait in memory, up to
// MAX_PENDING, for the gap before them to fill; past that, the gap is filled from the old
// content (or zeros) so memory stays bounded.
//
// Random mode (a write or read behind what was already streamed, a truncate below it): the
// streamed prefix is finished into an unlinked immutable file that becomes the new base, and
// further writes go to an encrypted sparse temp file; the next commit streams base + overlay
// into a new upload. Always correct, only slower, and only for clients that need it.
//
// In both modes the content is: written extents, else the base file (up to baseLen), else zeros.
import type { FileReader, Grid, UploadSink } from '../grid/index.js';
import { VfsError } from './errors.js';
import { ExtentMap, sliceBuffer, sliceNothing } from './extents.js';
import { SpillFile } from './spill.js';
import type { MemoryShare } from '../util/memory-budget.js';

/** Out-of-order bytes held in memory per open file before gaps are filled from the base. */
export const MAX_PENDING = 8 * 1024 * 1024;
const CHUNK = 1024 * 1024;

export interface BaseContent {
  cap: string;
  reader: FileReader;
}

export class WriteContent {
  /** Logical size of the file. */
  size: number;
  private base?: BaseContent;
  private baseLen: number;
  private mode: 'sequential' | 'random' = 'sequential';
  // sequential mode
  private sink?: UploadSink;
  private fed = 0;
  private readonly pending = new ExtentMap<Buffer>(sliceBuffer);
  /** Lowest offset that was fed from a write (bytes below it came from the base or zeros). */
  private writtenFloor = Infinity;
  // random mode
  private spill?: SpillFile;
  private readonly overlay = new ExtentMap<null>(sliceNothing);

  /** Aborted when the session's client is gone: loops that make bytes for nobody stop. */
  private readonly ended: AbortSignal | undefined;
  /** Where out-of-order bytes held in memory are counted (the session's share of the budget). */
  private readonly memory: MemoryShare | undefined;
  /** Bytes of `pending` last reported to `memory`. */
  private reported = 0;

  constructor(
    private readonly grid: Grid,
    private readonly spillDir: string,
    base?: BaseContent,
    opts: { ended?: AbortSignal; memory?: MemoryShare } = {},
    private readonly maxPending = MAX_PENDING,
  ) {
    this.ended = opts.ended;
    this.memory = opts.memory;
    if (base) this.base = base;
    this.baseLen = base?.reader.size ?? 0;
    this.size = this.baseLen;
  }

  /** True when the content is exactly the base file (nothing written, same length). */
  private unchanged(): boolean {
    const noWrites = this.mode === 'sequential' ? this.writtenFloor === Infinity && this.pending.length === 0 : this.overlay.length === 0;
    return noWrites && this.base !== undefined && this.size === this.baseLen && this.baseLen === this.base.reader.size;
  }

  // --- reading the layers ---------------------------------------------------------------

  private async baseOrZeros(start: number, end: number): Promise<Buffer> {
    const fromBase = this.base ? Math.max(0, Math.min(end, this.baseLen) - start) : 0;
    if (fromBase <= 0) return Buffer.alloc(end - start);
    const head = await this.base!.reader.read(start, fromBase);
    return head.length === end - start ? head : Buffer.concat([head, Buffer.alloc(end - start - head.length)]);
  }

  /** Bytes of [start, end) from written extents over base/zeros. */
  private async compose(start: number, end: number): Promise<Buffer> {
    const parts: Buffer[] = [];
    let pos = start;
    const extents = this.mode === 'sequential' ? [...this.pending.overlapping(start, end)] : [...this.overlay.overlapping(start, end)];
    for (const e of extents) {
      if (e.start > pos) parts.push(await this.baseOrZeros(pos, e.start));
      parts.push(this.mode === 'sequential' ? (e.value as Buffer) : await this.spill!.read(e.start, e.end - e.start));
      pos = e.end;
    }
    if (pos < end) parts.push(await this.baseOrZeros(pos, end));
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
  }

  // --- sequential mode ------------------------------------------------------------------

  private async feed(data: Buffer): Promise<void> {
    this.sink ??= await this.grid.upload();
    await this.sink.write(data);
    this.fed += data.length;
  }

  /** Feeds base/zeros up to `target`. */
  private async fillGapTo(target: number): Promise<void> {
    while (this.fed < target) {
      this.checkSessionAlive();
      await this.feed(await this.baseOrZeros(this.fed, Math.min(target, this.fed + CHUNK)));
    }
  }

  private checkSessionAlive(): void {
    if (this.ended?.aborted) throw new VfsError('CLOSED', 'the session ended');
  }

  /** Feeds pending extents that start at the current end. */
  private async drain(): Promise<void> {
    for (let first = this.pending.first(); first && first.start === this.fed; first = this.pending.first()) {
      this.pending.shift();
      this.reportPending();
      this.writtenFloor = Math.min(this.writtenFloor, first.start);
      await this.feed(first.value);
    }
  }

  /** Feeds everything up to the logical size. */
  private async feedAll(): Promise<void> {
    await this.drain();
    for (let first = this.pending.first(); first; first = this.pending.first()) {
      await this.fillGapTo(first.start);
      await this.drain();
    }
    await this.fillGapTo(this.size);
  }

  // --- switching to random mode ----------------------------------------------------------

  private async toRandom(): Promise<void> {
    if (this.mode === 'random') return;
    if (this.writtenFloor === Infinity) {
      // Nothing written was streamed yet: keep the base, drop the streamed copy of it.
      await this.sink?.abort();
      this.sink = undefined;
      this.fed = 0;
      const held = [...this.pending.overlapping(0, Infinity)];
      this.pending.clear();
      this.reportPending();
      this.mode = 'random';
      for (const e of held) await this.randomWrite(e.start, e.value);
      return;
    }
    const cap = await this.finishSequential();
    await this.rebase(cap);
  }

  private async finishSequential(): Promise<string> {
    await this.feedAll();
    this.sink ??= await this.grid.upload();
    const sink = this.sink;
    this.sink = undefined;
    return sink.finish();
  }

  /** The current content is now the file `cap`; continue in random mode on top of it. */
  private async rebase(cap: string): Promise<void> {
    const reader = await this.grid.openRead(cap);
    await this.base?.reader.close().catch(() => {});
    this.base = { cap, reader };
    this.baseLen = this.size;
    this.pending.clear();
    this.reportPending();
    this.overlay.clear();
    this.fed = 0;
    this.writtenFloor = Infinity;
    this.mode = 'random';
  }

  private async randomWrite(offset: number, data: Buffer): Promise<void> {
    this.spill ??= await SpillFile.create(this.spillDir);
    await this.spill.write(offset, data);
    this.overlay.insert(offset, offset + data.length, null);
  }

  // --- public operations -----------------------------------------------------------------

  async write(offset: number, data: Buffer): Promise<void> {
    if (data.length === 0) return;
    const end = offset + data.length;
    if (this.mode === 'sequential' && offset < this.fed) await this.toRandom();
    if (this.mode === 'random') {
      await this.randomWrite(offset, data);
    } else if (offset === this.fed && this.pending.length === 0) {
      this.writtenFloor = Math.min(this.writtenFloor, offset);
      await this.feed(data);
    } else {
      // Copy: the caller's buffer may be a view into a much larger network chunk.
      this.pending.insert(offset, end, Buffer.from(data));
      this.reportPending();
      await this.drain();
      // Past this file's bound, or when the process is short of transfer memory and this session
      // holds its part of it, the gap is filled from the old content (or zeros) instead.
      while (this.pending.length > 0 && (this.pending.covered > this.maxPending || this.memory?.over)) {
        await this.fillGapTo(this.pending.first()!.start);
        await this.drain();
      }
    }
    this.size = Math.max(this.size, end);
  }

  /** Tells the session's memory share how many out-of-order bytes are held now. */
  private reportPending(): void {
    if (!this.memory) return;
    const now = this.pending.covered;
    const delta = now - this.reported;
    // Recorded before add(): it may wake sessions waiting for room, which can report again.
    this.reported = now;
    this.memory.add(delta);
  }

  async read(offset: number, length: number): Promise<Buffer> {
    const end = Math.min(this.size, offset + length);
    if (offset >= end) return Buffer.alloc(0);
    if (this.mode === 'sequential' && offset < this.fed && end > Math.min(this.fed, this.writtenFloor)) await this.toRandom();
    return this.compose(offset, end);
  }

  async truncate(newSize: number): Promise<void> {
    if (this.mode === 'sequential' && newSize < this.fed) await this.toRandom();
    if (this.mode === 'sequential') this.pending.removeRange(newSize, Infinity);
    else this.overlay.removeRange(newSize, Infinity);
    this.reportPending();
    this.baseLen = Math.min(this.baseLen, newSize);
    this.size = newSize;
  }

  /**
   * Makes the current content a file and returns its cap. With `keepOpen` (an fsync: the client
   * may keep writing) the content continues on top of the new file; on close it does not, so
   * nothing is opened that would be closed again at once. Unchanged content returns the base cap.
   */
  async commit(keepOpen = true): Promise<string> {
    if (this.unchanged()) {
      await this.sink?.abort();
      this.sink = undefined;
      this.fed = 0;
      return this.base!.cap;
    }
    let cap: string;
    if (this.mode === 'sequential') {
      cap = await this.finishSequential();
    } else {
      const sink = await this.grid.upload();
      try {
        for (let pos = 0; pos < this.size; pos += CHUNK) {
          this.checkSessionAlive();
          await sink.write(await this.compose(pos, Math.min(this.size, pos + CHUNK)));
        }
        cap = await sink.finish();
      } catch (err) {
        await sink.abort();
        throw err;
      }
      await this.spill?.dispose();
      this.spill = undefined;
    }
    if (keepOpen) await this.rebase(cap);
    return cap;
  }

  /** Makes the content exactly the file `cap` (copy-data onto an empty handle: a relink). */
  async replaceWith(cap: string): Promise<void> {
    await this.sink?.abort();
    this.sink = undefined;
    await this.spill?.dispose();
    this.spill = undefined;
    const reader = await this.grid.openRead(cap);
    await this.base?.reader.close().catch(() => {});
    this.base = { cap, reader };
    this.size = this.baseLen = reader.size;
    this.pending.clear();
    this.reportPending();
    this.overlay.clear();
    this.fed = 0;
    this.writtenFloor = Infinity;
    this.mode = 'random';
  }

  /** True when nothing was written or truncated since open (or the last commit). */
  get isUnchanged(): boolean {
    return this.unchanged() || (this.base === undefined && this.size === 0 && this.fed === 0 && this.pending.length === 0 && this.overlay.length === 0);
  }

  /** Forgets the out-of-order bytes held in memory (after a failed write: nothing is committed). */
  dropPending(): void {
    this.pending.clear();
    this.reportPending();
  }

  /** Releases everything; nothing becomes visible. */
  async dispose(): Promise<void> {
    this.dropPending();
    await this.sink?.abort().catch(() => {});
    this.sink = undefined;
    await this.spill?.dispose().catch(() => {});
    this.spill = undefined;
    await this.base?.reader.close().catch(() => {});
    this.base = undefined;
  }
}
