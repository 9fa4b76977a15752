// Transfer data held in memory, as one budget for the whole process (issue #11): READ and
// WRITE payloads in flight, replies waiting to be sent, out-of-order writes waiting for a gap.
// Each session has a share. When the process is over budget, the sessions that hold more than
// an equal part of it stop taking more (they stop reading their connection, so TCP and the
// protocol's flow control slow those clients down) until the process is back under budget.
// Nobody fails for it, and a session that holds less than its part is never held back, so
// 8 or 80 clients cannot multiply the memory, and a light client is not slowed by heavy ones.

export class MemoryBudget {
  private used = 0;
  private readonly shares = new Set<MemoryShare>();
  private readonly waiting = new Set<() => void>();

  constructor(
    /** Bytes all shares together may hold before the biggest are held back. */
    readonly limit: number,
  ) {}

  get usedBytes(): number {
    return this.used;
  }

  get over(): boolean {
    return this.used >= this.limit;
  }

  /** A new session's share (empty until it reports bytes). */
  share(): MemoryShare {
    const s = new MemoryShare(this);
    this.shares.add(s);
    return s;
  }

  /** @internal */
  fairPart(): number {
    return this.limit / Math.max(1, this.shares.size);
  }

  /** @internal */
  change(delta: number): void {
    const wasOver = this.over;
    this.used += delta;
    if (wasOver && !this.over) for (const wake of [...this.waiting]) wake();
  }

  /** @internal */
  wait(fn: () => void): () => void {
    this.waiting.add(fn);
    return () => this.waiting.delete(fn);
  }

  /** @internal */
  remove(s: MemoryShare): void {
    if (this.shares.delete(s) && this.over) for (const wake of [...this.waiting]) wake();
  }
}

export class MemoryShare {
  private held = 0;
  private closed = false;

  constructor(private readonly budget: MemoryBudget) {}

  get bytes(): number {
    return this.held;
  }

  /** Bytes taken (positive) or given back (negative). */
  add(delta: number): void {
    if (delta === 0 || this.closed) return;
    this.held += delta;
    this.budget.change(delta);
  }

  /** The process is over budget and this share holds at least an equal part of it: stop taking. */
  get over(): boolean {
    return this.budget.over && this.held > 0 && this.held >= this.budget.fairPart();
  }

  /** Calls `fn` each time the process gets back under budget; returns the unsubscribe. */
  onRoom(fn: () => void): () => void {
    return this.budget.wait(fn);
  }

  /** The session ended: its bytes are given back. */
  close(): void {
    if (this.closed) return;
    this.budget.change(-this.held);
    this.held = 0;
    this.closed = true;
    this.budget.remove(this);
  }
}

/** A share of a budget nobody else uses, with no limit (tools, tests). */
export function unlimitedShare(): MemoryShare {
  return new MemoryBudget(Number.POSITIVE_INFINITY).share();
}
