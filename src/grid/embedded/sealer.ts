// Uploads hand their full segments to lafsd's sealing addon (native/seal), which hashes, seals
// and writes them on libuv's thread pool while the event loop goes on decrypting SSH packets and
// parsing requests: the second core does the store's share of every upload byte (issue #11).
// It replaced a worker thread, whose V8 isolate cost ~10 MiB of resident memory by itself, and
// whose messages and fresh ciphertext Buffers cost the event loop and the worker's heap.
//
// Memory is a process-wide budget, not a per-upload one: at most MAX_IN_FLIGHT segments are in
// the pool's hands at once, whatever the number of uploads, and one upload may hold at most
// PER_UPLOAD of them. An upload that finds the budget spent waits (its writes resolve later,
// which slows its client through the protocol's own flow control); none fails for it. Segments
// are sealed in place and their buffers reused, so a steady upload allocates nothing.
import { releaseWhenIdle } from '../../util/idle-collection.js';
import { SlabPool } from '../../util/slab-arena.js';
import { SEGMENT_SIZE, segmentNonce, segmentOffset } from './layout.js';
import { SEAL_ADDON, sealAddon, type NativeUpload, type SealAddon } from './native.js';
import type { ContentHash } from './convergence.js';

/** Segments in the pool's hands at once, over all uploads (4 MiB of plaintext). */
export const MAX_IN_FLIGHT = 32;
/**
 * Segments one upload may have in flight: enough to keep the pool busy while it reads more.
 * Measured with the worker this replaced, 512 MiB curl FTP uploads (3 each, A/B twice): 4 took
 * 1.9-2.25 s, 16 took 1.5-2.0 s, with neither thread busy all the time at 4.
 */
const PER_UPLOAD = 16;
/** Idle segment buffers kept for reuse. */
const SPARE_BUFFERS = MAX_IN_FLIGHT;

class Slots {
  used = 0;
  peak = 0;
  private readonly waiters: (() => void)[] = [];
  constructor(private readonly max: number) {}
  async take(): Promise<void> {
    while (this.used >= this.max) await new Promise<void>((r) => this.waiters.push(r));
    this.used++;
    this.peak = Math.max(this.peak, this.used);
  }
  give(): void {
    this.used--;
    this.waiters.shift()?.();
  }
}

export class SealPool {
  /** Segment buffers back from sealing, for the next segments. */
  private readonly spare = new SlabPool(SPARE_BUFFERS * SEGMENT_SIZE, SEGMENT_SIZE);
  readonly slots: Slots;
  private readonly addon: SealAddon;
  /** Spare buffers are let go when the process is idle (util/idle-collection.ts), until close(). */
  private readonly unregisterIdle: () => void;

  constructor(maxInFlight = MAX_IN_FLIGHT, addonPath = SEAL_ADDON) {
    this.addon = sealAddon(addonPath);
    this.slots = new Slots(maxInFlight);
    this.unregisterIdle = releaseWhenIdle(this);
  }

  /** Segments in the pool's hands now, and the most there were at once (tests, metrics). */
  get inFlight(): { now: number; peak: number } {
    return { now: this.slots.used, peak: this.slots.peak };
  }

  /** Starts an upload whose sealed segments go to the new file `path`, under `key`; its digest is a `hash`. */
  job(path: string, key: Buffer, hash: ContentHash): SealJob {
    return new SealJob(this.addon, this.addon.begin(path, key, hash), this);
  }

  /** Segment buffers allocated so far (the rest of buffer()'s answers were reused; tests). */
  get allocated(): number {
    return this.spare.allocated;
  }

  /** A segment buffer (SEGMENT_SIZE bytes): a spare one if any, else a new one. */
  buffer(): Buffer {
    return this.spare.take();
  }

  recycle(buffer: Buffer): void {
    this.spare.give(buffer);
  }

  /** Lets the spare buffers go (up to 4 MiB, garbage for the next collection); returns their bytes. */
  dropIdle(): number {
    return this.spare.dropIdle();
  }

  /** Stops handing spare buffers to the idle collector. Segments still in flight finish. */
  async close(): Promise<void> {
    this.unregisterIdle();
  }
}

/** One upload's segments in order, then its digest, then the sealed file (or its removal). */
export class SealJob {
  private inFlight = 0;
  /** Waiting for fewer than PER_UPLOAD segments in flight. */
  private readonly drained: (() => void)[] = [];
  /** Waiting for none in flight. */
  private readonly settledWaiters: (() => void)[] = [];
  private error: Error | undefined;
  /** Sealed or aborted: the addon has let go of the file. */
  private over = false;

  constructor(
    private readonly addon: SealAddon,
    private readonly upload: NativeUpload,
    private readonly pool: SealPool,
  ) {}

  /** The first failure of a segment (a write error such as ENOSPC), if any. */
  get failure(): Error | undefined {
    return this.error;
  }

  /**
   * Hands `buffer` (SEGMENT_SIZE bytes, `length` of them filled) over to be sealed in place; the
   * caller must not touch it again. Resolves once the budgets allow more.
   */
  async segment(index: number, buffer: Buffer, length: number): Promise<void> {
    await this.pool.slots.take();
    while (this.inFlight >= PER_UPLOAD) await new Promise<void>((r) => this.drained.push(r));
    this.inFlight++;
    try {
      this.addon.segment(this.upload, buffer, length, segmentNonce(index), segmentOffset(index), (err) => this.segmentDone(buffer, err));
    } catch (err) {
      this.segmentDone(buffer, err as Error);
      throw err;
    }
  }

  private segmentDone(buffer: Buffer, err: Error | null): void {
    this.pool.recycle(buffer);
    this.pool.slots.give();
    this.inFlight--;
    if (err) this.error ??= err;
    this.drained.shift()?.();
    if (this.inFlight === 0) for (const w of this.settledWaiters.splice(0)) w();
  }

  private async settled(): Promise<void> {
    while (this.inFlight > 0) await new Promise<void>((r) => this.settledWaiters.push(r));
  }

  /** The hash (the job's kind) of every byte sent, once all of them are sealed and written. */
  async digest(): Promise<Buffer> {
    await this.settled();
    if (this.error) throw this.error;
    return this.addon.digest(this.upload);
  }

  /** Writes the header and makes the file durable. */
  async seal(header: Buffer): Promise<void> {
    await this.settled();
    await new Promise<void>((resolve, reject) => this.addon.seal(this.upload, header, (err) => (err ? reject(err) : resolve())));
    this.over = true;
  }

  /** Drops the upload: its temporary file is removed. Safe after a failure, a no-op once sealed. */
  async abort(): Promise<void> {
    if (this.over) return;
    await this.settled();
    this.over = true;
    await new Promise<void>((resolve) => this.addon.abort(this.upload, () => resolve()));
  }
}
