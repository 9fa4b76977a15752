// The embedded store's throughput machinery (issue #11): segments sealed on the thread pool
// within a process-wide memory budget, and commits made durable by shared (group) fsyncs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { EmbeddedGrid, GroupSync, SealPool, SEGMENT_SIZE, cachedRunBytes } from '../../src/grid/embedded/index.js';
import { HEADER_SIZE, TAG, segmentNonce, segmentOffset } from '../../src/grid/embedded/layout.js';
import { sealAddon } from '../../src/grid/embedded/native.js';
import type { ContentHash } from '../../src/grid/embedded/convergence.js';
import { blake3 } from '@noble/hashes/blake3.js';
import { pseudoRandom } from '../helpers/data.js';
import { get, put } from '../helpers/grid-io.js';
import { tempDir } from '../helpers/tmp.js';

test('group sync: commits that wait together share one fsync, and none is acknowledged before a sync that started after it', async () => {
  const dir = tempDir('lafsd-groupsync-');
  const log = join(dir, 'log');
  writeFileSync(log, 'x');
  const sync = new GroupSync(log);
  await sync.durable();
  assert.equal(sync.syncs, 1);
  // 50 commits arriving while one sync runs: they all wait for the next one, which they share.
  const first = sync.durable();
  const later = Array.from({ length: 50 }, () => sync.durable());
  await Promise.all([first, ...later]);
  assert.equal(sync.syncs, 3, 'the running sync, then one shared by the 50 that came during it');
  // One at a time: one sync each.
  for (let i = 0; i < 5; i++) await sync.durable();
  assert.equal(sync.syncs, 8);
  await sync.close();
});

test('group sync: a commit with nothing else under way syncs on the event loop; with an upload open, or while a sync runs, it waits for the pool', async () => {
  const log = join(tempDir('lafsd-groupsync-inline-'), 'log');
  writeFileSync(log, 'x');
  let alone = true;
  const sync = new GroupSync(log, { alone: () => alone, inlineLimitMs: Infinity });
  await sync.durable(); // the first one opens the log, on the pool
  assert.deepEqual([sync.syncs, sync.inlineSyncs], [1, 0]);
  const inline = sync.durable();
  assert.deepEqual([sync.syncs, sync.inlineSyncs], [2, 1], 'synced before durable() returned');
  await inline;
  alone = false;
  const pooled = sync.durable();
  assert.equal(sync.syncs, 2, 'not synced yet: the pool does it');
  await pooled;
  assert.deepEqual([sync.syncs, sync.inlineSyncs], [3, 1]);
  // A commit alone while a sync runs waits for the next one, which later commits share.
  const running = sync.durable();
  alone = true;
  const next = [sync.durable(), sync.durable()];
  assert.equal(sync.inlineSyncs, 1);
  await Promise.all([running, ...next]);
  assert.deepEqual([sync.syncs, sync.inlineSyncs], [5, 1]);
  await sync.close();
});

test('group sync: after an inline sync slower than the limit, commits go to the pool for 100 times as long', async () => {
  const log = join(tempDir('lafsd-groupsync-slow-'), 'log');
  writeFileSync(log, 'x');
  let t = 0;
  const sync = new GroupSync(log, { alone: () => true, inlineLimitMs: 2, now: () => (t += 3) }); // every sync "takes" 3 ms
  await sync.durable();
  await sync.durable();
  assert.deepEqual([sync.syncs, sync.inlineSyncs], [2, 1], 'one inline sync, of 3 ms');
  for (let i = 0; i < 20; i++) await sync.durable(); // 60 ms of the 300
  assert.deepEqual([sync.syncs, sync.inlineSyncs], [22, 1], 'then the pool');
  t += 300;
  await sync.durable();
  assert.deepEqual([sync.syncs, sync.inlineSyncs], [23, 2], '300 ms later, inline again');
  await sync.close();
});

test('group sync: a failed inline sync rejects the commit, as a failed one on the pool does', async () => {
  // fdatasync of a character device fails (EINVAL), inline and on the pool alike.
  const sync = new GroupSync('/dev/null', { alone: () => true, inlineLimitMs: Infinity });
  await assert.rejects(sync.durable(), { code: 'EINVAL' }); // on the pool: it opens the file
  const inline = sync.durable(); // returns a promise, never throws
  assert.ok(inline instanceof Promise);
  await assert.rejects(inline, { code: 'EINVAL' });
  assert.equal(sync.inlineSyncs, 0);
  await assert.rejects(sync.durable(), { code: 'EINVAL' }); // the pool again, for a second
  await sync.close();
});

test('the store syncs a lone commit on the event loop, and shares the pool\'s syncs while an upload is open', async () => {
  const grid = await EmbeddedGrid.open({ storeDir: tempDir('lafsd-inline-sync-'), convergenceSecret: Buffer.alloc(32, 9), inlineSyncLimitMs: Infinity });
  const root = await grid.createDirectory();
  const link = async (name: string) => grid.setChild(root, name, await put(grid, pseudoRandom(name, 4096)), { replace: false });
  await link('first'); // the log opens on the pool
  const before = grid.logSyncs();
  for (let i = 0; i < 5; i++) await link(`alone-${i}`);
  const alone = grid.logSyncs();
  assert.deepEqual([alone.eventLoop - before.eventLoop, alone.threadPool - before.threadPool], [5, 0]);
  const open = await grid.upload();
  await open.write(pseudoRandom('open', 1000));
  for (let i = 0; i < 5; i++) await link(`beside-${i}`);
  const beside = grid.logSyncs();
  assert.deepEqual([beside.eventLoop - alone.eventLoop, beside.threadPool - alone.threadPool], [0, 5]);
  await open.abort(); // an aborted upload counts no longer, nor does a finished one
  await link('after-abort');
  const another = await grid.upload();
  await another.write(pseudoRandom('another', 5000));
  await grid.setChild(root, 'another', await another.finish(), { replace: false });
  const after = grid.logSyncs();
  assert.deepEqual([after.eventLoop - beside.eventLoop, after.threadPool - beside.threadPool], [2, 0]);
  await grid.close();
});

test('uploads through the sealer: 40 at once, byte-exact, never more segments in flight than the budget', async () => {
  const sealer = new SealPool(6);
  const grid = await EmbeddedGrid.open({ storeDir: tempDir('lafsd-pipeline-'), convergenceSecret: Buffer.alloc(32, 9), sealer });
  const sizes = Array.from({ length: 40 }, (_, i) => SEGMENT_SIZE * (1 + (i % 5)) + i * 1000);
  const caps = await Promise.all(
    sizes.map(async (size, i) => {
      const data = pseudoRandom(`pipe-${i}`, size);
      const up = await grid.upload();
      for (let off = 0; off < size; off += 32768) await up.write(data.subarray(off, off + 32768));
      return up.finish();
    }),
  );
  assert.ok(sealer.inFlight.peak <= 6, `peak ${sealer.inFlight.peak}`);
  assert.ok(sealer.inFlight.peak >= 2, 'segments were pipelined');
  assert.equal(sealer.inFlight.now, 0);
  for (let i = 0; i < sizes.length; i++) assert.deepEqual(await get(grid, caps[i]!), pseudoRandom(`pipe-${i}`, sizes[i]!), `upload ${i}`);
  await grid.close();
});

test('uploads one after another reuse one segment buffer, small files (rows, LIT caps) and big ones alike', async () => {
  const sealer = new SealPool();
  const grid = await EmbeddedGrid.open({ storeDir: tempDir('lafsd-pipeline-reuse-'), convergenceSecret: Buffer.alloc(32, 9), sealer });
  const sizes = [4096, 40, 4096, 1000, 9000, 0, 4096];
  for (const [i, size] of sizes.entries()) {
    const up = await grid.upload();
    await up.write(pseudoRandom(`reuse-${i}`, size));
    assert.deepEqual(await get(grid, await up.finish()), pseudoRandom(`reuse-${i}`, size), `small file ${i}`);
  }
  assert.equal(sealer.allocated, 1, 'a file smaller than one segment gives its buffer back');
  // A big upload needs more (several segments in flight), and gives them all back.
  const big = await grid.upload();
  await big.write(pseudoRandom('reuse-big', 5 * SEGMENT_SIZE + 7));
  await get(grid, await big.finish());
  const afterBig = sealer.allocated;
  for (let i = 0; i < 5; i++) {
    const up = await grid.upload();
    await up.write(pseudoRandom(`reuse-again-${i}`, 4096 + i));
    await up.finish();
  }
  assert.equal(sealer.allocated, afterBig);
  await grid.close();
});

test('spare segment buffers are let go when the process is idle, and the next upload allocates anew', async () => {
  const sealer = new SealPool();
  const grid = await EmbeddedGrid.open({ storeDir: tempDir('lafsd-pipeline-idle-'), convergenceSecret: Buffer.alloc(32, 9), sealer });
  const big = await grid.upload();
  await big.write(pseudoRandom('idle-big', 5 * SEGMENT_SIZE));
  await big.finish();
  const allocated = sealer.allocated;
  assert.ok(allocated >= 2, `${allocated} buffers`);
  // Every buffer came back to the spares: all of them are let go, once.
  assert.equal(sealer.dropIdle(), allocated * SEGMENT_SIZE);
  assert.equal(sealer.dropIdle(), 0);
  const small = await grid.upload();
  await small.write(pseudoRandom('idle-small', 4096));
  assert.deepEqual(await get(grid, await small.finish()), pseudoRandom('idle-small', 4096));
  assert.equal(sealer.allocated, allocated + 1, 'a dropped buffer is never handed out again');
  await grid.close();
});

test('the sealer: segments sealed in parallel on the thread pool are hashed in order, and each is AES-256-GCM under its own nonce at its place', async () => {
  const dir = tempDir('lafsd-pipeline-order-');
  const sealer = new SealPool();
  const key = randomBytes(32);
  // Many segments in flight (16 per upload) on libuv's four threads, three uploads at once,
  // each with segments of varying fill: any hash out of order changes the digest.
  // Both hashes run at once; each digest is checked against an independent implementation.
  const uploads = [0, 1, 2].map((u) => {
    const lengths = Array.from({ length: 150 }, (_, i) => (i % 7 === 3 ? 1 + ((i * 7919 + u) % SEGMENT_SIZE) : SEGMENT_SIZE));
    const plain = lengths.map((n, i) => pseudoRandom(`order-${u}-${i}`, n));
    const hash: ContentHash = u === 1 ? 'sha256' : 'blake3';
    return { path: join(dir, `upload-${u}`), plain, hash };
  });
  await Promise.all(
    uploads.map(async ({ path, plain, hash }) => {
      const job = sealer.job(path, key, hash);
      for (const [i, p] of plain.entries()) {
        const buffer = sealer.buffer();
        p.copy(buffer);
        await job.segment(i, buffer, p.length);
      }
      const whole = Buffer.concat(plain);
      const expected = hash === 'sha256' ? createHash('sha256').update(whole).digest() : Buffer.from(blake3(whole));
      assert.deepEqual(await job.digest(), expected, `the ${hash} of the upload, its segments in order`);
      const header = Buffer.alloc(HEADER_SIZE, 0xab);
      await job.seal(header);
      const file = readFileSync(path);
      assert.deepEqual(file.subarray(0, HEADER_SIZE), header);
      for (const [i, p] of plain.entries()) {
        const at = segmentOffset(i);
        const decipher = createDecipheriv('aes-256-gcm', key, segmentNonce(i));
        decipher.setAuthTag(file.subarray(at + p.length, at + p.length + TAG));
        assert.deepEqual(Buffer.concat([decipher.update(file.subarray(at, at + p.length)), decipher.final()]), p, `segment ${i}`);
      }
    }),
  );
  assert.equal(sealer.inFlight.now, 0);
  assert.ok(sealer.inFlight.peak > 16, `segments of several uploads were in flight at once (peak ${sealer.inFlight.peak})`);
  await sealer.close();
});

test('the sealer: uploads past the background flush (32 MiB) seal or abort without waiting for it, and leak no descriptor', async () => {
  const dir = tempDir('lafsd-pipeline-flush-');
  const sealer = new SealPool();
  const key = randomBytes(32);
  const openFds = () => readdirSync('/proc/self/fd').length;
  const before = openFds();
  const segments = 300; // 37.5 MiB: one flush starts at 32 MiB
  const data = pseudoRandom('flush', SEGMENT_SIZE);
  const send = async (path: string) => {
    const job = sealer.job(path, key, 'blake3');
    for (let i = 0; i < segments; i++) {
      const buffer = sealer.buffer();
      data.copy(buffer);
      await job.segment(i, buffer, SEGMENT_SIZE);
    }
    assert.equal((await job.digest()).length, 32);
    return job;
  };
  const kept = join(dir, 'kept');
  await (await send(kept)).seal(Buffer.alloc(HEADER_SIZE));
  assert.equal(statSync(kept).size, segmentOffset(segments));
  const dropped = join(dir, 'dropped');
  await (await send(dropped)).abort();
  assert.equal(existsSync(dropped), false, 'an aborted upload leaves no file');
  // A flush still running closes its file when it ends.
  for (let i = 0; i < 100 && openFds() > before; i++) await new Promise((r) => setTimeout(r, 20));
  assert.equal(openFds(), before, 'every descriptor was closed');
  await sealer.close();
});

test('a segment that cannot be written fails its upload with the system error (no hang), gives back its budget and buffers, and the next upload works', async () => {
  const dir = tempDir('lafsd-pipeline-fail-');
  const sealer = new SealPool(6);
  const key = Buffer.alloc(32, 3);
  // The temporary file's folder is missing: the first write's open fails.
  const broken = sealer.job(join(dir, 'missing', 'upload'), key, 'blake3');
  for (let i = 0; i < 10; i++) await broken.segment(i, sealer.buffer(), SEGMENT_SIZE);
  await assert.rejects(broken.digest(), (err: NodeJS.ErrnoException) => err.code === 'ENOENT' && /open/.test(err.message));
  assert.equal(broken.failure?.message.startsWith('ENOENT'), true);
  await broken.abort();
  assert.equal(sealer.inFlight.now, 0, 'every segment gave its slot back');
  const allocated = sealer.allocated;
  // An upload that was never written to is aborted without a file to remove.
  await sealer.job(join(dir, 'never'), key, 'blake3').abort();
  // The same pool goes on: its buffers come back and are reused, and the file is right.
  const grid = await EmbeddedGrid.open({ storeDir: join(dir, 'store'), convergenceSecret: Buffer.alloc(32, 9), sealer });
  const up = await grid.upload();
  await up.write(pseudoRandom('again', 2 * SEGMENT_SIZE + 5));
  assert.deepEqual(await get(grid, await up.finish()), pseudoRandom('again', 2 * SEGMENT_SIZE + 5));
  assert.equal(sealer.allocated, allocated, 'no new segment buffer was needed');
  const [own] = readdirSync(join(dir, 'store', 'tmp'));
  assert.deepEqual(readdirSync(join(dir, 'store', 'tmp', own!)), [], 'no temporary upload left behind');
  await grid.close();
});

/** Scheduling policy of each thread of this process, by thread id (field 41 of each thread's `stat` in /proc). */
function threadPolicies(): Map<number, number> {
  const policies = new Map<number, number>();
  for (const tid of readdirSync('/proc/self/task')) {
    const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'latin1');
    // Fields after the command name, which is in parentheses and may hold spaces: field 3 first.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    policies.set(Number(tid), Number(fields[41 - 3]));
  }
  return policies;
}

const SCHED_OTHER = 0;
const SCHED_BATCH = 3;

test('pool threads that ran the store\'s work no longer preempt the event loop (SCHED_BATCH); the event loop\'s thread keeps its policy', { skip: process.platform !== 'linux' }, async () => {
  const grid = await EmbeddedGrid.open({ storeDir: tempDir('lafsd-pipeline-batch-'), convergenceSecret: Buffer.alloc(32, 9) });
  const data = pseudoRandom('batch', 40 * SEGMENT_SIZE + 3);
  assert.deepEqual(await get(grid, await put(grid, data)), data);
  await grid.close();
  const policies = threadPolicies();
  assert.equal(policies.get(process.pid), SCHED_OTHER, 'the event loop\'s thread');
  const batch = [...policies.values()].filter((p) => p === SCHED_BATCH).length;
  assert.ok(batch >= 1, `at least one pool thread ran the sealing and is SCHED_BATCH (policies: ${[...policies.values()].join(' ')})`);
});

test('the sealing addon: a missing or foreign file is a clear error, not a crash', () => {
  const dir = tempDir('lafsd-pipeline-addon-');
  assert.throws(() => new SealPool(6, join(dir, 'seal.node')), /sealing addon is missing .*npm install/);
  const foreign = join(dir, 'foreign.cjs');
  writeFileSync(foreign, 'module.exports = { trim() {} };');
  assert.throws(() => new SealPool(6, foreign), /not lafsd's sealing addon/);
  // A run's buffer must hold exactly its segments and tags: anything else is refused before any read.
  const addon = sealAddon();
  const done = () => assert.fail('no read may start');
  for (const [plain, size] of [[SEGMENT_SIZE, SEGMENT_SIZE], [SEGMENT_SIZE + 1, SEGMENT_SIZE + 1 + TAG], [0, TAG], [-1, TAG]] as const) {
    assert.throws(() => addon.open(0, Buffer.alloc(32), 0, plain, 0, SEGMENT_SIZE, Buffer.alloc(Math.max(0, size)), done), TypeError, `${plain} in ${size}`);
  }
  assert.throws(() => addon.open(0, Buffer.alloc(16), 0, 10, 0, SEGMENT_SIZE, Buffer.alloc(10 + TAG), done), TypeError, 'a short key');
});

test('reads of every kind of range give the bytes stored: whole file, aligned runs, concurrent small reads, random', async () => {
  const grid = await EmbeddedGrid.open({ storeDir: tempDir('lafsd-pipeline-read-'), convergenceSecret: Buffer.alloc(32, 9) });
  const size = 20 * SEGMENT_SIZE + 777; // more than two runs, and a short last segment
  const data = pseudoRandom('runs', size);
  const reader = await grid.openRead(await put(grid, data));
  let seed = 12345;
  const random = (n: number) => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % n;
  const expect = async (offset: number, length: number) =>
    assert.deepEqual(await reader.read(offset, length), data.subarray(offset, Math.min(size, offset + length)), `${offset}+${length}`);
  await expect(0, size); // the whole file at once: three runs
  for (let off = 0; off < size; off += 1024 * 1024) await expect(off, 1024 * 1024); // 1 MiB aligned reads
  for (let off = 0; off < size; off += 7 * SEGMENT_SIZE) await expect(off, 7 * SEGMENT_SIZE); // FTP's: one run each
  // SFTP's: 32 KiB reads, 64 at once, several of them in each segment.
  await Promise.all(Array.from({ length: 64 }, (_, k) => expect(k * 32768, 32768)));
  for (let i = 0; i < 300; i++) await expect(random(size + 10), random(3 * SEGMENT_SIZE));
  await Promise.all(Array.from({ length: 50 }, () => expect(random(size), random(2 * 1024 * 1024))));
  assert.equal((await reader.read(size, 10)).length, 0);
  await reader.close();

  // OpenSSH's 255 KiB READs, in order and 16 at once: right, and mostly views of whole runs
  // (a sequential reader reads ahead), where runs cut to each read made nearly every one a copy.
  const sequential = await grid.openRead(await put(grid, data));
  const chunk = 255 * 1024;
  const offsets = Array.from({ length: Math.ceil(size / chunk) }, (_, k) => k * chunk);
  const views = new Set<ArrayBufferLike>();
  for (let k = 0; k < offsets.length; k += 16) {
    const batch = offsets.slice(k, k + 16).map((off) => sequential.read(off, chunk).then((b) => ({ off, b })));
    for (const { off, b } of await Promise.all(batch)) {
      assert.deepEqual(b, data.subarray(off, Math.min(size, off + chunk)), `sequential ${off}`);
      views.add(b.buffer);
    }
  }
  assert.ok(views.size <= 6, `${offsets.length} reads came from ${views.size} buffers (3 runs, plus copies across them)`);
  await sequential.close();
  await grid.close();
});

// Found on 2026-12-05: runs of eight segments made a 1 MiB buffer to read into and another to
// open into for every MiB downloaded, exactly glibc's mmap threshold as lafsd sets it (src/cli/
// main.ts): each a fresh mapping, faulted in page by page and unmapped again, which made curl's
// 1 GiB FTP downloads take up to 8 s. What a download hands out must come from malloc's heap.
test('the buffers a download is read into stay under 1 MiB (glibc\'s mmap threshold in lafsd): FTP\'s and SFTP\'s reads', async () => {
  const grid = await EmbeddedGrid.open({ storeDir: tempDir('lafsd-pipeline-heap-'), convergenceSecret: Buffer.alloc(32, 3) });
  const size = 40 * SEGMENT_SIZE + 5;
  const data = pseudoRandom('heap', size);
  const cap = await put(grid, data);
  for (const chunk of [7 * SEGMENT_SIZE, 255 * 1024, 32 * 1024]) {
    const reader = await grid.openRead(cap);
    for (let off = 0; off < size; off += chunk * 2) {
      const [a, b] = await Promise.all([reader.read(off, chunk), reader.read(off + chunk, chunk)]); // read ahead, as both frontends do
      for (const [at, got] of [[off, a!], [off + chunk, b!]] as const) {
        assert.deepEqual(got, data.subarray(at, Math.min(size, at + chunk)), `${chunk}-byte read at ${at}`);
        assert.ok(got.buffer.byteLength < 1024 * 1024, `${chunk}-byte read at ${at} came from a ${got.buffer.byteLength}-byte buffer`);
      }
    }
    await reader.close();
  }
  await grid.close();
});

// Found on 2026-12-05: each reader kept up to 2 MiB of decrypted runs, and nothing bounded the
// readers: 500 open SFTP handles that had each read 32 KiB held 520 MB. All readers' caches
// together now keep at most 64 MiB; a reader whose runs were dropped reads them again.
test('all readers together cache at most 64 MiB; a reader whose run was dropped still reads the right bytes', async () => {
  const grid = await EmbeddedGrid.open({ storeDir: tempDir('lafsd-pipeline-cache-'), convergenceSecret: Buffer.alloc(32, 7) });
  const size = 24 * SEGMENT_SIZE; // four runs (7 segments, 896 KiB each, and a last of 3)
  const data = pseudoRandom('cache', size);
  const cap = await put(grid, data);
  const readers = [];
  for (let i = 0; i < 100; i++) {
    const r = await grid.openRead(cap);
    assert.deepEqual(await r.read(0, 32768), data.subarray(0, 32768)); // loads a whole 896 KiB run
    readers.push(r);
  }
  const held = cachedRunBytes();
  assert.ok(held > 60 * 1024 * 1024 && held <= 64 * 1024 * 1024, `${held} bytes cached for 100 readers of 896 KiB runs`);
  // The first readers' runs were dropped: they read again from the store, and correctly.
  for (const r of readers.slice(0, 5)) assert.deepEqual(await r.read(32768, 300_000), data.subarray(32768, 332_768));
  for (const r of readers) await r.close();
  assert.equal(cachedRunBytes(), 0, 'closed readers keep nothing');
  await grid.close();
});
