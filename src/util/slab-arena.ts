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
const IDLE_MS = 10_000;

/** Idle slabs shared by all arenas of the process, up to a bound; dropped when unused a while. */
export class SlabPool {
  private readonly idle: Buffer[] = [];
  private usedSinceTick = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    /** Bytes of idle slabs kept for reuse. */
    private readonly maxIdleBytes: number,
  ) {}

  get idleBytes(): number {
    return this.idle.length * SLAB_SIZE;
  }

  take(): Buffer {
    this.usedSinceTick = true;
    return this.idle.pop() ?? Buffer.allocUnsafeSlow(SLAB_SIZE);
  }

  give(slab: Buffer): void {
    if ((this.idle.length + 1) * SLAB_SIZE > this.maxIdleBytes) return;
    this.idle.push(slab);
    this.armTrim();
  }

  private armTrim(): void {
    if (this.timer) return;
    this.usedSinceTick = false;
    this.timer = setInterval(() => {
      if (this.usedSinceTick) {
        this.usedSinceTick = false;
        return;
      }
      this.idle.length = 0;
      clearInterval(this.timer);
      this.timer = undefined;
    }, IDLE_MS);
    this.timer.unref();
  }
}

/** Slabs for one connection's input. */
export class SlabArena {
  private current: Buffer | undefined;
  private used = 0;
  /** References to each slab (and oversized copy) of this arena that may still be read. */
  private readonly refs = new Map<ArrayBufferLike, number>();
  private readonly slabs = new Map<ArrayBufferLike, Buffer>();
  private held = 0;
  private disposed = false;

  constructor(private readonly pool: SlabPool) {}

  /** Bytes of the slabs this arena holds now (the one being filled included). */
  get heldBytes(): number {
    return this.held;
  }

  /** True when `view` lies in memory of this arena. */
  owns(view: Buffer): boolean {
    return this.refs.has(view.buffer);
  }

  /** A copy of `chunk` in this arena, with one reference taken for it. */
  copy(chunk: Buffer): Buffer {
    if (this.disposed) return Buffer.from(chunk);
    if (chunk.length > SLAB_SIZE) {
      const own = Buffer.allocUnsafeSlow(chunk.length);
      chunk.copy(own);
      this.slabs.set(own.buffer, own);
      this.refs.set(own.buffer, 1);
      this.held += own.length;
      return own;
    }
    if (!this.current || this.used + chunk.length > SLAB_SIZE) this.nextSlab();
    const view = this.current!.subarray(this.used, this.used + chunk.length);
    chunk.copy(view);
    this.used += chunk.length;
    this.refs.set(view.buffer, this.refs.get(view.buffer)! + 1);
    return view;
  }

  /** One more reference to the slab under `view` (no-op for memory that is not this arena's). */
  hold(view: Buffer): void {
    const n = this.refs.get(view.buffer);
    if (n !== undefined) this.refs.set(view.buffer, n + 1);
  }

  /** Gives back one reference; the last one returns the slab (unless it is still being filled). */
  release(view: Buffer): void {
    const n = this.refs.get(view.buffer);
    if (n === undefined) return;
    if (n > 1) {
      this.refs.set(view.buffer, n - 1);
      return;
    }
    this.refs.set(view.buffer, 0);
    if (view.buffer !== this.current?.buffer) this.retire(view.buffer);
  }

  /**
   * The connection is over. Unreferenced slabs go back to the pool; referenced ones are left to
   * the garbage collector, since whoever still reads them must not see them reused.
   */
  dispose(): void {
    this.disposed = true;
    for (const [buffer, n] of this.refs) if (n === 0) this.retire(buffer);
    this.refs.clear();
    this.slabs.clear();
    this.held = 0;
    this.current = undefined;
  }

  private nextSlab(): void {
    const old = this.current;
    if (old && this.refs.get(old.buffer) === 0) this.retire(old.buffer);
    this.current = this.pool.take();
    this.used = 0;
    this.refs.set(this.current.buffer, 0);
    this.slabs.set(this.current.buffer, this.current);
    this.held += SLAB_SIZE;
  }

  private retire(buffer: ArrayBufferLike): void {
    const slab = this.slabs.get(buffer);
    this.refs.delete(buffer);
    this.slabs.delete(buffer);
    if (!slab) return;
    this.held -= slab.length;
    if (slab.length === SLAB_SIZE) this.pool.give(slab);
  }
}
