// The SSH windows of all channels as one pool (src/ssh/window-pool.ts): each channel gets an
// equal part (2 MiB at most, as ssh2 and OpenSSH grant), the sum stays within the limit plus a
// small floor per channel, and a channel its session does not hold back never runs dry.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { MAX_CHANNEL_WINDOW, MIN_CHANNEL_WINDOW, WindowPool, type ChannelWindow, type WindowWire } from '../../src/ssh/window-pool.js';

const MiB = 1024 * 1024;

/** A channel as ssh2 keeps it: the client's window, and the adjusts we sent. */
class FakeChannel implements WindowWire {
  readonly grants: number[] = [];
  full = false;
  constructor(public w: number) {}
  backlogged(): boolean {
    return this.full;
  }
  window(): number {
    return this.w;
  }
  grant(bytes: number): void {
    this.w += bytes;
    this.grants.push(bytes);
  }
}

function open(pool: WindowPool): { share: ChannelWindow; ch: FakeChannel } {
  const share = pool.join();
  const ch = new FakeChannel(share.openWith());
  share.attach(ch);
  return { share, ch };
}

/** The client sends `n` bytes (never more than its window, as a well-behaved client). */
function send(c: { share: ChannelWindow; ch: FakeChannel }, n: number): void {
  c.ch.w -= Math.min(n, c.ch.w);
  c.share.onData();
}

test('up to limit / 2 MiB channels, each is granted what ssh2 grants: 2 MiB, topped up at half', () => {
  const pool = new WindowPool(32 * MiB);
  const chans = Array.from({ length: 16 }, () => open(pool));
  for (const c of chans) assert.equal(c.ch.w, MAX_CHANNEL_WINDOW);
  const [a] = chans;
  send(a!, 512 * 1024);
  assert.deepEqual(a!.ch.grants, [], 'no adjust before half is used');
  send(a!, 512 * 1024);
  assert.deepEqual(a!.ch.grants, [MiB], 'topped back up to 2 MiB');
  assert.equal(pool.outstanding, 16 * MAX_CHANNEL_WINDOW);
});

test('with more channels each gets an equal part, and the pool stays within its limit', () => {
  const pool = new WindowPool(8 * MiB);
  const chans = Array.from({ length: 32 }, () => open(pool));
  assert.equal(pool.target(), 256 * 1024);
  // The first ones opened with bigger parts, the later ones with what was left.
  assert.ok(pool.outstanding <= 8 * MiB + 32 * MIN_CHANNEL_WINDOW, `outstanding ${pool.outstanding}`);
  // Every client sends all it may, again and again: top-ups never exceed the equal part.
  for (let round = 0; round < 5; round++) for (const c of chans) send(c, c.ch.w);
  for (const c of chans) assert.ok(c.ch.w > 0 && c.ch.w <= pool.target(), `window ${c.ch.w}`);
  assert.ok(pool.outstanding <= 8 * MiB, `outstanding ${pool.outstanding}`);
});

test('a client sitting on its window does not stall the others, and room coming back is handed out', () => {
  const pool = new WindowPool(1 * MiB);
  const idle = open(pool); // takes the whole pool (1 MiB) and never sends
  const busy = open(pool);
  assert.equal(idle.ch.w, MiB);
  assert.equal(busy.ch.w, MIN_CHANNEL_WINDOW, 'only the floor: the pool is empty');
  for (let i = 0; i < 100; i++) {
    send(busy, 32 * 1024);
    assert.ok(busy.ch.w > 0, 'never dry');
  }
  // The idle client finally sends: the pool has room again, and the starving channel gets it.
  send(idle, MiB);
  assert.ok(busy.ch.w > MIN_CHANNEL_WINDOW, `busy now has ${busy.ch.w}`);
  assert.ok(pool.outstanding <= MiB + 2 * MIN_CHANNEL_WINDOW);
});

test('a held channel gets nothing until released; a channel leaving gives its window back', () => {
  const pool = new WindowPool(4 * MiB);
  const a = open(pool);
  a.share.hold();
  send(a, a.ch.w);
  assert.equal(a.ch.w, 0);
  assert.deepEqual(a.ch.grants, []);
  a.share.release();
  assert.equal(a.ch.w, MAX_CHANNEL_WINDOW);
  a.share.leave();
  a.share.leave();
  assert.equal(pool.outstanding, 0);
  assert.equal(pool.channels, 0);
});

test('a channel whose stream nobody reads gets no window until it is read again', () => {
  const pool = new WindowPool(32 * MiB);
  const a = open(pool);
  a.ch.full = true;
  send(a, a.ch.w);
  assert.equal(a.ch.w, 0);
  assert.deepEqual(a.ch.grants, [], 'the stream is full: nothing granted, not even the floor');
  a.ch.full = false;
  a.share.onData(); // the stream asked for more
  assert.equal(a.ch.w, MAX_CHANNEL_WINDOW);
});

test('random opens, sends, holds, releases and closes: bounded, and no unheld channel runs dry', () => {
  type Op =
    | { kind: 'open' }
    | { kind: 'send'; pick: number; fraction: number }
    | { kind: 'hold' | 'release' | 'close'; pick: number };
  const op: fc.Arbitrary<Op> = fc.oneof(
    fc.constant({ kind: 'open' as const }),
    fc.record({ kind: fc.constant('send' as const), pick: fc.nat(), fraction: fc.double({ min: 0, max: 1, noNaN: true }) }),
    fc.record({ kind: fc.constantFrom('hold' as const, 'release' as const, 'close' as const), pick: fc.nat() }),
  );
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 64 }), fc.array(op, { maxLength: 300 }), (limitMiB, ops) => {
      const pool = new WindowPool(limitMiB * MiB);
      const live: { share: ChannelWindow; ch: FakeChannel; held: boolean }[] = [];
      for (const o of ops) {
        if (o.kind === 'open') live.push({ ...open(pool), held: false });
        else if (live.length > 0) {
          const i = o.pick % live.length;
          const c = live[i]!;
          if (o.kind === 'send') send(c, Math.ceil(c.ch.w * o.fraction));
          else if (o.kind === 'hold') (c.share.hold(), (c.held = true));
          else if (o.kind === 'release') (c.share.release(), (c.held = false));
          else (c.share.leave(), live.splice(i, 1));
        }
        const sum = live.reduce((n, c) => n + c.ch.w, 0);
        assert.equal(pool.outstanding, sum, 'the pool counts what the channels hold');
        assert.ok(sum <= pool.limit + live.length * MIN_CHANNEL_WINDOW, `sum ${sum} over ${pool.limit} + ${live.length} floors`);
        for (const c of live) {
          assert.ok(c.ch.w <= MAX_CHANNEL_WINDOW);
          if (!c.held) assert.ok(c.ch.w > 0, 'an unheld channel always has window');
        }
      }
    }),
  );
});
