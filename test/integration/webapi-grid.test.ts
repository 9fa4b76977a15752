// WebApiGrid against the stand-in Tahoe node: the same semantic assertions as the embedded
// store's tests (test/unit/store.test.ts) where the web-API can give them, plus what only a
// remote backend has: the node going down and coming back, slow answers, 5xx, cache
// invalidation by writes, and a large upload streamed with bounded memory.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { b32encode, literalCap, readCapOf } from '../../src/caps/index.js';
import { isGridError, packChildren, type Grid, type GridErrorCode } from '../../src/grid/index.js';
import { WebApiGrid, type WebApiGridOptions } from '../../src/grid/webapi/index.js';
import { startFakeTahoe, type FakeTahoe } from '../helpers/fake-tahoe/index.js';
import { pseudoRandom, streamChunks } from '../helpers/data.js';

async function withNode(fn: (grid: WebApiGrid, node: FakeTahoe) => Promise<void>, options: WebApiGridOptions = {}): Promise<void> {
  const node = await startFakeTahoe();
  const grid = new WebApiGrid(node.url, { timeoutMs: 5000, ...options });
  try {
    await fn(grid, node);
    // Every request addressed an object by cap alone: nothing could auto-create a directory.
    for (const r of node.requests) {
      const path = r.url.split('?')[0]!;
      assert.ok(path === '/' || path === '/uri' || /^\/uri\/[^/]+$/.test(path), `request by path: ${r.method} ${path}`);
    }
  } finally {
    await grid.close();
    await node.close();
  }
}

async function put(grid: Grid, data: Buffer, chunk = 65536): Promise<string> {
  const up = await grid.upload();
  for (let i = 0; i < data.length; i += chunk) await up.write(data.subarray(i, i + chunk));
  return up.finish();
}

async function get(grid: Grid, cap: string): Promise<Buffer> {
  const r = await grid.openRead(cap);
  try {
    return await r.read(0, r.size);
  } finally {
    await r.close();
  }
}

/** Rejects with `code`, and the message is plain text without caps. */
async function rejectsWith(p: Promise<unknown>, code: GridErrorCode): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(isGridError(err), `not a GridError: ${String(err)}`);
    assert.equal(err.code, code, err.message);
    assert.doesNotMatch(err.message, /<[a-z!/]|URI:|URI%3A|[a-z2-7]{26}:[a-z2-7]{52}/i, `message: ${err.message}`);
    return true;
  });
}

test('files of every interesting size round-trip; tiny ones are LIT caps', async () => {
  await withNode(async (grid) => {
    for (const size of [0, 1, 55, 56, 1000, 131071, 131072, 131073, 3 * 524288 + 5]) {
      const data = pseudoRandom(`size-${size}`, size);
      const cap = await put(grid, data, 7777);
      if (size <= 55) assert.equal(cap, literalCap(data));
      else assert.match(cap, new RegExp(`^URI:CHK:[a-z2-7]{26}:[a-z2-7]{52}:2:3:${size}$`));
      assert.deepEqual(await get(grid, cap), data, `size ${size}`);
    }
  });
});

test('range reads at any offset return exactly the stored bytes; empty files send no range', async () => {
  await withNode(async (grid, node) => {
    const data = pseudoRandom('ranges', 2 * 524288 + 12345);
    const cap = await put(grid, data);
    const reader = await grid.openRead(cap);
    await fc.assert(
      fc.asyncProperty(fc.nat(data.length + 10), fc.nat(3 * 524288), async (offset, length) => {
        assert.deepEqual(await reader.read(offset, length), data.subarray(offset, offset + length));
      }),
      { numRuns: 150 },
    );
    const parts = await Promise.all(Array.from({ length: 64 }, (_, i) => reader.read(i * 4096, 4096)));
    assert.deepEqual(Buffer.concat(parts), data.subarray(0, 64 * 4096));
    await reader.close();
    for (const r of node.requests.filter((q) => q.headers.range)) {
      const m = /^bytes=(\d+)-(\d+)$/.exec(r.headers.range!);
      assert.ok(m && Number(m[2]) < data.length && Number(m[1]) <= Number(m[2]), `range ${r.headers.range}`);
    }

    node.resetLog();
    const empty = await grid.createMutable({ immutableCap: literalCap(Buffer.alloc(0)) });
    const r0 = await grid.openRead(empty);
    assert.equal(r0.size, 0);
    assert.equal((await r0.read(0, 10)).length, 0);
    assert.equal((await (await grid.openRead(literalCap(Buffer.alloc(0)))).read(0, 5)).length, 0);
    assert.equal(node.requests.filter((q) => q.headers.range).length, 0, 'Tahoe answers 416 to any range on an empty file');
  });
});

test('link metadata follows Tahoe: replace rules, linkcrtime kept, user keys replaced or kept', async () => {
  await withNode(async (grid) => {
    const root = await grid.createDirectory();
    const f1 = literalCap(Buffer.from('one'));
    const f2 = literalCap(Buffer.from('two'));
    await grid.setChild(root, 'f', f1, { replace: false, metadata: { mtime: 1000, custom: 'x' } });
    const first = (await grid.getChild(root, 'f'))!;
    assert.equal(first.metadata.mtime, 1000);
    assert.equal(first.metadata.custom, 'x');
    const crtime = first.metadata.tahoe!.linkcrtime!;
    assert.ok(Math.abs(crtime - Date.now() / 1000) < 5);
    await rejectsWith(grid.setChild(root, 'f', f2, { replace: false }), 'EXISTS');
    await new Promise((r) => setTimeout(r, 20));
    await grid.setChild(root, 'f', f2, { replace: true });
    const second = (await grid.getChild(root, 'f'))!;
    assert.equal(second.node.cap, f2);
    assert.equal(second.metadata.custom, 'x', 'no metadata given: user keys kept');
    assert.equal(second.metadata.tahoe!.linkcrtime, crtime);
    assert.ok(second.metadata.tahoe!.linkmotime! > first.metadata.tahoe!.linkmotime!);
    await grid.setChild(root, 'f', f1, { replace: true, metadata: { other: 1 } });
    const third = (await grid.getChild(root, 'f'))!;
    assert.equal(third.metadata.custom, undefined);
    assert.equal(third.metadata.other, 1);
    await grid.mkdir(root, 'd');
    await rejectsWith(grid.setChild(root, 'd', f1, { replace: 'only-files' }), 'EXISTS');
    await grid.setChild(root, 'f', f2, { replace: 'only-files' });
    await rejectsWith(grid.mkdir(root, 'd'), 'EXISTS');
    await rejectsWith(grid.mkdir(root, 'd', { replace: 'only-files', metadata: { x: 1 } }), 'EXISTS');
    const patched = await grid.patchMetadata(root, 'f', { 'no-write': true, other: null, mtime: 5 });
    assert.deepEqual({ nw: patched.metadata['no-write'], other: patched.metadata.other, mtime: patched.metadata.mtime }, { nw: true, other: undefined, mtime: 5 });
    await rejectsWith(grid.patchMetadata(root, 'missing', {}), 'NOT_FOUND');
    const sub = await grid.mkdir(root, 'withmeta', { metadata: { mtime: 12 } });
    const made = (await grid.getChild(root, 'withmeta'))!;
    assert.deepEqual([made.node.cap, made.metadata.mtime], [sub, 12]);
  });
});

test('names are NFC-normalised on every add, lookup and delete; bad names are refused', async () => {
  await withNode(async (grid) => {
    const root = await grid.createDirectory();
    const nfd = 'gro\u0073\u0073e\u0301';
    await grid.setChild(root, nfd, literalCap(Buffer.from('x')), { replace: false });
    const [entry] = await grid.list(root);
    assert.equal(entry!.name, nfd.normalize('NFC'));
    assert.ok(await grid.getChild(root, nfd.normalize('NFC')));
    await grid.deleteChild(root, nfd.normalize('NFD'));
    assert.equal((await grid.list(root)).length, 0);
    for (const bad of ['', '.', '..', 'a/b', 'nul\0']) await rejectsWith(grid.setChild(root, bad, literalCap(Buffer.alloc(0)), { replace: true }), 'INVALID');
    // Characters Twisted's form decoding would mangle if they were not %-encoded.
    for (const odd of ['a+b', 'a b', '50%', 'q?x=1&y', '#hash', 'ünï 😀', ' lead', 'trail ']) {
      await grid.setChild(root, odd, literalCap(Buffer.from(odd)), { replace: false });
      assert.equal((await grid.getChild(root, odd))!.node.cap, literalCap(Buffer.from(odd)), odd);
    }
  });
});

test('read-only directory caps list read caps only and refuse every change', async () => {
  await withNode(async (grid, node) => {
    const root = await grid.createDirectory();
    const sub = await grid.mkdir(root, 'sub');
    const mutable = await grid.createMutable({ immutableCap: literalCap(Buffer.from('m')) });
    await grid.setChild(root, 'm', mutable, { replace: false });
    await grid.setChild(root, 'future', 'ro.x-tahoe-crazy://I_am_from_the_future.', { replace: false });
    const ro = readCapOf(root);
    const listing = new Map((await grid.list(ro)).map((e) => [e.name, e]));
    assert.equal(listing.get('sub')!.node.cap, readCapOf(sub));
    assert.equal(listing.get('sub')!.node.writeCap, undefined);
    assert.equal(listing.get('m')!.node.cap, readCapOf(mutable));
    assert.equal(listing.get('m')!.node.readOnly, true);
    assert.equal(listing.get('m')!.node.size, 1);
    assert.equal(listing.get('future')!.node.kind, 'unknown');
    assert.equal(listing.get('future')!.node.cap, 'ro.x-tahoe-crazy://I_am_from_the_future.');
    const rw = new Map((await grid.list(root)).map((e) => [e.name, e]));
    assert.equal(rw.get('m')!.node.writeCap, mutable);
    // An unprefixed unknown cap might be a write cap nobody can diminish: Tahoe refuses it.
    await rejectsWith(grid.setChild(root, 'x', 'x-tahoe-crazy://maybe-a-write-cap', { replace: false }), 'INVALID');
    const f = literalCap(Buffer.from('f'));
    node.resetLog();
    await rejectsWith(grid.setChild(ro, 'x', f, { replace: true }), 'NOT_WRITABLE');
    await rejectsWith(grid.deleteChild(ro, 'sub'), 'NOT_WRITABLE');
    await rejectsWith(grid.mkdir(ro, 'y'), 'NOT_WRITABLE');
    await rejectsWith(grid.moveChild(ro, 'sub', root, 'sub2', false), 'NOT_WRITABLE');
    await rejectsWith(grid.moveChild(root, 'sub', ro, 'sub2', false), 'NOT_WRITABLE');
    await rejectsWith(grid.patchMetadata(ro, 'sub', { mtime: 1 }), 'NOT_WRITABLE');
    await rejectsWith(grid.overwriteMutable(readCapOf(mutable), { immutableCap: f }), 'NOT_WRITABLE');
    assert.equal(node.requests.length, 0, 'refused before any request');
    assert.equal((await grid.list(root)).length, 3);
  });
});

test('no-write on a writable mutable link keeps only its read cap', async () => {
  await withNode(async (grid) => {
    const root = await grid.createDirectory();
    const mutable = await grid.createMutable({ immutableCap: literalCap(Buffer.from('m')) });
    await grid.setChild(root, 'm', mutable, { replace: false });
    const e = await grid.patchMetadata(root, 'm', { 'no-write': true });
    assert.equal(e.node.cap, readCapOf(mutable));
    assert.equal(e.node.readOnly, true);
    await grid.patchMetadata(root, 'm', { 'no-write': null });
    assert.equal((await grid.getChild(root, 'm'))!.node.readOnly, true, 'dropped write authority does not come back');
    // Relinking the write cap without new metadata keeps no-write, so still only the read cap.
    await grid.patchMetadata(root, 'm', { 'no-write': true });
    await grid.setChild(root, 'm', mutable, { replace: true });
    assert.equal((await grid.getChild(root, 'm'))!.node.writeCap, undefined);
  });
});

test('delete enforces the kind and emptiness it is asked for', async () => {
  await withNode(async (grid) => {
    const root = await grid.createDirectory();
    const sub = await grid.mkdir(root, 'sub');
    await grid.setChild(sub, 'inner', literalCap(Buffer.from('i')), { replace: false });
    await grid.setChild(root, 'file', literalCap(Buffer.from('f')), { replace: false });
    await grid.setChild(root, 'unknown', 'ro.x-foo:bar', { replace: false });
    await rejectsWith(grid.deleteChild(root, 'sub', { mustBe: 'file' }), 'IS_A_DIRECTORY');
    await rejectsWith(grid.deleteChild(root, 'file', { mustBe: 'dir' }), 'NOT_A_DIRECTORY');
    await rejectsWith(grid.deleteChild(root, 'sub', { mustBe: 'dir', mustBeEmpty: true }), 'NOT_EMPTY');
    await rejectsWith(grid.deleteChild(root, 'nope'), 'NOT_FOUND');
    await grid.deleteChild(root, 'unknown', { mustBe: 'file' });
    await grid.deleteChild(sub, 'inner');
    const removed = await grid.deleteChild(root, 'sub', { mustBe: 'dir', mustBeEmpty: true });
    assert.equal(removed.node.cap, sub);
    assert.deepEqual((await grid.list(root)).map((e) => e.name), ['file']);
  });
});

test('moves keep metadata and honour replace rules, within and across directories', async () => {
  await withNode(async (grid) => {
    const root = await grid.createDirectory();
    const a = await grid.mkdir(root, 'a');
    const b = await grid.mkdir(root, 'b');
    const f = literalCap(Buffer.from('f'));
    await grid.setChild(a, 'f', f, { replace: false, metadata: { mtime: 42 } });
    await grid.setChild(b, 'taken', f, { replace: false });
    await rejectsWith(grid.moveChild(a, 'f', b, 'taken', false), 'EXISTS');
    await rejectsWith(grid.moveChild(a, 'missing', b, 'x', false), 'NOT_FOUND');
    await rejectsWith(grid.moveChild(a, 'missing', a, 'missing', false), 'NOT_FOUND');
    await grid.moveChild(a, 'f', a, 'f', false);
    await grid.moveChild(a, 'f', b, 'g', false);
    assert.equal((await grid.list(a)).length, 0);
    const moved = (await grid.getChild(b, 'g'))!;
    assert.equal(moved.node.cap, f);
    assert.equal(moved.metadata.mtime, 42);
    await grid.moveChild(b, 'g', b, 'taken', true);
    assert.deepEqual((await grid.list(b)).map((e) => e.name), ['taken']);
    await grid.mkdir(b, 'dir');
    await rejectsWith(grid.moveChild(b, 'taken', b, 'dir', 'only-files'), 'EXISTS');
    // Tahoe's relink strips whitespace around names: such names take the set+unlink path.
    await grid.moveChild(b, 'taken', a, ' spaced ', false);
    assert.deepEqual((await grid.list(a)).map((e) => e.name), [' spaced ']);
    assert.equal((await grid.getChild(a, ' spaced '))!.metadata.mtime, 42);
    await grid.moveChild(a, ' spaced ', a, 'plain', false);
    assert.deepEqual((await grid.list(a)).map((e) => e.name), ['plain']);
  });
});

test('mutable files publish new versions under one cap; old content stays readable', async () => {
  await withNode(async (grid) => {
    const v1 = await put(grid, pseudoRandom('v1', 100_000));
    const v2 = await put(grid, pseudoRandom('v2', 5));
    const mut = await grid.createMutable({ immutableCap: v1 }, 'MDMF');
    assert.match(mut, /^URI:MDMF:/);
    const info = await grid.stat(mut);
    assert.deepEqual({ kind: info.kind, mutable: info.mutable, size: info.size, ro: info.readOnly }, { kind: 'file', mutable: true, size: 100_000, ro: false });
    assert.deepEqual(await get(grid, readCapOf(mut)), pseudoRandom('v1', 100_000));
    await grid.overwriteMutable(mut, { immutableCap: v2 });
    assert.deepEqual(await get(grid, mut), pseudoRandom('v2', 5));
    assert.equal((await grid.stat(readCapOf(mut))).size, 5);
    assert.deepEqual(await get(grid, v1), pseudoRandom('v1', 100_000), 'relinking leaves the old file readable');
    const sdmf = await grid.createMutable({ immutableCap: v2 });
    assert.match(sdmf, /^URI:SSK:/);
    await rejectsWith(grid.createMutable({ immutableCap: sdmf }), 'INVALID');
  });
});

test('immutable directories in Tahoe format are listed and refuse changes', async () => {
  await withNode(async (grid) => {
    const packed = packChildren([
      { name: 'short', readCap: literalCap(Buffer.from('The end.')), metadata: {} },
      { name: 'b', readCap: literalCap(Buffer.from('b')), metadata: { mtime: 1 } },
    ]);
    const lit = `URI:DIR2-LIT:${b32encode(packed)}`;
    assert.deepEqual((await grid.list(lit)).map((e) => e.name), ['b', 'short']);
    assert.equal((await grid.getChild(lit, 'short'))!.node.size, 8);
    assert.equal((await grid.list('URI:DIR2-LIT:')).length, 0);
    await rejectsWith(grid.setChild(lit, 'x', literalCap(Buffer.alloc(0)), { replace: true }), 'NOT_WRITABLE');
    const info = await grid.stat(lit);
    assert.deepEqual([info.kind, info.mutable, info.readOnly], ['dir', false, true]);
  });
});

test('caps the grid does not hold are unavailable (Tahoe: no shares); wrong kinds are refused', async () => {
  await withNode(async (grid) => {
    const foreignDir = 'URI:DIR2:tmtxiysosbogziok2bzqtjqyly:odeejxkxue6ruqz4xaxzw6bhavb244akuqkdbg2d3svxdubq4b3q';
    await rejectsWith(grid.stat(foreignDir), 'UNAVAILABLE');
    await rejectsWith(grid.list(foreignDir), 'UNAVAILABLE');
    await rejectsWith(get(grid, 'URI:CHK:cijcjzcaplulf7swndt4pfiyhy:yzmwugnohxefq5j5htnfxgjqs23vnl7jgy7nsncquckawbpjlo2a:2:3:1968'), 'UNAVAILABLE');
    const root = await grid.createDirectory();
    await rejectsWith(grid.openRead(root), 'IS_A_DIRECTORY');
    await rejectsWith(grid.list(literalCap(Buffer.from('file'))), 'NOT_A_DIRECTORY');
    assert.equal((await grid.stat('x-unknown:thing')).kind, 'unknown');
  });
});

test('concurrent updates of one directory never lose an update', async () => {
  await withNode(async (grid) => {
    const root = await grid.createDirectory();
    await Promise.all(Array.from({ length: 300 }, (_, i) => grid.setChild(root, `n${i}`, literalCap(Buffer.from(String(i))), { replace: false })));
    assert.equal((await grid.list(root)).length, 300);
  });
});

test('listings are cached briefly, and every write through the grid invalidates what it touches', async () => {
  await withNode(async (grid, node) => {
    const other = new WebApiGrid(node.url, { cacheTtlMs: 0 }); // another client of the same node
    try {
      const root = await grid.createDirectory();
      const a = await grid.mkdir(root, 'a');
      const b = await grid.mkdir(root, 'b');
      assert.equal((await grid.list(a)).length, 0);
      node.resetLog();
      await grid.list(a);
      await grid.getChild(a, 'x');
      assert.equal(node.requests.length, 0, 'served from the cache');
      await other.setChild(a, 'x', literalCap(Buffer.from('x')), { replace: false });
      assert.equal((await grid.list(a)).length, 0, 'a change by another client shows after the TTL only');

      await grid.setChild(a, 'y', literalCap(Buffer.from('y')), { replace: false });
      assert.deepEqual((await grid.list(a)).map((e) => e.name).sort(), ['x', 'y']);
      await grid.list(b);
      await grid.moveChild(a, 'y', b, 'y', false);
      assert.deepEqual((await grid.list(a)).map((e) => e.name), ['x']);
      assert.deepEqual((await grid.list(b)).map((e) => e.name), ['y']);
      await grid.deleteChild(b, 'y');
      assert.equal((await grid.list(b)).length, 0);
      await grid.mkdir(b, 'c');
      assert.deepEqual((await grid.list(b)).map((e) => e.name), ['c']);
      await grid.patchMetadata(b, 'c', { mtime: 9 });
      assert.equal((await grid.getChild(b, 'c'))!.metadata.mtime, 9);
      // Read-cap listings of the same directory are invalidated too.
      assert.deepEqual((await grid.list(readCapOf(b))).map((e) => e.name), ['c']);
      await grid.deleteChild(b, 'c');
      assert.equal((await grid.list(readCapOf(b))).length, 0);

      const mut = await grid.createMutable({ immutableCap: literalCap(Buffer.from('12345')) });
      await grid.setChild(root, 'm', mut, { replace: false });
      assert.equal((await grid.getChild(root, 'm'))!.node.size, 5);
      await grid.overwriteMutable(mut, { immutableCap: literalCap(Buffer.from('1234567')) });
      assert.equal((await grid.getChild(root, 'm'))!.node.size, 7, 'size refreshed after an overwrite');
      assert.equal((await grid.stat(readCapOf(mut))).size, 7);
    } finally {
      await other.close();
    }
  }, { cacheTtlMs: 60_000 });
});

test('node down, slow or failing: UNAVAILABLE in bounded time, and back to work when it returns', async () => {
  await withNode(async (grid, node) => {
    const root = await grid.createDirectory();
    const cap = await put(grid, pseudoRandom('down', 300_000));
    await grid.setChild(root, 'f', cap, { replace: false });
    const reader = await grid.openRead(cap);

    await node.stop();
    const t0 = Date.now();
    await rejectsWith(grid.list(root), 'UNAVAILABLE');
    await rejectsWith(grid.setChild(root, 'g', cap, { replace: false }), 'UNAVAILABLE');
    await rejectsWith(reader.read(0, 100), 'UNAVAILABLE');
    await rejectsWith(grid.createDirectory(), 'UNAVAILABLE');
    await rejectsWith(put(grid, pseudoRandom('x', 100_000)), 'UNAVAILABLE');
    await rejectsWith(WebApiGrid.open(node.url, { timeoutMs: 1000 }), 'UNAVAILABLE');
    assert.ok(Date.now() - t0 < 5000, 'refused connections fail fast');

    await node.restart();
    assert.deepEqual((await grid.list(root)).map((e) => e.name), ['f']);
    assert.deepEqual(await reader.read(0, 100), pseudoRandom('down', 300_000).subarray(0, 100), 'no sticky failure');

    // A node that accepts but never answers: each operation gives up after the timeout.
    node.setDelay(Infinity);
    const t1 = Date.now();
    await rejectsWith(grid.getChild(readCapOf(root), 'f'), 'UNAVAILABLE');
    const waited = Date.now() - t1;
    assert.ok(waited >= 900 && waited < 5000, `gave up after ${waited} ms`);
    node.setDelay(0);
    await node.stop(); // drop the hung connections
    await node.restart();

    // 5xx answers are UNAVAILABLE, and the next request goes through.
    node.failNext(1, 503);
    await rejectsWith(grid.list(readCapOf(root)), 'UNAVAILABLE');
    assert.equal((await grid.list(readCapOf(root))).length, 1);

    // An upload cut off half-way fails (never hangs), and nothing is linked.
    const up = await grid.upload();
    await up.write(pseudoRandom('cut', 1_000_000));
    await node.stop();
    await rejectsWith((async () => {
      for (let i = 0; i < 50; i++) await up.write(pseudoRandom(`cut${i}`, 100_000));
      await up.finish();
    })(), 'UNAVAILABLE');
    await up.abort();
    await node.restart();
    assert.deepEqual((await grid.list(root)).map((e) => e.name), ['f']);
  }, { timeoutMs: 1000, idleTimeoutMs: 1000, cacheTtlMs: 0 });
});

test('uploads beyond the stream limit wait their turn instead of timing out', async () => {
  await withNode(async (grid, node) => {
    node.setDelay(400); // longer than the inactivity timeout
    const datas = [1, 2, 3].map((i) => pseudoRandom(`queued-${i}`, 100_000));
    const caps = await Promise.all(datas.map((d) => put(grid, d)));
    node.setDelay(0);
    for (const [i, cap] of caps.entries()) assert.deepEqual(await get(grid, cap), datas[i]);
  }, { maxStreams: 1, idleTimeoutMs: 300 });
});

test('a 256 MiB upload streams through with bounded memory, and reads back intact', async (t) => {
  await withNode(async (grid) => {
    const SIZE = 256 * 1024 * 1024;
    const seed = 'large';
    global.gc?.();
    const base = process.memoryUsage().rss;
    let peak = base;
    const sample = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
    const hash = createHash('sha256');
    const t0 = Date.now();
    try {
      const up = await grid.upload();
      for (const chunk of streamChunks(seed, SIZE, 1024 * 1024)) {
        hash.update(chunk);
        await up.write(chunk);
      }
      const cap = await up.finish();
      const upMs = Date.now() - t0;
      assert.match(cap, new RegExp(`:${SIZE}$`));
      const reader = await grid.openRead(cap);
      const back = createHash('sha256');
      const t1 = Date.now();
      for (let off = 0; off < SIZE; off += 4 * 1024 * 1024) back.update(await reader.read(off, 4 * 1024 * 1024));
      await reader.close();
      const downMs = Date.now() - t1;
      assert.equal(back.digest('hex'), hash.digest('hex'));
      t.diagnostic(`upload ${(SIZE / 1048576 / (upMs / 1000)).toFixed(0)} MiB/s, download ${(SIZE / 1048576 / (downMs / 1000)).toFixed(0)} MiB/s`);
    } finally {
      clearInterval(sample);
    }
    const growth = (peak - base) / 1048576;
    t.diagnostic(`RSS grew by ${growth.toFixed(0)} MiB at most (base ${(base / 1048576).toFixed(0)} MiB)`);
    assert.ok(growth < 128, `RSS grew by ${growth.toFixed(0)} MiB for a 256 MiB file`);
  });
});
