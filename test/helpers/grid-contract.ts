// The Grid contract (src/grid/types.ts) as one test suite, run against every backend: the
// embedded store (test/unit/store.test.ts) and the web-API backend on the stand-in Tahoe node
// (test/integration/webapi-grid.test.ts). What only one backend has stays in its own file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { b32encode, literalCap, readCapOf } from '../../src/caps/index.js';
import { isGridError, packChildren, type Grid, type GridErrorCode } from '../../src/grid/index.js';
import { pseudoRandom } from './data.js';
import { get, put } from './grid-io.js';

export { get, put };

export interface GridUnderTest {
  grid: Grid;
  /** Called after each test body, before close (e.g. checks on the requests a backend sent). */
  check?: () => void;
  close(): Promise<void>;
}

export interface ContractOptions {
  /** Prefix of every test name, e.g. 'embedded store'. */
  name: string;
  open(): Promise<GridUnderTest>;
  /** The `k:n` share counts in CHK caps this grid makes ('1:1' embedded, '2:3' on the stand-in node). */
  chkShares: string;
  /** Its segment size: sizes around it are the interesting ones. */
  segmentSize: number;
  /** The error for a well-formed directory cap whose object this grid does not hold. */
  missingDirectory: GridErrorCode;
}

/** Rejects with `code`, and the message is plain text without HTML or caps. */
export async function rejectsWith(p: Promise<unknown>, code: GridErrorCode): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(isGridError(err), `not a GridError: ${String(err)}`);
    assert.equal(err.code, code, err.message);
    assert.doesNotMatch(err.message, /<[a-z!/]|URI:|URI%3A|[a-z2-7]{26}:[a-z2-7]{52}/i, `message: ${err.message}`);
    return true;
  });
}

const FUTURE_CAP = 'ro.x-tahoe-crazy://I_am_from_the_future.';

export function gridContract(o: ContractOptions): void {
  const it = (title: string, body: (grid: Grid) => Promise<void>) =>
    test(`${o.name}: ${title}`, async () => {
      const g = await o.open();
      try {
        await body(g.grid);
        g.check?.();
      } finally {
        await g.close();
      }
    });
  const seg = o.segmentSize;

  it('files of every interesting size round-trip; tiny ones are LIT caps', async (grid) => {
    for (const size of [0, 1, 55, 56, 1000, seg - 1, seg, seg + 1, 3 * seg + 5]) {
      const data = pseudoRandom(`size-${size}`, size);
      const cap = await put(grid, data, 7777);
      if (size <= 55) assert.equal(cap, literalCap(data));
      else assert.match(cap, new RegExp(`^URI:CHK:[a-z2-7]{26}:[a-z2-7]{52}:${o.chkShares}:${size}$`));
      assert.deepEqual(await get(grid, cap), data, `size ${size}`);
    }
  });

  it('range reads at any offset return exactly the stored bytes, many at once', async (grid) => {
    const data = pseudoRandom('ranges', 2 * seg + 12345);
    const cap = await put(grid, data);
    const reader = await grid.openRead(cap);
    await fc.assert(
      fc.asyncProperty(fc.nat(data.length + 10), fc.nat(3 * seg), async (offset, length) => {
        assert.deepEqual(await reader.read(offset, length), data.subarray(offset, offset + length));
      }),
      { numRuns: 150 },
    );
    // Many reads in flight at once, as SFTP clients pipeline them.
    const parts = await Promise.all(Array.from({ length: 64 }, (_, i) => reader.read(i * 4096, 4096)));
    assert.deepEqual(Buffer.concat(parts), data.subarray(0, 64 * 4096));
    await reader.close();
    const empty = await grid.createMutable({ immutableCap: literalCap(Buffer.alloc(0)) });
    const r0 = await grid.openRead(empty);
    assert.equal(r0.size, 0);
    assert.equal((await r0.read(0, 10)).length, 0);
    await r0.close();
  });

  it('link metadata follows Tahoe: replace rules, linkcrtime kept, user keys replaced or kept', async (grid) => {
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
    assert.equal(third.metadata.custom, undefined, 'metadata given: user keys replaced');
    assert.equal(third.metadata.other, 1);
    // only-files replaces files but not directories
    await grid.mkdir(root, 'd');
    await rejectsWith(grid.setChild(root, 'd', f1, { replace: 'only-files' }), 'EXISTS');
    await grid.setChild(root, 'f', f2, { replace: 'only-files' });
    await rejectsWith(grid.mkdir(root, 'd'), 'EXISTS');
    await rejectsWith(grid.mkdir(root, 'd', { replace: 'only-files', metadata: { x: 1 } }), 'EXISTS');
    // patchMetadata merges, and null removes a key
    const patched = await grid.patchMetadata(root, 'f', { 'no-write': true, other: null, mtime: 5 });
    assert.deepEqual({ nw: patched.metadata['no-write'], other: patched.metadata.other, mtime: patched.metadata.mtime }, { nw: true, other: undefined, mtime: 5 });
    await rejectsWith(grid.patchMetadata(root, 'missing', {}), 'NOT_FOUND');
    const sub = await grid.mkdir(root, 'withmeta', { metadata: { mtime: 12 } });
    const made = (await grid.getChild(root, 'withmeta'))!;
    assert.deepEqual([made.node.cap, made.metadata.mtime], [sub, 12]);
  });

  it('names are NFC-normalised on every add, lookup and delete; bad names are refused', async (grid) => {
    const root = await grid.createDirectory();
    const nfd = 'gro\u0073\u0073e\u0301'; // "grosse" with a combining acute
    await grid.setChild(root, nfd, literalCap(Buffer.from('x')), { replace: false });
    const [entry] = await grid.list(root);
    assert.equal(entry!.name, nfd.normalize('NFC'));
    assert.ok(await grid.getChild(root, nfd.normalize('NFC')));
    await grid.deleteChild(root, nfd.normalize('NFD'));
    assert.equal((await grid.list(root)).length, 0);
    for (const bad of ['', '.', '..', 'a/b', 'nul\0']) await rejectsWith(grid.setChild(root, bad, literalCap(Buffer.alloc(0)), { replace: true }), 'INVALID');
    // Characters that URL and form encodings would mangle if they were not escaped.
    for (const odd of ['a+b', 'a b', '50%', 'q?x=1&y', '#hash', 'ünï 😀', ' lead', 'trail ']) {
      await grid.setChild(root, odd, literalCap(Buffer.from(odd)), { replace: false });
      assert.equal((await grid.getChild(root, odd))!.node.cap, literalCap(Buffer.from(odd)), odd);
    }
  });

  it('read-only directory caps list read caps only and refuse every change', async (grid) => {
    const root = await grid.createDirectory();
    const sub = await grid.mkdir(root, 'sub');
    const mutable = await grid.createMutable({ immutableCap: literalCap(Buffer.from('m')) });
    await grid.setChild(root, 'm', mutable, { replace: false });
    await grid.setChild(root, 'future', FUTURE_CAP, { replace: false });
    const ro = readCapOf(root);
    const listing = new Map((await grid.list(ro)).map((e) => [e.name, e]));
    assert.equal(listing.get('sub')!.node.cap, readCapOf(sub));
    assert.equal(listing.get('sub')!.node.writeCap, undefined);
    assert.equal(listing.get('m')!.node.cap, readCapOf(mutable));
    assert.equal(listing.get('m')!.node.readOnly, true);
    assert.equal(listing.get('m')!.node.size, 1);
    assert.equal(listing.get('future')!.node.kind, 'unknown');
    assert.equal(listing.get('future')!.node.cap, FUTURE_CAP, 'unknown caps are kept verbatim');
    const rw = new Map((await grid.list(root)).map((e) => [e.name, e]));
    assert.equal(rw.get('m')!.node.writeCap, mutable);
    const f = literalCap(Buffer.from('f'));
    await rejectsWith(grid.setChild(ro, 'x', f, { replace: true }), 'NOT_WRITABLE');
    await rejectsWith(grid.deleteChild(ro, 'sub'), 'NOT_WRITABLE');
    await rejectsWith(grid.mkdir(ro, 'y'), 'NOT_WRITABLE');
    await rejectsWith(grid.moveChild(ro, 'sub', root, 'sub2', false), 'NOT_WRITABLE');
    await rejectsWith(grid.moveChild(root, 'sub', ro, 'sub2', false), 'NOT_WRITABLE');
    await rejectsWith(grid.patchMetadata(ro, 'sub', { mtime: 1 }), 'NOT_WRITABLE');
    await rejectsWith(grid.overwriteMutable(readCapOf(mutable), { immutableCap: f }), 'NOT_WRITABLE');
    assert.equal((await grid.list(root)).length, 3, 'nothing changed');
  });

  it('no-write on a writable mutable link keeps only its read cap, for good', async (grid) => {
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

  it('delete enforces the kind and emptiness it is asked for', async (grid) => {
    const root = await grid.createDirectory();
    const sub = await grid.mkdir(root, 'sub');
    await grid.setChild(sub, 'inner', literalCap(Buffer.from('i')), { replace: false });
    await grid.setChild(root, 'file', literalCap(Buffer.from('f')), { replace: false });
    await grid.setChild(root, 'unknown', 'ro.x-foo:bar', { replace: false });
    await rejectsWith(grid.deleteChild(root, 'sub', { mustBe: 'file' }), 'IS_A_DIRECTORY');
    await rejectsWith(grid.deleteChild(root, 'file', { mustBe: 'dir' }), 'NOT_A_DIRECTORY');
    await rejectsWith(grid.deleteChild(root, 'sub', { mustBe: 'dir', mustBeEmpty: true }), 'NOT_EMPTY');
    await rejectsWith(grid.deleteChild(root, 'nope'), 'NOT_FOUND');
    await grid.deleteChild(root, 'unknown', { mustBe: 'file' }); // unknown nodes pass both kinds
    await grid.deleteChild(sub, 'inner');
    const removed = await grid.deleteChild(root, 'sub', { mustBe: 'dir', mustBeEmpty: true });
    assert.equal(removed.node.cap, sub);
    assert.deepEqual((await grid.list(root)).map((e) => e.name), ['file']);
  });

  it('moves keep metadata and honour replace rules, within and across directories', async (grid) => {
    const root = await grid.createDirectory();
    const a = await grid.mkdir(root, 'a');
    const b = await grid.mkdir(root, 'b');
    const f = literalCap(Buffer.from('f'));
    await grid.setChild(a, 'f', f, { replace: false, metadata: { mtime: 42 } });
    await grid.setChild(b, 'taken', f, { replace: false });
    await rejectsWith(grid.moveChild(a, 'f', b, 'taken', false), 'EXISTS');
    await rejectsWith(grid.moveChild(a, 'missing', b, 'x', false), 'NOT_FOUND');
    await rejectsWith(grid.moveChild(a, 'missing', a, 'missing', false), 'NOT_FOUND');
    await grid.moveChild(a, 'f', a, 'f', false); // onto itself: a no-op
    await grid.moveChild(a, 'f', b, 'g', false);
    assert.equal((await grid.list(a)).length, 0);
    const moved = (await grid.getChild(b, 'g'))!;
    assert.equal(moved.node.cap, f);
    assert.equal(moved.metadata.mtime, 42);
    await grid.moveChild(b, 'g', b, 'taken', true);
    assert.deepEqual((await grid.list(b)).map((e) => e.name), ['taken']);
    await grid.mkdir(b, 'dir');
    await rejectsWith(grid.moveChild(b, 'taken', b, 'dir', 'only-files'), 'EXISTS');
    await grid.moveChild(b, 'taken', a, ' spaced ', false);
    assert.deepEqual((await grid.list(a)).map((e) => e.name), [' spaced ']);
    assert.equal((await grid.getChild(a, ' spaced '))!.metadata.mtime, 42);
    await grid.moveChild(a, ' spaced ', a, 'plain', false);
    assert.deepEqual((await grid.list(a)).map((e) => e.name), ['plain']);
  });

  it('mutable files publish new versions under one cap; old content stays readable', async (grid) => {
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

  it('immutable directories in Tahoe format are listed and refuse changes', async (grid) => {
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

  it('caps of objects the grid does not hold, and caps of the wrong kind, are refused', async (grid) => {
    const foreignDir = 'URI:DIR2:tmtxiysosbogziok2bzqtjqyly:odeejxkxue6ruqz4xaxzw6bhavb244akuqkdbg2d3svxdubq4b3q';
    await rejectsWith(grid.stat(foreignDir), o.missingDirectory);
    await rejectsWith(grid.list(foreignDir), o.missingDirectory);
    await rejectsWith(get(grid, 'URI:CHK:cijcjzcaplulf7swndt4pfiyhy:yzmwugnohxefq5j5htnfxgjqs23vnl7jgy7nsncquckawbpjlo2a:2:3:1968'), 'UNAVAILABLE');
    const root = await grid.createDirectory();
    await rejectsWith(grid.openRead(root), 'IS_A_DIRECTORY');
    await rejectsWith(grid.list(literalCap(Buffer.from('file'))), 'NOT_A_DIRECTORY');
    assert.equal((await grid.stat('x-unknown:thing')).kind, 'unknown');
  });

  it('concurrent updates of one directory never lose an update', async (grid) => {
    const root = await grid.createDirectory();
    await Promise.all(Array.from({ length: 300 }, (_, i) => grid.setChild(root, `n${i}`, literalCap(Buffer.from(String(i))), { replace: false })));
    assert.equal((await grid.list(root)).length, 300);
  });
}
