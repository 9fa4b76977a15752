// Small objects stored by the transaction that links them (src/grid/embedded/staged.ts): one
// write transaction per small upload, deterministic bytes, nothing lost when nothing links them,
// older copies found and kept, and a conflicting copy refused rather than linked.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { chkStorageIndex, formatCap } from '../../src/caps/index.js';
import { EmbeddedGrid, SEGMENT_SIZE } from '../../src/grid/embedded/index.js';
import { smallObject } from '../../src/grid/embedded/objects.js';
import { MAX_STAGED_BYTES } from '../../src/grid/embedded/staged.js';
import { isGridError, packChildren } from '../../src/grid/index.js';
import { get, put } from '../helpers/grid-io.js';
import { pseudoRandom } from '../helpers/data.js';
import { tempDir } from '../helpers/tmp.js';
import { readKeyOf } from '../helpers/caps.js';
import { markStoreVersion, openStoreMadeBeforeBlake3, storeMeta } from '../helpers/store-versions.js';

const SECRET = Buffer.alloc(32, 9);

function openGrid(dir: string): Promise<EmbeddedGrid> {
  return EmbeddedGrid.open({ storeDir: dir, convergenceSecret: SECRET });
}

function storageIndexOf(cap: string): Buffer {
  return chkStorageIndex(readKeyOf(cap));
}

/** The same bytes as older versions stored them: under a random data key. */
function olderCopy(cap: string, data: Buffer): Buffer {
  return smallObject(readKeyOf(cap), data, { dataKey: randomBytes(32), nonce: randomBytes(12) });
}

/** The stored row and its gc time, read through a connection of our own (another process's view). */
function row(dir: string, cap: string): { data: Buffer | undefined; touched: number | undefined } {
  const db = new Database(join(dir, 'store.db'), { readonly: true });
  try {
    const si = storageIndexOf(cap);
    return {
      data: db.prepare('SELECT data FROM small_objects WHERE si = ?').pluck().get(si) as Buffer | undefined,
      touched: db.prepare('SELECT touched FROM object_times WHERE si = ?').pluck().get(si) as number | undefined,
    };
  } finally {
    db.close();
  }
}

/**
 * Committed transactions in the store's WAL so far: frames whose header carries the database
 * size after commit (non-zero only on a commit's last frame), of the WAL's current generation.
 */
function walCommits(dir: string): number {
  const path = join(dir, 'store.db-wal');
  if (!existsSync(path)) return 0;
  const wal = readFileSync(path);
  if (wal.length < 32) return 0;
  const pageSize = wal.readUInt32BE(8);
  const salt = wal.subarray(16, 24);
  let commits = 0;
  for (let at = 32; at + 24 + pageSize <= wal.length; at += 24 + pageSize) {
    if (!wal.subarray(at + 8, at + 16).equals(salt)) break;
    if (wal.readUInt32BE(at + 4) !== 0) commits++;
  }
  return commits;
}

test('a small upload and its link are one write transaction; the row exists only once it is linked', async () => {
  const dir = tempDir();
  const grid = await openGrid(dir);
  const root = await grid.createDirectory();
  await grid.setChild(root, 'warm', await put(grid, pseudoRandom('warm', 4000)), { replace: false });
  for (let i = 0; i < 5; i++) {
    const data = pseudoRandom(`one-transaction-${i}`, 4096 * (i + 1));
    const before = walCommits(dir);
    const cap = await put(grid, data);
    assert.equal(row(dir, cap).data, undefined, 'nothing written before the link');
    assert.deepEqual(await get(grid, cap), data, 'readable before it is linked');
    const t0 = Date.now();
    await grid.setChild(root, `f${i}`, cap, { replace: false });
    assert.equal(walCommits(dir) - before, 1, 'one commit for the upload and its link');
    const stored = row(dir, cap);
    assert.ok(stored.data, 'stored by the link');
    assert.ok(stored.touched! >= t0, 'with a fresh time for gc');
  }
  await grid.close();
  const again = await openGrid(dir);
  for (let i = 0; i < 5; i++) {
    const entry = await again.getChild(root, `f${i}`);
    assert.deepEqual(await get(again, entry!.node.cap), pseudoRandom(`one-transaction-${i}`, 4096 * (i + 1)));
  }
  await again.close();
});

test('small objects are deterministic: equal bytes make the same stored object in any store of the same secret', async () => {
  const [a, b] = [tempDir(), tempDir()];
  const caps: string[] = [];
  for (const dir of [a, b]) {
    const grid = await openGrid(dir);
    const cap = await put(grid, pseudoRandom('same', 50_000));
    await grid.setChild(await grid.createDirectory(), 'x', cap, { replace: false });
    caps.push(cap);
    await grid.close();
  }
  assert.equal(caps[0], caps[1]);
  assert.deepEqual(row(a, caps[0]!).data, row(b, caps[1]!).data);
  const other = await openGrid(tempDir());
  const different = await put(other, pseudoRandom('other', 50_000));
  assert.notEqual(different, caps[0]);
  await other.close();
});

test('unlinked small uploads are stored by sync(), by close(), and beyond the staging budget', async () => {
  const dir = tempDir();
  let grid = await openGrid(dir);
  const synced = await put(grid, pseudoRandom('synced', 5000));
  assert.equal(row(dir, synced).data, undefined);
  await grid.sync();
  assert.ok(row(dir, synced).data, 'sync() stores what nothing links');

  const closed = await put(grid, pseudoRandom('closed', 5000));
  await grid.close();
  assert.ok(row(dir, closed).data, 'close() stores it too');

  grid = await openGrid(dir);
  const size = SEGMENT_SIZE - 1000;
  const count = Math.ceil((2 * MAX_STAGED_BYTES) / size);
  const caps: string[] = [];
  for (let i = 0; i < count; i++) caps.push(await put(grid, pseudoRandom(`budget-${i}`, size)));
  assert.ok(row(dir, caps[0]!).data, 'the oldest are stored once the budget is spent');
  assert.equal(row(dir, caps[count - 1]!).data, undefined, 'the newest are still held');
  for (let i = 0; i < count; i++) assert.deepEqual(await get(grid, caps[i]!), pseudoRandom(`budget-${i}`, size));
  await grid.close();
  for (const cap of caps) assert.ok(row(dir, cap).data);
});

test('an older copy of the same bytes (random data key) is found, claimed at once and named by the cap', async () => {
  const dir = tempDir();
  let grid = await openGrid(dir);
  const data = pseudoRandom('older-copy', 7000);
  const cap = await put(grid, data);
  await grid.close();
  // What versions before deterministic small objects stored for these bytes.
  const older = olderCopy(cap, data);
  const db = new Database(join(dir, 'store.db'));
  db.prepare('UPDATE small_objects SET data = ? WHERE si = ?').run(older, storageIndexOf(cap));
  db.prepare('UPDATE object_times SET touched = 1 WHERE si = ?').run(storageIndexOf(cap));
  db.close();

  grid = await openGrid(dir);
  const t0 = Date.now();
  const found = await put(grid, data);
  assert.notEqual(found, cap, 'the cap names the stored copy');
  assert.ok(row(dir, found).touched! >= t0, 'claimed before anything links it');
  assert.deepEqual(row(dir, found).data, older, 'the stored copy is kept');
  const root = await grid.createDirectory();
  await grid.setChild(root, 'f', found, { replace: false });
  await grid.close();
  grid = await openGrid(dir);
  assert.deepEqual(await get(grid, (await grid.getChild(root, 'f'))!.node.cap), data);
  await grid.close();
});

test('a different copy stored by another process between upload and link fails the link, and nothing else', async () => {
  const dir = tempDir();
  const grid = await openGrid(dir);
  const root = await grid.createDirectory();
  const data = pseudoRandom('conflict', 9000);
  const cap = await put(grid, data);
  const fine = await put(grid, pseudoRandom('fine', 9000));
  const other = new Database(join(dir, 'store.db'));
  other.prepare('INSERT INTO small_objects (si, data) VALUES (?, ?)').run(storageIndexOf(cap), olderCopy(cap, data));
  other.close();
  // An immutable directory naming both: `fine` is stored first, then the conflict rolls it back.
  const both = formatCap({ type: 'DIR2-LIT', data: packChildren([
    { name: 'a-fine', readCap: fine, metadata: {} },
    { name: 'z-conflict', readCap: cap, metadata: {} },
  ]) });
  await assert.rejects(grid.setChild(root, 'both', both, { replace: false }), (e: unknown) => isGridError(e, 'UNAVAILABLE'));
  assert.deepEqual(await grid.list(root), [], 'nothing linked');
  assert.equal(row(dir, fine).data, undefined, 'rolled back with the link');
  await grid.mkdir(root, 'unrelated'); // a later commit must not forget what the rollback kept
  await grid.setChild(root, 'fine', fine, { replace: false });
  assert.ok(row(dir, fine).data, 'still held, and stored by its own link');
  await grid.sync(); // the dropped copy is not stored again, and does not fail anything
  const retry = await put(grid, data);
  await grid.setChild(root, 'f', retry, { replace: false });
  assert.deepEqual(await get(grid, retry), data, 'uploading it again works');
  assert.equal((await grid.list(root)).length, 3);
  await grid.close();
});

test('a link that fails leaves the upload linkable', async () => {
  const dir = tempDir();
  const grid = await openGrid(dir);
  const root = await grid.createDirectory();
  await grid.setChild(root, 'taken', await put(grid, pseudoRandom('first', 3000)), { replace: false });
  const cap = await put(grid, pseudoRandom('second', 3000));
  await assert.rejects(grid.setChild(root, 'taken', cap, { replace: false }), (e: unknown) => isGridError(e, 'EXISTS'));
  await grid.setChild(root, 'free', cap, { replace: false });
  await grid.close();
  const again = await openGrid(dir);
  assert.deepEqual(await get(again, (await again.getChild(root, 'free'))!.node.cap), pseudoRandom('second', 3000));
  await again.close();
});

test('a store of schema version 2 (small objects WITHOUT ROWID) is migrated to version 3 with every object', async () => {
  const dir = tempDir();
  let grid = await openStoreMadeBeforeBlake3(dir, SECRET);
  const root = await grid.createDirectory();
  const caps: string[] = [];
  for (let i = 0; i < 20; i++) {
    caps.push(await put(grid, pseudoRandom(`v2-${i}`, 1000 + 500 * i)));
    await grid.setChild(root, `f${i}`, caps[i]!, { replace: false });
  }
  await grid.close();
  markStoreVersion(dir, '2', `CREATE TABLE v2 (si BLOB PRIMARY KEY, data BLOB NOT NULL) WITHOUT ROWID;
    INSERT INTO v2 SELECT si, data FROM small_objects; DROP TABLE small_objects;
    ALTER TABLE v2 RENAME TO small_objects;`);

  grid = await openGrid(dir);
  assert.equal(storeMeta(dir, 'schema'), '4');
  const check = new Database(join(dir, 'store.db'), { readonly: true });
  assert.equal(check.prepare('SELECT count(id) FROM small_objects').pluck().get(), 20, 'a rowid table with every row');
  check.close();
  for (let i = 0; i < 20; i++) {
    assert.deepEqual(await get(grid, (await grid.getChild(root, `f${i}`))!.node.cap), pseudoRandom(`v2-${i}`, 1000 + 500 * i));
  }
  assert.equal(await put(grid, pseudoRandom('v2-3', 2500)), caps[3], 'still deduplicated');
  await grid.close();
});
