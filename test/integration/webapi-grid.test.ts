// WebApiGrid against the stand-in Tahoe node: the Grid contract every backend keeps
// (test/helpers/grid-contract.ts), plus what only a remote backend has: requests by cap alone,
// no Range on empty files, the node going down and coming back, slow answers, 5xx, cache
// invalidation by writes, and a large upload streamed with bounded memory.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { literalCap, readCapOf } from '../../src/caps/index.js';
import { gridContract, put, get, rejectsWith } from '../helpers/grid-contract.js';
import { WebApiGrid, type WebApiGridOptions } from '../../src/grid/webapi/index.js';
import { startFakeTahoe, type FakeTahoe } from '../helpers/fake-tahoe/index.js';
import { pseudoRandom, streamChunks } from '../helpers/data.js';

async function withNode(fn: (grid: WebApiGrid, node: FakeTahoe) => Promise<void>, options: WebApiGridOptions = {}): Promise<void> {
  const node = await startFakeTahoe();
  const grid = new WebApiGrid(node.url, { timeoutMs: 5000, ...options });
  try {
    await fn(grid, node);
    checkRequestsByCap(node);
  } finally {
    await grid.close();
    await node.close();
  }
}

/** Every request addressed an object by cap alone: nothing could auto-create a directory. */
function checkRequestsByCap(node: FakeTahoe): void {
  for (const r of node.requests) {
    const path = r.url.split('?')[0]!;
    assert.ok(path === '/' || path === '/status/' || path === '/uri' || /^\/uri\/[^/]+$/.test(path), `request by path: ${r.method} ${path}`);
  }
}

// The Grid contract shared with the embedded store, on the stand-in node. Every request
// addresses an object by cap alone: nothing could auto-create a directory.
gridContract({
  name: 'web-API backend',
  open: async () => {
    const node = await startFakeTahoe();
    const grid = new WebApiGrid(node.url, { timeoutMs: 5000 });
    return {
      grid,
      check: () => checkRequestsByCap(node),
      close: async () => {
        await grid.close();
        await node.close();
      },
    };
  },
  chkShares: '2:3',
  segmentSize: 131072,
  missingDirectory: 'UNAVAILABLE',
});

test('empty files are read without a Range header (Tahoe answers 416 to any range on them)', async () => {
  await withNode(async (grid, node) => {
    node.resetLog();
    const empty = await grid.createMutable({ immutableCap: literalCap(Buffer.alloc(0)) });
    const r0 = await grid.openRead(empty);
    assert.equal((await r0.read(0, 10)).length, 0);
    await r0.close();
    assert.equal((await (await grid.openRead(literalCap(Buffer.alloc(0)))).read(0, 5)).length, 0);
    assert.equal(node.requests.filter((q) => q.headers.range).length, 0);
    const data = pseudoRandom('ranges', 2 * 524288 + 12345);
    const reader = await grid.openRead(await put(grid, data));
    await reader.read(524288 - 10, 600_000);
    await reader.read(data.length - 5, 100);
    await reader.close();
    for (const r of node.requests.filter((q) => q.headers.range)) {
      const m = /^bytes=(\d+)-(\d+)$/.exec(r.headers.range!);
      assert.ok(m && Number(m[2]) < data.length && Number(m[1]) <= Number(m[2]), `range ${r.headers.range}`);
    }
  });
});

test('writes through read-only caps are refused before any request; unprefixed unknown caps are refused', async () => {
  await withNode(async (grid, node) => {
    const root = await grid.createDirectory();
    await grid.mkdir(root, 'sub');
    const ro = readCapOf(root);
    // An unprefixed unknown cap might be a write cap nobody can diminish: Tahoe refuses it.
    await rejectsWith(grid.setChild(root, 'x', 'x-tahoe-crazy://maybe-a-write-cap', { replace: false }), 'INVALID');
    node.resetLog();
    await rejectsWith(grid.setChild(ro, 'x', literalCap(Buffer.from('f')), { replace: true }), 'NOT_WRITABLE');
    await rejectsWith(grid.deleteChild(ro, 'sub'), 'NOT_WRITABLE');
    await rejectsWith(grid.mkdir(ro, 'y'), 'NOT_WRITABLE');
    await rejectsWith(grid.moveChild(ro, 'sub', root, 'sub2', false), 'NOT_WRITABLE');
    await rejectsWith(grid.patchMetadata(ro, 'sub', { mtime: 1 }), 'NOT_WRITABLE');
    assert.equal(node.requests.length, 0, 'refused before any request');
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

test('directory updates that a concurrent update through another node overwrote (answered OK, then lost) are read back and applied again', async () => {
  await withNode(async (grid, node) => {
    const root = await grid.createDirectory();
    const a = await grid.mkdir(root, 'a');
    const f = literalCap(Buffer.from('f'));
    const g = literalCap(Buffer.from('g'));
    node.loseUpdates(2); // each update below is lost twice before it sticks
    await grid.setChild(root, 'f', f, { replace: false, metadata: { mtime: 7 } });
    assert.equal((await grid.getChild(root, 'f'))?.metadata.mtime, 7);
    node.loseUpdates(2);
    await grid.setChild(root, 'g', g, { replace: false });
    node.loseUpdates(2);
    const sub = await grid.mkdir(root, 'sub');
    assert.equal((await grid.getChild(root, 'sub'))?.node.cap, sub);
    node.loseUpdates(2);
    await grid.patchMetadata(root, 'f', { mtime: 9 });
    node.loseUpdates(2);
    await grid.moveChild(root, 'g', root, 'h', false);
    node.loseUpdates(1);
    await grid.moveChild(root, 'h', a, 'h', false);
    node.loseUpdates(2);
    await grid.deleteChild(root, 'sub');
    const other = new WebApiGrid(node.url, { cacheTtlMs: 0 }); // what the node really holds
    try {
      assert.deepEqual((await other.list(root)).map((e) => [e.name, e.metadata.mtime]).sort(), [['a', undefined], ['f', 9]]);
      assert.deepEqual((await other.list(a)).map((e) => e.name), ['h']);
    } finally {
      await other.close();
    }
    // Without reading back, the OK of a lost update is taken at its word: this is what the read-back fixes.
    const trusting = new WebApiGrid(node.url, { verifyWrites: false, cacheTtlMs: 0 });
    try {
      node.loseUpdates(1);
      await trusting.setChild(root, 'lost', f, { replace: false });
      assert.equal(await trusting.getChild(root, 'lost'), undefined);
    } finally {
      await trusting.close();
    }
    // A change that keeps being overwritten fails after a few tries, rather than claiming success.
    node.loseUpdates(100);
    await rejectsWith(grid.setChild(root, 'never', f, { replace: false }), 'UNAVAILABLE');
    node.loseUpdates(0);
  });
});

test('UncoordinatedWriteError is tried again; a try that landed all the same counts as done', async () => {
  await withNode(async (grid, node) => {
    const root = await grid.createDirectory();
    const f = literalCap(Buffer.from('f'));
    node.conflictNext(2); // not applied: the later try does it
    await grid.setChild(root, 'f', f, { replace: false });
    assert.equal((await grid.getChild(root, 'f'))?.node.cap, f);
    node.conflictNext(1, true); // applied: the next try meets EXISTS, which is its own change
    await grid.setChild(root, 'g', f, { replace: false });
    node.conflictNext(1, true);
    const sub = await grid.mkdir(root, 'sub');
    assert.equal((await grid.getChild(root, 'sub'))?.node.cap, sub);
    node.conflictNext(1, true); // NOT_FOUND on the next try: the unlink happened
    await grid.deleteChild(root, 'g');
    node.conflictNext(1, true);
    await grid.moveChild(root, 'f', root, 'f2', false);
    assert.deepEqual((await grid.list(root)).map((e) => e.name).sort(), ['f2', 'sub']);
    // A real EXISTS stays an EXISTS: someone else's child is not taken for ours.
    node.conflictNext(1, false);
    await rejectsWith(grid.setChild(root, 'sub', f, { replace: false }), 'EXISTS');
  });
});

test('an update whose answer was lost (the node hung) is not assumed to have failed: the next one of that name reconciles', async () => {
  await withNode(async (grid, node) => {
    const root = await grid.createDirectory();
    const f = literalCap(Buffer.from('f'));
    const t0 = Date.now();
    node.setDelay(Infinity);
    const lost = grid.setChild(root, 'f', f, { replace: false });
    const lostDir = grid.mkdir(root, 'd');
    await rejectsWith(lost, 'UNAVAILABLE');
    await rejectsWith(lostDir, 'UNAVAILABLE');
    assert.ok(Date.now() - t0 < 5000, `a hung node is given up on after the timeout (${Date.now() - t0} ms)`);
    // The node carried both out after all (Tahoe had received them before it hung).
    const dirCap = await grid.createDirectory().catch(() => undefined);
    assert.equal(dirCap, undefined, 'still hung');
    node.setDelay(0);
    await node.stop();
    await node.restart();
    await grid.probe(); // (a read: the client's connections to the stopped node are renewed)
    const made = await grid.createDirectory();
    const other = new WebApiGrid(node.url, { cacheTtlMs: 0 });
    try {
      await other.setChild(root, 'f', f, { replace: false });
      await other.setChild(root, 'd', made, { replace: false });
    } finally {
      await other.close();
    }
    // The client tries again: not "exists", since it was its own change that landed.
    await grid.setChild(root, 'f', f, { replace: false });
    assert.equal(await grid.mkdir(root, 'd'), made);
    // Once reconciled, a further try of the same is a real conflict again.
    await rejectsWith(grid.setChild(root, 'f', f, { replace: false }), 'EXISTS');
    await rejectsWith(grid.mkdir(root, 'd'), 'EXISTS');
  }, { timeoutMs: 1000 });
});

test('an upload is bounded after its last byte: a hung node fails it after the timeout, a stalled one too, a slow but working one is waited for', async () => {
  await withNode(async (grid, node) => {
    const data = pseudoRandom('commit', 300_000);
    node.onNextUploadCommit('hang');
    let t = Date.now();
    await rejectsWith(put(grid, data), 'UNAVAILABLE').catch(async (err) => {
      node.unfreeze();
      throw err;
    });
    let waited = Date.now() - t;
    assert.ok(waited < 4000, `hung: gave up after ${waited} ms`);
    node.unfreeze();
    node.onNextUploadCommit('stall');
    t = Date.now();
    await assert.rejects(put(grid, pseudoRandom('commit2', 300_000)), /made no progress storing the upload for 1 s/);
    waited = Date.now() - t;
    assert.ok(waited < 4000, `stalled: gave up after ${waited} ms`);
    await node.stop(); // drop the stalled request
    await node.restart();
    node.onNextUploadCommit(3000); // three timeouts long, progressing all along
    t = Date.now();
    const cap = await put(grid, data);
    assert.ok(Date.now() - t >= 2900, 'waited for the node');
    assert.deepEqual(await get(grid, cap), data);
  }, { timeoutMs: 1000, idleTimeoutMs: 1000 });
});

test('a name missing from a cached listing over a second old is looked up afresh: a file stored through another gateway is found by name at once', async () => {
  await withNode(async (grid, node) => {
    const other = new WebApiGrid(node.url, { cacheTtlMs: 0 });
    try {
      const root = await grid.createDirectory();
      assert.deepEqual(await grid.list(root), []);
      await other.setChild(root, 'x', literalCap(Buffer.from('x')), { replace: false });
      assert.equal(await grid.getChild(root, 'x'), undefined, 'a listing fetched just now is trusted');
      await new Promise((r) => setTimeout(r, 1100));
      node.resetLog();
      assert.equal((await grid.getChild(root, 'x'))?.node.cap, literalCap(Buffer.from('x')));
      assert.equal(node.requests.length, 1, 'one fresh listing');
      assert.deepEqual((await grid.list(root)).map((e) => e.name), ['x'], 'and the cache has it now');
      node.resetLog();
      assert.equal(await grid.getChild(root, 'y'), undefined);
      assert.equal(node.requests.length, 0, 'a fresh listing is not fetched again for a miss');
    } finally {
      await other.close();
    }
  }, { cacheTtlMs: 60_000 });
});
