// Input slabs (util/slab-arena.ts): copies of network chunks in reused memory. The one rule that
// matters: a slab is never handed out again while any view into it may still be read.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { SLAB_SIZE, SlabArena, SlabPool } from '../../src/util/slab-arena.js';

type Op = { kind: 'copy'; size: number; arena: number } | { kind: 'hold' | 'release'; pick: number } | { kind: 'dispose'; arena: number };

test('random copy/hold/release/dispose on arenas sharing a pool: every live view keeps its bytes', () => {
  const op = fc.oneof(
    { weight: 5, arbitrary: fc.record({ kind: fc.constant('copy' as const), size: fc.oneof(fc.integer({ min: 0, max: 40_000 }), fc.integer({ min: SLAB_SIZE - 10, max: SLAB_SIZE + 10 })), arena: fc.nat(2) }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('hold' as const), pick: fc.nat() }) },
    { weight: 4, arbitrary: fc.record({ kind: fc.constant('release' as const), pick: fc.nat() }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('dispose' as const), arena: fc.nat(2) }) },
  );
  fc.assert(
    fc.property(fc.array(op as fc.Arbitrary<Op>, { maxLength: 300 }), (ops) => {
      const pool = new SlabPool(4 * SLAB_SIZE);
      const arenas = [new SlabArena(pool), new SlabArena(pool), new SlabArena(pool)];
      // Each reference held: the view, its arena, the byte it must still hold.
      const live: { view: Buffer; arena: SlabArena; fill: number }[] = [];
      let fill = 0;
      for (const o of ops) {
        if (o.kind === 'copy') {
          fill = (fill + 1) % 256;
          const src = Buffer.alloc(o.size, fill);
          const view = arenas[o.arena]!.copy(src);
          src.fill(fill ^ 0xff); // the source may be reused at once
          live.push({ view, arena: arenas[o.arena]!, fill });
        } else if (o.kind === 'hold' && live.length > 0) {
          const r = live[o.pick % live.length]!;
          r.arena.hold(r.view);
          live.push({ ...r });
        } else if (o.kind === 'release' && live.length > 0) {
          const [r] = live.splice(o.pick % live.length, 1);
          r!.arena.release(r!.view);
        } else if (o.kind === 'dispose') {
          arenas[o.arena]!.dispose();
          // Views of the old one stay readable and are never reused; late releases are no-ops.
          arenas[o.arena] = new SlabArena(pool);
        }
        for (const r of live) assert.ok(r.view.every((b) => b === r.fill), 'a live view was overwritten: its slab was reused');
        assert.ok(pool.idleBytes <= 4 * SLAB_SIZE);
      }
    }),
    { numRuns: 300 },
  );
});

test('slabs go back to the pool once unreferenced, and the next arena reuses them', () => {
  const pool = new SlabPool(16 * SLAB_SIZE);
  const a = new SlabArena(pool);
  const views = Array.from({ length: 8 }, (_, i) => a.copy(Buffer.alloc(SLAB_SIZE / 2, i)));
  assert.equal(a.heldBytes, 4 * SLAB_SIZE, 'two chunks per slab');
  const firstSlab = views[0]!.buffer;
  a.release(views[0]!);
  assert.equal(pool.idleBytes, 0, 'half of the slab is still referenced');
  a.release(views[1]!);
  assert.equal(pool.idleBytes, SLAB_SIZE);
  assert.equal(a.heldBytes, 3 * SLAB_SIZE);
  // The slab being filled stays with its arena even when nothing refers to it.
  a.release(views[7]!);
  a.release(views[6]!);
  assert.equal(a.heldBytes, 3 * SLAB_SIZE);
  const b = new SlabArena(pool);
  assert.equal(b.copy(Buffer.from('x')).buffer, firstSlab, 'an idle slab is reused');
  // Oversized chunks get a buffer of their own, never pooled.
  const big = b.copy(Buffer.alloc(SLAB_SIZE + 1, 9));
  assert.equal(big.length, SLAB_SIZE + 1);
  assert.ok(b.owns(big));
  b.release(big);
  assert.ok(!b.owns(big));
  assert.equal(pool.idleBytes, 0);
  // Disposing gives back what is unreferenced and forgets the rest.
  a.dispose();
  assert.equal(pool.idleBytes, SLAB_SIZE, 'the slab being filled, now unreferenced');
  assert.equal(a.heldBytes, 0);
  assert.ok(!a.owns(views[2]!));
  a.release(views[2]!); // a late release after dispose is harmless
  assert.equal(pool.idleBytes, SLAB_SIZE);
  assert.ok(views[2]!.every((x) => x === 2));
});

test('memory that is not the arena\'s is never taken into it', () => {
  const pool = new SlabPool(8 * SLAB_SIZE);
  const a = new SlabArena(pool);
  const foreign = Buffer.allocUnsafeSlow(SLAB_SIZE);
  a.hold(foreign);
  a.release(foreign);
  a.release(foreign);
  assert.equal(pool.idleBytes, 0);
  assert.ok(!a.owns(foreign));
});

test('dropIdle lets every idle slab go and reports their bytes; slabs in use stay, and later ones are kept again', () => {
  const pool = new SlabPool(8 * SLAB_SIZE);
  const arena = new SlabArena(pool);
  const inUse = arena.copy(Buffer.from('held'));
  const idle = [pool.take(), pool.take(), pool.take()];
  for (const slab of idle) pool.give(slab);
  assert.equal(pool.dropIdle(), 3 * SLAB_SIZE);
  assert.equal(pool.idleBytes, 0);
  assert.equal(pool.dropIdle(), 0);
  assert.ok(!idle.some((slab) => slab === pool.take()), 'a dropped slab is never handed out again');
  assert.equal(inUse.toString(), 'held');
  arena.release(inUse);
  arena.dispose();
  assert.equal(pool.idleBytes, SLAB_SIZE, 'the arena\'s slab went back to the pool');
});

test('a pool keeps only buffers of its own size, up to its bound, and counts what take() had to allocate', () => {
  const pool = new SlabPool(2 * 1024, 1024);
  const a = pool.take();
  const b = pool.take();
  assert.equal(a.length, 1024);
  assert.equal(pool.allocated, 2);
  pool.give(Buffer.allocUnsafeSlow(2048));
  pool.give(Buffer.allocUnsafeSlow(512));
  assert.equal(pool.idleBytes, 0, 'buffers of another size are left to the garbage collector');
  pool.give(a);
  pool.give(b);
  pool.give(Buffer.allocUnsafeSlow(1024));
  assert.equal(pool.idleBytes, 2 * 1024, 'no more than the bound');
  assert.equal(pool.take(), b);
  assert.equal(pool.allocated, 2, 'a reused buffer is not counted');
});
