// The SSH windows of all session channels as one process-wide pool (issue #11).
//
// A channel's window is what its client may send before we ask for nothing more: whatever the
// session does with it, that much data can arrive and must be held. ssh2 grants every channel
// 2 MiB when it opens and tops it up to 2 MiB whenever half is used, so the windows alone let 80
// uploading clients push 160 MiB past the transfer budget (measured: 8 clients × 16 MiB peaked
// at 135 MiB RSS, 80 at 335 MiB, with 231 MiB of ArrayBuffers).
//
// Here the windows granted to all channels together stay within `limit` (the transfer budget):
// - each channel aims at an equal part of the pool, between MIN and MAX_CHANNEL_WINDOW
//   (2 MiB, what ssh2 and OpenSSH grant: up to `limit / 2 MiB` channels nothing changes);
// - a top-up comes when half of that is used, as ssh2 does, and only from the room the pool has;
// - a channel may always have MIN_CHANNEL_WINDOW, whatever the others hold, so a client that
//   sits on a window it does not use cannot stall anyone (the bound is then `limit` plus MIN per
//   channel, and channels are bounded by connections × 10 sessions);
// - a channel held back by its session (over its bounds), or whose stream nobody reads, gets
//   nothing until it is let go.
// The SSH layer applies the grants to ssh2 (ssh2-internals.ts); this file is only the arithmetic.

/** What ssh2 and OpenSSH grant a session channel: the most one channel is given. */
export const MAX_CHANNEL_WINDOW = 2 * 1024 * 1024;
/** What a channel may always have: two of ssh2's 32 KiB packets, so it keeps moving. */
export const MIN_CHANNEL_WINDOW = 64 * 1024;

/** The channel as the pool sees it: its current window, and a way to grant more. */
export interface WindowWire {
  /** Bytes the client may still send (ssh2's count; it can dip below 0 if the client oversends). */
  window(): number;
  /** Sends a window adjust of `bytes` and adds them to the channel's count. */
  grant(bytes: number): void;
  /** Nobody reads what arrives (the stream's buffer is full): grant nothing until this clears. */
  backlogged(): boolean;
}

export class WindowPool {
  private granted = 0;
  private readonly members = new Set<ChannelWindow>();
  /** Members that wanted a top-up the pool had no room for; served as room comes back. */
  private readonly starving = new Set<ChannelWindow>();

  constructor(readonly limit: number) {
    if (!(limit > 0)) throw new RangeError('window pool limit must be positive');
  }

  /** Bytes all members' clients may send right now. */
  get outstanding(): number {
    return this.granted;
  }

  get channels(): number {
    return this.members.size;
  }

  /** A new channel's share; `openWith()` says what window to announce for it. */
  join(): ChannelWindow {
    const w = new ChannelWindow(this);
    this.members.add(w);
    return w;
  }

  /** An equal part of the pool, within [MIN, MAX] per channel. */
  target(): number {
    const part = Math.floor(this.limit / Math.max(1, this.members.size));
    return Math.min(MAX_CHANNEL_WINDOW, Math.max(MIN_CHANNEL_WINDOW, part));
  }

  /** Room left for top-ups beyond the per-channel minimum. */
  room(): number {
    return Math.max(0, this.limit - this.granted);
  }

  /** @internal */
  change(delta: number): void {
    this.granted += delta;
    if (delta < 0 && this.starving.size > 0) this.feedStarving();
  }

  /** @internal */
  starve(w: ChannelWindow, starving: boolean): void {
    if (starving) this.starving.add(w);
    else this.starving.delete(w);
  }

  /** @internal */
  remove(w: ChannelWindow): void {
    this.members.delete(w);
    this.starving.delete(w);
    // Fewer members: every remaining one's part grew.
    if (this.starving.size > 0) this.feedStarving();
  }

  private feedingNow = false;

  private feedStarving(): void {
    // A grant changes `granted` upwards only, but guard against re-entry all the same.
    if (this.feedingNow) return;
    this.feedingNow = true;
    try {
      // The smallest grant a starving channel takes from the pool (see amountFor).
      const least = this.target() / 4;
      for (const w of this.starving) {
        if (this.room() < least) break;
        w.topUp();
      }
    } finally {
      this.feedingNow = false;
    }
  }
}

export class ChannelWindow {
  private wire: WindowWire | undefined;
  /** The window this share has reported to the pool. */
  private counted = 0;
  private held = false;
  private left = false;

  constructor(private readonly pool: WindowPool) {}

  /** The window to announce in the channel-open confirmation (counted from now on). */
  openWith(): number {
    const w = this.amountFor(0);
    this.count(w);
    return w;
  }

  /**
   * The channel was opened with `announced` instead (ssh2 did not let us choose): count that.
   * Called before `attach`, when the channel's own count is not reachable yet.
   */
  announced(bytes: number): void {
    this.count(bytes);
  }

  /** From now on the pool decides this channel's top-ups through `wire`. */
  attach(wire: WindowWire): void {
    this.wire = wire;
    this.sync();
    this.topUp();
  }

  /** Data arrived on the channel (its window shrank), or its stream wants more again. */
  onData(): void {
    this.sync();
    this.topUp();
  }

  /** The session is over its bounds: grant nothing more until `release`. */
  hold(): void {
    this.held = true;
    this.pool.starve(this, false);
  }

  release(): void {
    if (!this.held) return;
    this.held = false;
    this.topUp();
  }

  /** The channel closed: its window goes back to the pool. */
  leave(): void {
    if (this.left) return;
    this.left = true;
    this.count(0);
    this.pool.remove(this);
  }

  /** @internal Grants what the rules allow now, if anything. */
  topUp(): void {
    if (this.left || this.held || !this.wire || this.wire.backlogged()) {
      this.pool.starve(this, false);
      return;
    }
    const current = this.current();
    const amount = this.amountFor(current);
    if (amount > 0) {
      this.wire.grant(amount);
      this.sync();
    }
    // Still at or below half of its part: wait for room.
    const starving = this.current() <= this.pool.target() / 2;
    this.pool.starve(this, starving);
  }

  private current(): number {
    return this.wire ? Math.max(0, this.wire.window()) : this.counted;
  }

  /** How much to grant a channel whose client may still send `current` bytes. */
  private amountFor(current: number): number {
    const target = this.pool.target();
    if (current > target / 2) return 0;
    const wanted = target - current;
    const floor = Math.max(0, MIN_CHANNEL_WINDOW - current);
    const fromPool = Math.min(wanted, this.pool.room());
    // Small grants mean many window adjusts for little: take the floor instead and wait for room.
    return Math.max(floor, fromPool >= target / 4 ? fromPool : 0);
  }

  private sync(): void {
    if (this.wire) this.count(Math.max(0, this.wire.window()));
  }

  private count(bytes: number): void {
    if (this.left && bytes !== 0) return;
    const delta = bytes - this.counted;
    if (delta === 0) return;
    this.counted = bytes;
    this.pool.change(delta);
  }
}
