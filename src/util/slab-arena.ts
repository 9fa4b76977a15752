// Copies of a connection's incoming chunks, packed into slabs that are used again (issue #11).
//
// Data a session receives may wait a while before it is handled: behind earlier writes of its
// file, or while the session is held back by its memory bounds. A network buffer that waits
// through two scavenges is promoted, and a promoted buffer is freed only by a mark-compact; with
// 8 concurrent uploads that garbage was most of the peak memory. A copy into a slab costs one
// memcpy, and the network buffer dies young; the slabs themselves live long and are reused.
//
// A slab goes back to the pool once nothing refers to it: each copy takes one reference, and
// hold()/release() take and give back more (a view that outlives the copy it came from).

/** Slab size: four OpenSSH channel packets (32 KiB each). Chunks larger than this get their own. */
export const SLAB_SIZE = 128 * 1024;

/**
 * Idle fixed-size buffers kept for reuse, up to a bound: the slabs shared by all arenas of the
 * process, and the sealer's segment buffers (grid/embedded/sealer.ts). The pool lets them all go
 * when the process goes idle (`dropIdle`, called by util/idle-collection.ts, which then collects
 * them): they are cheap to allocate again (~1 ms for a burst's 256), and an idle server holding
 * 32 MiB it will not use is what users see in `top`.
 */
export class SlabPool {
  private readonly idle: Buffer[] = [];
  /** Buffers take() had to allocate (the rest of its answers were reused; tests). */
  allocated = 0;

  constructor(
    /** Bytes of idle buffers kept for reuse. */
    private readonly maxIdleBytes: number,
    /** The size of every buffer; others given back are left to the garbage collector. */
    readonly size: number = SLAB_SIZE,
  ) {}

  get idleBytes(): number {
    return this.idle.length * this.size;
  }

  take(): Buffer {
    const reused = this.idle.pop();
    if (reused) return reused;
    this.allocated++;
    return Buffer.allocUnsafeSlow(this.size);
  }

  give(slab: Buffer): void {
    if (slab.length !== this.size || (this.idle.length + 1) * this.size > this.maxIdleBytes) return;
    this.idle.push(slab);
  }

  /** Lets every idle buffer go (garbage for the next collection); returns their bytes. */
  dropIdle(): number {
    const bytes = this.idleBytes;
    this.idle.length = 0;
    return bytes;
  }
}

/** Slabs for one connection's input. */
export class SlabArena {
  private current: Buffer | undefined;
  private used = 0;
  /** Each slab (or oversized copy) of this arena that may still be read, and its references. */
  private readonly slabs = new Map<ArrayBufferLike, { slab: Buffer; refs: number }>();
  private disposed = false;

  constructor(private readonly pool: SlabPool) {}

  /** Bytes of the slabs this arena holds now (the one being filled included). */
  get heldBytes(): number {
    let n = 0;
    for (const { slab } of this.slabs.values()) n += slab.length;
    return n;
  }

  /** True when `view` lies in memory of this arena. */
  owns(view: Buffer): boolean {
    return this.slabs.has(view.buffer);
  }

  /** A copy of `chunk` in this arena, with one reference taken for it. */
  copy(chunk: Buffer): Buffer {
    if (this.disposed) return Buffer.from(chunk);
    if (chunk.length > SLAB_SIZE) {
      const own = Buffer.allocUnsafeSlow(chunk.length);
      chunk.copy(own);
      this.slabs.set(own.buffer, { slab: own, refs: 1 });
      return own;
    }
    if (!this.current || this.used + chunk.length > SLAB_SIZE) this.nextSlab();
    const view = this.current!.subarray(this.used, this.used + chunk.length);
    chunk.copy(view);
    this.used += chunk.length;
    this.slabs.get(view.buffer)!.refs++;
    return view;
  }

  /** One more reference to the slab under `view` (no-op for memory that is not this arena's). */
  hold(view: Buffer): void {
    const entry = this.slabs.get(view.buffer);
    if (entry) entry.refs++;
  }

  /** Gives back one reference; the last one returns the slab (unless it is still being filled). */
  release(view: Buffer): void {
    const entry = this.slabs.get(view.buffer);
    if (!entry || --entry.refs > 0) return;
    if (view.buffer !== this.current?.buffer) this.retire(view.buffer);
  }

  /**
   * The connection is over. Unreferenced slabs go back to the pool; referenced ones are left to
   * the garbage collector, since whoever still reads them must not see them reused.
   */
  dispose(): void {
    this.disposed = true;
    for (const [buffer, { refs }] of this.slabs) if (refs === 0) this.retire(buffer);
    this.slabs.clear();
    this.current = undefined;
  }

  private nextSlab(): void {
    const old = this.current;
    if (old && this.slabs.get(old.buffer)?.refs === 0) this.retire(old.buffer);
    this.current = this.pool.take();
    this.used = 0;
    this.slabs.set(this.current.buffer, { slab: this.current, refs: 0 });
  }

  private retire(buffer: ArrayBufferLike): void {
    const entry = this.slabs.get(buffer);
    if (!entry) return;
    this.slabs.delete(buffer);
    // An oversized copy is not a slab: the pool leaves it to the garbage collector.
    this.pool.give(entry.slab);
  }
}
