// The embedded store, on a real folder: round trips, ranges, dedup, encryption at rest,
// tamper detection, directory rules, mutable files, concurrency.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import fc from 'fast-check';
import { EmbeddedGrid, SEGMENT_SIZE } from '../../src/grid/embedded/index.js';
import { isGridError, packChildren, type Grid } from '../../src/grid/index.js';
import { b32encode, literalCap, parseCap, readCapOf } from '../../src/caps/index.js';
import { tempDir } from '../helpers/tmp.js';
import { pseudoRandom } from '../helpers/data.js';

const SECRET = Buffer.alloc(32, 7);

async function openGrid(dir = tempDir(), secret = SECRET): Promise<EmbeddedGrid> {
  return EmbeddedGrid.open({ storeDir: dir, convergenceSecret: secret });
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

function walkFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? walkFiles(p) : [p];
  });
}

async function rejectsWith(p: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(p, (err: unknown) => isGridError(err) && err.code === code);
}

test('files of every interesting size round-trip; tiny ones are LIT caps', async () => {
  const grid = await openGrid();
  for (const size of [0, 1, 55, 56, 1000, SEGMENT_SIZE - 1, SEGMENT_SIZE, SEGMENT_SIZE + 1, 3 * SEGMENT_SIZE + 5]) {
    const data = pseudoRandom(`size-${size}`, size);
    const cap = await put(grid, data, 7777);
    if (size <= 55) assert.equal(cap, literalCap(data));
    else assert.match(cap, new RegExp(`^URI:CHK:[a-z2-7]{26}:[a-z2-7]{52}:1:1:${size}$`));
    assert.deepEqual(await get(grid, cap), data, `size ${size}`);
  }
  await grid.close();
});

test('range reads at any offset return exactly the stored bytes', async () => {
  const grid = await openGrid();
  const data = pseudoRandom('ranges', 2 * SEGMENT_SIZE + 12345);
  const cap = await put(grid, data);
  const reader = await grid.openRead(cap);
  await fc.assert(
    fc.asyncProperty(fc.nat(data.length + 10), fc.nat(3 * SEGMENT_SIZE), async (offset, length) => {
      const got = await reader.read(offset, length);
      assert.deepEqual(got, data.subarray(offset, offset + length));
    }),
    { numRuns: 300 },
  );
  // Many reads in flight at once, as SFTP clients pipeline them.
  const parts = await Promise.all(Array.from({ length: 64 }, (_, i) => reader.read(i * 4096, 4096)));
  assert.deepEqual(Buffer.concat(parts), data.subarray(0, 64 * 4096));
  await reader.close();
  await grid.close();
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
  const db = new Database(join(dir, 'store.db'));
  const row = db.prepare('SELECT dir_si, name_key, value FROM entries').get() as { dir_si: Buffer; name_key: Buffer; value: Buffer };
  const value = Buffer.from(row.value);
  value[20]! ^= 0x80;
  db.prepare('UPDATE entries SET value = ? WHERE dir_si = ? AND name_key = ?').run(value, row.dir_si, row.name_key);
  db.close();
  const again = await openGrid(dir);
  await rejectsWith(again.list(root), 'CORRUPT');
  await rejectsWith(again.getChild(root, 'a'), 'CORRUPT');
  await again.close();
});

test('link metadata follows Tahoe: replace rules, linkcrtime kept, user keys replaced or kept', async () => {
  const grid = await openGrid();
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
  await grid.setChild(root, 'f', f2, { replace: true }); // metadata undefined: user keys kept
  const second = (await grid.getChild(root, 'f'))!;
  assert.equal(second.node.cap, f2);
  assert.equal(second.metadata.custom, 'x');
  assert.equal(second.metadata.tahoe!.linkcrtime, crtime);
  assert.ok(second.metadata.tahoe!.linkmotime! > first.metadata.tahoe!.linkmotime!);
  await grid.setChild(root, 'f', f1, { replace: true, metadata: { other: 1 } }); // replaces user keys
  const third = (await grid.getChild(root, 'f'))!;
  assert.equal(third.metadata.custom, undefined);
  assert.equal(third.metadata.other, 1);
  // only-files replaces files but not directories
  await grid.mkdir(root, 'd');
  await rejectsWith(grid.setChild(root, 'd', f1, { replace: 'only-files' }), 'EXISTS');
  await grid.setChild(root, 'f', f2, { replace: 'only-files' });
  await rejectsWith(grid.mkdir(root, 'd'), 'EXISTS');
  // patchMetadata merges and removes keys
  const patched = await grid.patchMetadata(root, 'f', { 'no-write': true, other: null, mtime: 5 });
  assert.deepEqual({ nw: patched.metadata['no-write'], other: patched.metadata.other, mtime: patched.metadata.mtime }, { nw: true, other: undefined, mtime: 5 });
  await rejectsWith(grid.patchMetadata(root, 'missing', {}), 'NOT_FOUND');
  await grid.close();
});

test('names are NFC-normalised on every add, lookup and delete', async () => {
  const grid = await openGrid();
  const root = await grid.createDirectory();
  const nfd = 'gro\u0073\u0073e\u0301'; // "grosse" with a combining acute
  await grid.setChild(root, nfd, literalCap(Buffer.from('x')), { replace: false });
  const [entry] = await grid.list(root);
  assert.equal(entry!.name, nfd.normalize('NFC'));
  assert.ok(await grid.getChild(root, nfd.normalize('NFC')));
  await grid.deleteChild(root, nfd.normalize('NFD'));
  assert.equal((await grid.list(root)).length, 0);
  for (const bad of ['', '.', '..', 'a/b', 'nul\0']) await rejectsWith(grid.setChild(root, bad, literalCap(Buffer.alloc(0)), { replace: true }), 'INVALID');
  await grid.close();
});

test('read-only directory caps list read caps only and refuse every change', async () => {
  const grid = await openGrid();
  const root = await grid.createDirectory();
  const sub = await grid.mkdir(root, 'sub');
  const mutable = await grid.createMutable({ immutableCap: literalCap(Buffer.from('m')) });
  await grid.setChild(root, 'm', mutable, { replace: false });
  await grid.setChild(root, 'future', 'x-tahoe-crazy://I_am_from_the_future.', { replace: false });
  const ro = readCapOf(root);
  const listing = new Map((await grid.list(ro)).map((e) => [e.name, e]));
  assert.equal(listing.get('sub')!.node.cap, readCapOf(sub));
  assert.equal(listing.get('sub')!.node.writeCap, undefined);
  assert.equal(listing.get('m')!.node.cap, readCapOf(mutable));
  assert.equal(listing.get('m')!.node.readOnly, true);
  assert.equal(listing.get('future')!.node.kind, 'unknown');
  assert.equal(listing.get('future')!.node.cap, ''); // unknown caps might be write caps: hidden
  const rw = new Map((await grid.list(root)).map((e) => [e.name, e]));
  assert.equal(rw.get('m')!.node.writeCap, mutable);
  assert.equal(rw.get('future')!.node.cap, 'x-tahoe-crazy://I_am_from_the_future.');
  const f = literalCap(Buffer.from('f'));
  await rejectsWith(grid.setChild(ro, 'x', f, { replace: true }), 'NOT_WRITABLE');
  await rejectsWith(grid.deleteChild(ro, 'sub'), 'NOT_WRITABLE');
  await rejectsWith(grid.mkdir(ro, 'y'), 'NOT_WRITABLE');
  await rejectsWith(grid.moveChild(ro, 'sub', root, 'sub2', false), 'NOT_WRITABLE');
  await rejectsWith(grid.moveChild(root, 'sub', ro, 'sub2', false), 'NOT_WRITABLE');
  await rejectsWith(grid.patchMetadata(ro, 'sub', { mtime: 1 }), 'NOT_WRITABLE');
  await rejectsWith(grid.overwriteMutable(readCapOf(mutable), { immutableCap: f }), 'NOT_WRITABLE');
  assert.equal((await grid.list(root)).length, 3);
  await grid.close();
});

test('no-write on a writable mutable link keeps only its read cap', async () => {
  const grid = await openGrid();
  const root = await grid.createDirectory();
  const mutable = await grid.createMutable({ immutableCap: literalCap(Buffer.from('m')) });
  await grid.setChild(root, 'm', mutable, { replace: false });
  const e = await grid.patchMetadata(root, 'm', { 'no-write': true });
  assert.equal(e.node.cap, readCapOf(mutable));
  assert.equal(e.node.readOnly, true);
  await grid.patchMetadata(root, 'm', { 'no-write': null });
  assert.equal((await grid.getChild(root, 'm'))!.node.readOnly, true, 'dropped write authority does not come back');
  await grid.close();
});

test('delete enforces the kind and emptiness it is asked for', async () => {
  const grid = await openGrid();
  const root = await grid.createDirectory();
  const sub = await grid.mkdir(root, 'sub');
  await grid.setChild(sub, 'inner', literalCap(Buffer.from('i')), { replace: false });
  await grid.setChild(root, 'file', literalCap(Buffer.from('f')), { replace: false });
  await grid.setChild(root, 'unknown', 'x-foo:bar', { replace: false });
  await rejectsWith(grid.deleteChild(root, 'sub', { mustBe: 'file' }), 'IS_A_DIRECTORY');
  await rejectsWith(grid.deleteChild(root, 'file', { mustBe: 'dir' }), 'NOT_A_DIRECTORY');
  await rejectsWith(grid.deleteChild(root, 'sub', { mustBe: 'dir', mustBeEmpty: true }), 'NOT_EMPTY');
  await rejectsWith(grid.deleteChild(root, 'nope'), 'NOT_FOUND');
  await grid.deleteChild(root, 'unknown', { mustBe: 'file' });
  await grid.deleteChild(sub, 'inner');
  const removed = await grid.deleteChild(root, 'sub', { mustBe: 'dir', mustBeEmpty: true });
  assert.equal(removed.node.cap, sub);
  assert.deepEqual((await grid.list(root)).map((e) => e.name), ['file']);
  await grid.close();
});

test('moves keep metadata, honour replace rules, and are atomic across directories', async () => {
  const grid = await openGrid();
  const root = await grid.createDirectory();
  const a = await grid.mkdir(root, 'a');
  const b = await grid.mkdir(root, 'b');
  const f = literalCap(Buffer.from('f'));
  await grid.setChild(a, 'f', f, { replace: false, metadata: { mtime: 42 } });
  await grid.setChild(b, 'taken', f, { replace: false });
  await rejectsWith(grid.moveChild(a, 'f', b, 'taken', false), 'EXISTS');
  await rejectsWith(grid.moveChild(a, 'missing', b, 'x', false), 'NOT_FOUND');
  await grid.moveChild(a, 'f', a, 'f', false); // onto itself: a no-op
  await grid.moveChild(a, 'f', b, 'g', false);
  assert.equal((await grid.list(a)).length, 0);
  const moved = (await grid.getChild(b, 'g'))!;
  assert.equal(moved.node.cap, f);
  assert.equal(moved.metadata.mtime, 42);
  await grid.moveChild(b, 'g', b, 'taken', true);
  assert.deepEqual((await grid.list(b)).map((e) => e.name), ['taken']);
  await grid.close();
});

test('mutable files publish new versions under one cap; old content stays readable', async () => {
  const grid = await openGrid();
  const v1 = await put(grid, pseudoRandom('v1', 100_000));
  const v2 = await put(grid, pseudoRandom('v2', 5));
  const mut = await grid.createMutable({ immutableCap: v1 }, 'MDMF');
  assert.match(mut, /^URI:MDMF:/);
  const info = await grid.stat(mut);
  assert.deepEqual({ kind: info.kind, mutable: info.mutable, size: info.size, ro: info.readOnly }, { kind: 'file', mutable: true, size: 100_000, ro: false });
  const snapshot = await grid.openRead(readCapOf(mut));
  await grid.overwriteMutable(mut, { immutableCap: v2 });
  assert.deepEqual(await get(grid, mut), pseudoRandom('v2', 5));
  assert.equal((await grid.stat(readCapOf(mut))).size, 5);
  assert.deepEqual(await snapshot.read(0, 100_000), pseudoRandom('v1', 100_000), 'an open reader keeps its version');
  await snapshot.close();
  assert.deepEqual(await get(grid, v1), pseudoRandom('v1', 100_000), 'relinking leaves the old file readable');
  await grid.close();
});

test('immutable directories in Tahoe format are listed', async () => {
  const grid = await openGrid();
  const packed = packChildren([
    { name: 'short', readCap: literalCap(Buffer.from('The end.')), metadata: {} },
    { name: 'b', readCap: literalCap(Buffer.from('b')), metadata: { mtime: 1 } },
  ]);
  const lit = `URI:DIR2-LIT:${b32encode(packed)}`;
  const entries = await grid.list(lit);
  assert.deepEqual(entries.map((e) => e.name), ['b', 'short']);
  assert.equal((await grid.getChild(lit, 'short'))!.node.size, 8);
  assert.equal((await grid.list('URI:DIR2-LIT:')).length, 0);
  await rejectsWith(grid.setChild(lit, 'x', literalCap(Buffer.alloc(0)), { replace: true }), 'NOT_WRITABLE');
  const info = await grid.stat(lit);
  assert.deepEqual([info.kind, info.mutable, info.readOnly], ['dir', false, true]);
  await grid.close();
});

test('caps this store does not hold are NOT_FOUND; wrong kinds are refused', async () => {
  const grid = await openGrid();
  const foreignDir = 'URI:DIR2:tmtxiysosbogziok2bzqtjqyly:odeejxkxue6ruqz4xaxzw6bhavb244akuqkdbg2d3svxdubq4b3q';
  await rejectsWith(grid.stat(foreignDir), 'NOT_FOUND');
  await rejectsWith(grid.list(foreignDir), 'NOT_FOUND');
  await rejectsWith(grid.openRead('URI:CHK:cijcjzcaplulf7swndt4pfiyhy:yzmwugnohxefq5j5htnfxgjqs23vnl7jgy7nsncquckawbpjlo2a:2:3:1968'), 'UNAVAILABLE');
  const root = await grid.createDirectory();
  await rejectsWith(grid.openRead(root), 'IS_A_DIRECTORY');
  await rejectsWith(grid.list(literalCap(Buffer.from('file'))), 'NOT_A_DIRECTORY');
  assert.equal((await grid.stat('x-unknown:thing')).kind, 'unknown');
  await grid.close();
});

test('concurrent updates of one directory never lose an update (one process)', async () => {
  const grid = await openGrid();
  const root = await grid.createDirectory();
  await Promise.all(Array.from({ length: 300 }, (_, i) => grid.setChild(root, `n${i}`, literalCap(Buffer.from(String(i))), { replace: false })));
  assert.equal((await grid.list(root)).length, 300);
  await grid.close();
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
