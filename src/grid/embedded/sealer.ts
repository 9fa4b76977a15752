// Uploads hand their full segments to a worker thread (seal-worker.ts), which hashes, seals and
// writes them while the event loop goes on decrypting SSH packets and parsing requests: the
// second core does the store's share of every upload byte (issue #11).
//
// Memory is a process-wide budget, not a per-upload one: at most MAX_IN_FLIGHT segments are in
// the workers' hands at once, whatever the number of uploads, and one upload may hold at most
// PER_UPLOAD of them. An upload that finds the budget spent waits (its writes resolve later,
// which slows its client through the protocol's own flow control); none fails for it. Segment
// buffers come back from the worker and are reused, so a steady upload allocates nothing.
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { releaseWhenIdle } from '../../util/idle-collection.js';
import { SlabPool } from '../../util/slab-arena.js';
import { SEGMENT_SIZE } from './layout.js';

export interface WorkerError {
  code: string | undefined;
  message: string;
}

export type SealRequest =
  | { op: 'begin'; id: number; path: string; key: Uint8Array }
  | { op: 'segment'; id: number; index: number; buffer: ArrayBuffer; length: number }
  | { op: 'digest'; id: number }
  | { op: 'seal'; id: number; header: Uint8Array }
  | { op: 'abort'; id: number };

export type SealReply =
  | { op: 'segment-done'; id: number; buffer: ArrayBuffer; error?: WorkerError }
  | { op: 'digest'; id: number; digest?: Uint8Array; error?: WorkerError }
  | { op: 'sealed'; id: number; error?: WorkerError }
  | { op: 'aborted'; id: number };

/** Segments in the workers' hands at once, over all uploads (4 MiB of plaintext). */
export const MAX_IN_FLIGHT = 32;
/**
 * Segments one upload may have in flight: enough to keep a worker busy while it reads more.
 * Measured, 512 MiB curl FTP uploads (3 each, A/B twice): 4 took 1.9-2.25 s, 16 took 1.5-2.0 s
 * (medians 2.05/2.13 vs 1.65/1.73), with neither thread busy all the time at 4.
 */
const PER_UPLOAD = 16;
/** Idle segment buffers kept for reuse. */
const SPARE_BUFFERS = MAX_IN_FLIGHT;
/** A worker with no upload for this long stops (its isolate is ~10 MiB); the next upload starts one. */
const IDLE_MS = 60_000;

/** A worker's failure as the Error the store's error mapping expects (code kept for ENOSPC). */
export function workerError(e: WorkerError): Error {
  return Object.assign(new Error(e.message), e.code ? { code: e.code } : {});
}

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

/** One worker thread and the uploads pinned to it. */
class SealThread {
  private readonly worker: Worker;
  private readonly jobs = new Map<number, SealJob>();
  private pending = 0;
  private idleTimer: NodeJS.Timeout | undefined;

  constructor(private readonly pool: SealPool) {
    this.worker = new Worker(new URL('./seal-worker.js', import.meta.url));
    this.worker.unref();
    this.worker.on('message', (m: SealReply) => this.jobs.get(m.id)?.onReply(m));
    // A worker that fails or exits fails every upload it had (an error, never a hang); the
    // next upload starts a new one.
    this.worker.on('error', (err) => this.died(err));
    this.worker.on('exit', (code) => this.died(new Error(`the sealing worker exited with code ${code}`)));
  }

  private died(err: Error): void {
    for (const job of this.jobs.values()) job.onWorkerDied(err);
    this.jobs.clear();
    this.pool.replace(this);
  }

  get load(): number {
    return this.jobs.size;
  }

  attach(job: SealJob): void {
    clearTimeout(this.idleTimer);
    this.jobs.set(job.id, job);
  }

  detach(job: SealJob): void {
    this.jobs.delete(job.id);
    if (this.jobs.size > 0) return;
    this.idleTimer = setTimeout(() => {
      if (this.jobs.size > 0) return;
      this.pool.replace(this);
      void this.terminate();
    }, IDLE_MS);
    this.idleTimer.unref();
  }

  /** Sends a request; the worker keeps the process alive only while it owes replies. */
  post(m: SealRequest, transfer: ArrayBuffer[] = [], expectsReply = true): void {
    if (expectsReply && this.pending++ === 0) this.worker.ref();
    this.worker.postMessage(m, transfer);
  }

  replied(): void {
    if (--this.pending === 0) this.worker.unref();
  }

  terminate(): Promise<number> {
    clearTimeout(this.idleTimer);
    return this.worker.terminate();
  }
}

export class SealPool {
  private threads: SealThread[] = [];
  private nextId = 1;
  /** Segment buffers back from the workers, for the next segments. */
  private readonly spare = new SlabPool(SPARE_BUFFERS * SEGMENT_SIZE, SEGMENT_SIZE);
  readonly slots: Slots;
  /** Spare buffers are let go when the process is idle (util/idle-collection.ts), until close(). */
  private readonly unregisterIdle: () => void;

  constructor(
    /** Worker threads: one per core beyond the event loop's, at least one, at most four. */
    private readonly size = Math.min(4, Math.max(1, availableParallelism() - 1)),
    maxInFlight = MAX_IN_FLIGHT,
  ) {
    this.slots = new Slots(maxInFlight);
    this.unregisterIdle = releaseWhenIdle(this);
  }

  /** Segments in the workers' hands now, and the most there were at once (tests, metrics). */
  get inFlight(): { now: number; peak: number } {
    return { now: this.slots.used, peak: this.slots.peak };
  }

  /** Starts an upload's job on the least loaded worker. */
  job(path: string, key: Buffer): SealJob {
    while (this.threads.length < this.size) this.threads.push(new SealThread(this));
    const thread = this.threads.reduce((a, b) => (b.load < a.load ? b : a));
    const job = new SealJob(this.nextId++, thread, this);
    thread.attach(job);
    thread.post({ op: 'begin', id: job.id, path, key }, [], false);
    return job;
  }

  /** Segment buffers allocated so far (the rest of buffer()'s answers were reused; tests). */
  get allocated(): number {
    return this.spare.allocated;
  }

  /** A segment buffer: a spare one if any (reuse), else a new one of its own (transferable). */
  buffer(): Buffer {
    return this.spare.take();
  }

  recycle(ab: ArrayBuffer): void {
    this.spare.give(Buffer.from(ab));
  }

  /** Lets the spare buffers go (up to 4 MiB, garbage for the next collection); returns their bytes. */
  dropIdle(): number {
    return this.spare.dropIdle();
  }

  replace(dead: SealThread): void {
    this.threads = this.threads.filter((t) => t !== dead);
  }

  async close(): Promise<void> {
    this.unregisterIdle();
    const threads = this.threads;
    this.threads = [];
    await Promise.all(threads.map((t) => t.terminate()));
  }
}

/** The worker side of one upload: segments in order, then its digest, then the sealed file. */
export class SealJob {
  private inFlight = 0;
  private readonly drained: (() => void)[] = [];
  private error: Error | undefined;
  private waiting: ((m: SealReply) => void) | undefined;
  /** Sealed or aborted: the worker has forgotten this upload. */
  private over = false;

  constructor(
    readonly id: number,
    private readonly thread: SealThread,
    private readonly pool: SealPool,
  ) {}

  /** The first failure reported by the worker (a write error such as ENOSPC), if any. */
  get failure(): Error | undefined {
    return this.error;
  }

  /**
   * Hands `buffer` (SEGMENT_SIZE bytes of its own, `length` of them filled) to the worker;
   * the caller must not touch it again. Resolves once the budgets allow more.
   */
  async segment(index: number, buffer: Buffer, length: number): Promise<void> {
    await this.pool.slots.take();
    while (this.inFlight >= PER_UPLOAD) await new Promise<void>((r) => this.drained.push(r));
    this.inFlight++;
    const ab = buffer.buffer as ArrayBuffer;
    this.thread.post({ op: 'segment', id: this.id, index, buffer: ab, length }, [ab]);
  }

  /** The SHA-256 of every byte sent, once the worker has handled them all. */
  async digest(): Promise<Buffer> {
    const m = await this.request({ op: 'digest', id: this.id });
    if (m.op !== 'digest' || !m.digest) throw this.error ?? workerError((m as { error?: WorkerError }).error ?? { code: undefined, message: 'sealing failed' });
    return Buffer.from(m.digest);
  }

  /** Writes the header and makes the file durable. */
  async seal(header: Buffer): Promise<void> {
    const m = await this.request({ op: 'seal', id: this.id, header });
    if (m.op === 'sealed' && m.error) throw workerError(m.error);
    this.end();
  }

  /** Drops the upload: its temporary file is removed. Safe after a failure, a no-op once sealed. */
  async abort(): Promise<void> {
    if (this.over) return;
    if (this.error?.message !== WORKER_DIED) await this.request({ op: 'abort', id: this.id });
    this.end();
  }

  private end(): void {
    this.over = true;
    this.thread.detach(this);
  }

  private request(m: SealRequest): Promise<SealReply> {
    return new Promise((resolve, reject) => {
      this.waiting = (reply) => (reply.op === 'aborted' && m.op !== 'abort' ? reject(this.error) : resolve(reply));
      this.thread.post(m);
    });
  }

  onReply(m: SealReply): void {
    this.thread.replied();
    if (m.op === 'segment-done') {
      this.pool.recycle(m.buffer);
      this.pool.slots.give();
      this.inFlight--;
      this.drained.shift()?.();
      if (m.error) this.error ??= workerError(m.error);
      return;
    }
    const w = this.waiting;
    this.waiting = undefined;
    w?.(m);
  }

  onWorkerDied(err: Error): void {
    this.error ??= new Error(WORKER_DIED, { cause: err });
    for (; this.inFlight > 0; this.inFlight--) this.pool.slots.give();
    for (const d of this.drained.splice(0)) d();
    const w = this.waiting;
    this.waiting = undefined;
    w?.({ op: 'aborted', id: this.id });
  }
}

const WORKER_DIED = 'the sealing worker stopped';
