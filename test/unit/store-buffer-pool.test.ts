// Download runs' buffers used again (src/grid/embedded/buffer-pool.ts): a buffer is reused only
// once nothing can still read it, so no reader ever sees another file's bytes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EmbeddedGrid, SEGMENT_SIZE, runBufferCounts } from '../../src/grid/embedded/index.js';
import { BufferPool } from '../../src/grid/embedded/buffer-pool.js';
import type { FileReader } from '../../src/grid/types.js';
import { giveBack, lend } from '../../src/util/lent-buffers.js';
import { pseudoRandom } from '../helpers/data.js';
import { put } from '../helpers/grid-io.js';
import { tempDir } from '../helpers/tmp.js';

const RUN = 7 * SEGMENT_SIZE; // what a sequential read loads at once

test('a run buffer is free again only after its last hold, once; a spoiled one never', () => {
  const pool = new BufferPool(1024);
  const a = pool.take();
  a.hold();
  a.release();
  assert.equal(pool.freeCount, 0, 'one hold left');
  a.release();
  assert.equal(pool.freeCount, 1);
  assert.throws(() => a.release(), /released more often than held/);
  assert.throws(() => a.hold(), /hold after its last release/);
  const b = pool.take();
  assert.equal(b.bytes, a.bytes, 'the free buffer is taken again');
  assert.deepEqual(pool.counts, { made: 1, reused: 1 });
  b.spoil();
  b.release();
  assert.equal(pool.freeCount, 0, 'a buffer that failed to load is not reused');
  // At most 8 wait in the free list.
  const many = Array.from({ length: 12 }, () => pool.take());
  for (const m of many) m.release();
  assert.equal(pool.freeCount, 8);
});

test('the free list empties itself once no buffer has been taken for an idle interval', async () => {
  const pool = new BufferPool(1024);
  pool.take().release();
  assert.equal(pool.freeCount, 1);
  await new Promise((r) => setTimeout(r, 2200));
  assert.equal(pool.freeCount, 0);
});

test('a lent view comes back to its lender once, whoever gives it back how often', () => {
  let returned = 0;
  const view = Buffer.alloc(8);
  lend(view, { returned: () => returned++ });
  giveBack(view.subarray(0)); // another object over the same bytes: not what was lent
  giveBack(Buffer.alloc(8));
  assert.equal(returned, 0);
  giveBack(view);
  giveBack(view);
  assert.equal(returned, 1);
});

test('sequential reads whose views are given back reuse a few buffers, not one per run', async () => {
  const grid = await EmbeddedGrid.open({ storeDir: tempDir('lafsd-runbuf-seq-'), convergenceSecret: Buffer.alloc(32, 3) });
  const data = pseudoRandom('runbuf-seq', 20 * RUN + 12345);
  const cap = await put(grid, data, 1 << 20);
  const before = runBufferCounts();
  for (let round = 0; round < 3; round++) {
    const reader = await grid.openRead(cap);
    for (let off = 0; off < data.length; off += 261_120) { // OpenSSH's 255 KiB READs
      const view = await reader.read(off, 261_120);
      assert.ok(view.equals(data.subarray(off, off + 261_120)), `bytes at ${off}`);
      giveBack(view);
    }
    await reader.close();
  }
  const after = runBufferCounts();
  const made = after.made - before.made;
  const reused = after.reused - before.reused;
  assert.ok(reused >= 50, `runs served from reused buffers: ${reused}`);
  assert.ok(made <= 6, `buffers made for 60 runs: ${made}`);
  await grid.close();
});

/** A small deterministic generator, so a failure can be replayed. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

// Reuse too early would hand one reader's bytes to another: readers of three files read in
// parallel, in sequence and at random, closing and reopening, while the test holds some views
// for a long time and gives the others back at once. Every view is checked when it arrives, and
// again just before it is given back (its bytes must not have changed in between).
test('fuzz: views stay exactly their file\'s bytes until given back, whatever is read meanwhile', async () => {
  const grid = await EmbeddedGrid.open({ storeDir: tempDir('lafsd-runbuf-fuzz-'), convergenceSecret: Buffer.alloc(32, 4) });
  const files = await Promise.all(
    [0, 1, 2].map(async (i) => {
      const data = pseudoRandom(`runbuf-fuzz-${i}`, 3 * RUN + i * 70_000 + 999);
      return { data, cap: await put(grid, data, 1 << 20) };
    }),
  );
  const random = rng(20261206);
  const readers: { reader: FileReader; file: number; next: number }[] = [];
  for (let k = 0; k < 6; k++) readers.push({ reader: await grid.openRead(files[k % 3]!.cap), file: k % 3, next: 0 });
  const held: { view: Buffer; file: number; offset: number }[] = [];
  const check = (h: { view: Buffer; file: number; offset: number }, when: string) =>
    assert.ok(h.view.equals(files[h.file]!.data.subarray(h.offset, h.offset + h.view.length)), `file ${h.file} at ${h.offset}, ${when}`);
  const before = runBufferCounts();
  for (let step = 0; step < 400; step++) {
    // A few reads at once, from different readers, so loads, evictions and reads interleave.
    const batch = [...new Set(Array.from({ length: 1 + Math.floor(random() * 4) }, () => Math.floor(random() * readers.length)))];
    const reads = batch.map(async (k) => {
      const r = readers[k]!;
      const size = files[r.file]!.data.length;
      const sequential = random() < 0.7;
      const offset = sequential ? r.next : Math.floor(random() * size);
      const length = [32_768, 261_120, RUN, 1 + Math.floor(random() * 2 * RUN)][Math.floor(random() * 4)]!;
      r.next = offset + length >= size ? 0 : offset + length;
      const view = await r.reader.read(offset, length);
      return { view, file: r.file, offset };
    });
    for (const h of await Promise.all(reads)) {
      check(h, 'as it arrived');
      if (random() < 0.25) held.push(h);
      else giveBack(h.view);
    }
    if (held.length > 0 && random() < 0.3) {
      const h = held.splice(Math.floor(random() * held.length), 1)[0]!;
      check(h, 'held, before it was given back');
      giveBack(h.view);
    }
    if (random() < 0.05) {
      const k = Math.floor(random() * readers.length);
      await readers[k]!.reader.close();
      readers[k] = { reader: await grid.openRead(files[readers[k]!.file]!.cap), file: readers[k]!.file, next: 0 };
    }
  }
  for (const h of held) check(h, 'held to the end');
  for (const r of readers) await r.reader.close();
  for (const h of held) check(h, 'held past its reader\'s close');
  assert.ok(runBufferCounts().reused - before.reused > 100, 'buffers were reused along the way');
  await grid.close();
});
