// Buffers of one size that the embedded store's reads use again once nothing refers to their
// bytes, instead of fresh ones left for V8 to collect: the runs a download reads, ~0.9 MiB each
// (ObjectReader in objects.ts).
//
// Why: 8 OpenSSH clients downloading 256 MiB each at once made lafsd allocate ~1.8 bytes of
// Buffers per byte sent, nearly all dead at once, and V8 collected them only every ~100 ms:
// lafsd peaked at 198-207 MiB against 119-144 for the same 8 files uploaded. Runs were 1.58 GiB
// of that per 2 GiB sent (bench/README.md, twelfth and fourteenth sessions). The copies of READs
// that straddle two runs (0.45 GiB) were pooled the same way, and the peaks went up, not down:
// 160-180 MiB against 138-150 (two interleaved pairs of 3 rounds); they stay fresh buffers.
//
// A buffer goes back to the free list only when every hold on it is gone: the reader's cache
// (until the run leaves it), its load (until the native open has finished writing into it),
// each read() still turning it into views, and each view lent out (until the consumer gives it
// back, util/lent-buffers.ts). A buffer that failed to load is never reused. The free list is
// short and empties itself within two idle seconds, so an idle server holds none of it.
import type { Lender } from '../../util/lent-buffers.js';

/** Free buffers kept at most: enough for those that change hands between two reads. */
const MAX_FREE = 8;
/** A free list that has not been taken from for this long is dropped. */
const IDLE_DROP_MS = 1000;

export class BufferPool {
  private readonly free: Buffer[] = [];
  private takenSinceCheck = false;
  private dropTimer: NodeJS.Timeout | undefined;
  /** Buffers made, and taken from the free list (for tests and benchmarks). */
  readonly counts = { made: 0, reused: 0 };

  constructor(readonly size: number) {}

  /** A buffer of `size` bytes with one hold (its taker's). */
  take(): PooledBuffer {
    this.takenSinceCheck = true;
    const bytes = this.free.pop();
    if (bytes) this.counts.reused++;
    else this.counts.made++;
    return new PooledBuffer(bytes ?? Buffer.allocUnsafeSlow(this.size), this);
  }

  /** Called by a PooledBuffer whose last hold is gone. */
  put(bytes: Buffer): void {
    if (this.free.length >= MAX_FREE) return;
    this.free.push(bytes);
    this.dropTimer ??= setTimeout(this.dropIfIdle, IDLE_DROP_MS).unref();
  }

  get freeCount(): number {
    return this.free.length;
  }

  private readonly dropIfIdle = (): void => {
    this.dropTimer = undefined;
    if (this.takenSinceCheck) {
      this.takenSinceCheck = false;
      if (this.free.length > 0) this.dropTimer = setTimeout(this.dropIfIdle, IDLE_DROP_MS).unref();
      return;
    }
    this.free.length = 0;
  };
}

/** One buffer of a BufferPool pool and the holds on it. */
export class PooledBuffer implements Lender {
  private holds = 1;
  private spoiled = false;

  constructor(
    readonly bytes: Buffer,
    private readonly pool: BufferPool,
  ) {}

  hold(): void {
    if (this.holds <= 0) throw new Error('PooledBuffer: hold after its last release');
    this.holds++;
  }

  release(): void {
    if (this.holds <= 0) throw new Error('PooledBuffer: released more often than held');
    if (--this.holds === 0 && !this.spoiled) this.pool.put(this.bytes);
  }

  /** Its load failed: whatever it holds is never handed out again. */
  spoil(): void {
    this.spoiled = true;
  }

  /** A view lent out came back (Lender). */
  returned(): void {
    this.release();
  }
}
