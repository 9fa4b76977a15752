// The embedded store, on a real folder: the Grid contract every backend keeps
// (test/helpers/grid-contract.ts), plus what only this store promises — deduplication,
// encryption at rest, tamper detection, small objects, snapshots, several processes at once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { EmbeddedGrid, SEGMENT_SIZE } from '../../src/grid/embedded/index.js';
import { CACHE_SIZE_KIB, inImmediateTransaction, openDatabase } from '../../src/grid/embedded/db.js';
import { isGridError } from '../../src/grid/index.js';
import { literalCap, parseCap, readCapOf } from '../../src/caps/index.js';
import { get, gridContract, put, rejectsWith } from '../helpers/grid-contract.js';
import { tempDir } from '../helpers/tmp.js';
import { pseudoRandom } from '../helpers/data.js';
import { flipEntryByte } from '../helpers/store-damage.js';

const SECRET = Buffer.alloc(32, 7);

async function openGrid(dir = tempDir(), secret = SECRET): Promise<EmbeddedGrid> {
  return EmbeddedGrid.open({ storeDir: dir, convergenceSecret: secret });
}

function walkFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? walkFiles(p) : [p];
  });
}

// The Grid contract shared with the web-API backend.
gridContract({
  name: 'embedded store',
  open: async () => {
    const grid = await openGrid();
    return { grid, close: () => grid.close() };
  },
  chkShares: '1:1',
  segmentSize: SEGMENT_SIZE,
  missingDirectory: 'NOT_FOUND',
});

test('equal bytes are stored once (convergence); another secret gives another cap', async () => {
  const dir = tempDir();
  const grid = await openGrid(dir);
  const data = pseudoRandom('dedup', 300_000);
  const a = await put(grid, data, 1000);
  const b = await put(grid, data, 65536);
  assert.equal(a, b);
  assert.equal(walkFiles(join(dir, 'objects')).length, 1);
  await grid.close();
  const other = await openGrid(dir, Buffer.alloc(32, 8));
  const c = await put(other, data);
  assert.notEqual(c, a);
  assert.deepEqual(await get(other, a), data);
  await other.close();
});

test('the store folder alone reveals no contents, names or caps', async () => {
  const dir = tempDir();
  const grid = await openGrid(dir);
  const root = await grid.createDirectory();
  const secretText = 'the-secret-contents-'.repeat(100);
  const cap = await put(grid, Buffer.from(secretText));
  await grid.setChild(root, 'very-secret-name.txt', cap, { replace: false });
  const sub = await grid.mkdir(root, 'hidden-folder-name');
  await grid.setChild(sub, 'inner-name', literalCap(Buffer.from('tiny')), { replace: false });
  const mutable = await grid.createMutable({ immutableCap: cap });
  await grid.setChild(root, 'mutable-name', mutable, { replace: false });
  await grid.close();
  const needles = ['the-secret-contents', 'very-secret-name', 'hidden-folder-name', 'inner-name', 'mutable-name', 'URI:', 'tiny']
    .map((s) => Buffer.from(s));
  // Key material of the caps must not be stored either.
  for (const c of [root, sub, cap, mutable]) needles.push(Buffer.from(c.split(':')[2]!), parseCap(c).type === 'CHK' ? Buffer.alloc(0) : Buffer.from(c.split(':')[2]!));
  for (const file of walkFiles(dir)) {
    const bytes = readFileSync(file);
    for (const n of needles) if (n.length) assert.equal(bytes.indexOf(n), -1, `${file} contains ${n}`);
  }
});

test('a flipped byte anywhere in a stored file is an error on read, never wrong data', async () => {
  const dir = tempDir();
  const grid = await openGrid(dir);
  const data = pseudoRandom('tamper', 3 * SEGMENT_SIZE);
  const cap = await put(grid, data);
  const [objectFile] = walkFiles(join(dir, 'objects'));
  const original = readFileSync(objectFile!);
  for (const pos of [0, 20, 50, 100, 128, 128 + SEGMENT_SIZE + 3, original.length - 1]) {
    const damaged = Buffer.from(original);
    damaged[pos]! ^= 0x01;
    writeFileSync(objectFile!, damaged);
    await assert.rejects(
      (async () => {
        const r = await grid.openRead(cap);
        try {
          await r.read(0, r.size);
        } finally {
          await r.close();
        }
      })(),
      (err: unknown) => isGridError(err, 'CORRUPT'),
      `flip at ${pos}`,
    );
  }
  writeFileSync(objectFile!, original.subarray(0, original.length - 10)); // truncated
  await rejectsWith(get(grid, cap), 'CORRUPT');
  writeFileSync(objectFile!, original);
  assert.deepEqual(await get(grid, cap), data);
  // A copy whose header is damaged is replaced by the next upload of the same bytes.
  const damaged = Buffer.from(original);
  damaged[50]! ^= 1;
  writeFileSync(objectFile!, damaged);
  await rejectsWith(get(grid, cap), 'CORRUPT');
  const again = await put(grid, data);
  assert.deepEqual(await get(grid, again), data);
  await grid.close();
});

test('a flipped byte in a directory entry is an error, never a wrong entry', async () => {
  const dir = tempDir();
  const grid = await openGrid(dir);
  const root = await grid.createDirectory();
  await grid.setChild(root, 'a', literalCap(Buffer.from('x')), { replace: false });
  await grid.close();
  flipEntryByte(join(dir, 'store.db'), root, 20, 0x80);
  const again = await openGrid(dir);
  await rejectsWith(again.list(root), 'CORRUPT');
  await rejectsWith(again.getChild(root, 'a'), 'CORRUPT');
  await again.close();
});

const workerScript = fileURLToPath(new URL('../helpers/store-worker.js', import.meta.url));

function runWorker(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [workerScript, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`worker exited ${code}`))));
  });
}

test('concurrent updates of one directory from several processes never lose an update', async () => {
  const dir = tempDir();
  const grid = await openGrid(dir);
  const root = await grid.createDirectory();
  await Promise.all([0, 1, 2].map((w) => runWorker(['add', dir, SECRET.toString('hex'), root, `w${w}-`, '100'])));
  const names = (await grid.list(root)).map((e) => e.name);
  assert.equal(names.length, 300);
  await grid.close();
});

test('files smaller than a segment are rows of the index: deduplicated, verified, never wrong data', async () => {
  const dir = tempDir();
  const grid = await openGrid(dir);
  const data = pseudoRandom('small-object', 4096);
  const a = await put(grid, data, 1000);
  const b = await put(grid, data, 4096);
  assert.equal(a, b, 'equal bytes, one cap');
  assert.equal(walkFiles(join(dir, 'objects')).length, 0, 'no object file for a small file');
  assert.deepEqual(await get(grid, a), data);
  await grid.close();
  const db = new Database(join(dir, 'store.db'));
  const rows = db.prepare('SELECT si, data FROM small_objects').all() as { si: Buffer; data: Buffer }[];
  assert.equal(rows.length, 1);
  for (const pos of [5, 60, 200, rows[0]!.data.length - 1]) {
    const damaged = Buffer.from(rows[0]!.data);
    damaged[pos]! ^= 0x04;
    db.prepare('UPDATE small_objects SET data = ? WHERE si = ?').run(damaged, rows[0]!.si);
    const again = await openGrid(dir);
    await rejectsWith(get(again, a), 'CORRUPT');
    await again.close();
  }
  db.prepare('UPDATE small_objects SET data = ? WHERE si = ?').run(rows[0]!.data.subarray(0, 1000), rows[0]!.si);
  const truncated = await openGrid(dir);
  await rejectsWith(get(truncated, a), 'CORRUPT');
  await truncated.close();
  db.close();
});
test('unknown caps that might carry write authority are hidden from read-only directory holders', async () => {
  const grid = await openGrid();
  const root = await grid.createDirectory();
  await grid.setChild(root, 'future', 'x-tahoe-crazy://I_am_from_the_future.', { replace: false });
  const [ro] = await grid.list(readCapOf(root));
  assert.deepEqual([ro!.node.kind, ro!.node.cap], ['unknown', '']);
  const [rw] = await grid.list(root);
  assert.equal(rw!.node.cap, 'x-tahoe-crazy://I_am_from_the_future.');
  await grid.close();
});

test('a reader of a mutable file keeps the version it opened', async () => {
  const grid = await openGrid();
  const v1 = await put(grid, pseudoRandom('v1', 100_000));
  const mut = await grid.createMutable({ immutableCap: v1 });
  const snapshot = await grid.openRead(readCapOf(mut));
  await grid.overwriteMutable(mut, { immutableCap: literalCap(Buffer.from('v2')) });
  assert.deepEqual(await snapshot.read(0, 100_000), pseudoRandom('v1', 100_000));
  await snapshot.close();
  assert.equal((await get(grid, mut)).toString(), 'v2');
  await grid.close();
});

test('the index keeps a 2 MiB page cache, not the 16 MB better-sqlite3 builds with', () => {
  const path = join(tempDir(), 'index.db');
  const plain = new Database(path);
  const db = openDatabase(path);
  try {
    assert.equal(plain.pragma('cache_size', { simple: true }), -16000, 'better-sqlite3\'s own default, the one not wanted');
    assert.equal(CACHE_SIZE_KIB, -2000);
    assert.equal(db.pragma('cache_size', { simple: true }), CACHE_SIZE_KIB);
  } finally {
    db.close();
    plain.close();
  }
});

test('the shared write-transaction runner: commits, rolls back what throws, nests as a savepoint, one BEGIN IMMEDIATE each', () => {
  const db = openDatabase(join(tempDir(), 'index.db'));
  try {
    db.exec('CREATE TABLE t (v INTEGER)');
    const insert = db.prepare('INSERT INTO t VALUES (?)');
    const values = () => db.prepare('SELECT v FROM t ORDER BY v').pluck().all();
    assert.equal(inImmediateTransaction(db, () => (insert.run(1), 'r1')), 'r1');
    assert.throws(() => inImmediateTransaction(db, () => { insert.run(2); throw new Error('no'); }), /no/);
    assert.deepEqual(values(), [1], 'the throwing transaction left nothing');
    inImmediateTransaction(db, () => {
      insert.run(3);
      assert.ok(db.inTransaction);
      assert.throws(() => inImmediateTransaction(db, () => { insert.run(4); throw new Error('inner'); }));
      insert.run(5);
    });
    assert.deepEqual(values(), [1, 3, 5], 'the inner failure rolled back to its savepoint only');
    assert.equal(db.inTransaction, false);
    // A write lock held by another connection: BEGIN IMMEDIATE waits (busy_timeout) and then fails, not a later statement.
    const other = new Database(db.name);
    other.pragma('busy_timeout = 0');
    db.pragma('busy_timeout = 0');
    other.exec('BEGIN IMMEDIATE');
    assert.throws(() => inImmediateTransaction(db, () => values()), /locked|busy/i);
    other.exec('ROLLBACK');
    other.close();
  } finally {
    db.close();
  }
});
