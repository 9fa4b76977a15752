// The protocol-neutral session on a real embedded store, with the fixture tree of Tahoe's
// test_sftp.py. Asserts the vfs error codes; each adapter maps them in its own table.
import { afterEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { readCapOf } from '../../src/caps/index.js';
import { GridError } from '../../src/grid/index.js';
import { OpenFiles, VfsSession, isVfsError, parsePath, type AuditEvent, type VfsErrorCode, type VfsFile, type VfsSessionOptions } from '../../src/vfs/index.js';
import { buildFixture, GROSS, LOOP_TIME, readAll, type Fixture } from '../helpers/fixture.js';
import { tempDir } from '../helpers/tmp.js';
import { pseudoRandom } from '../helpers/data.js';

/** Each test's fixtures and sessions, closed after it: a store left open kept its WAL file handle until V8 collected it (Node warns). */
const toClose: { f: Fixture; s: VfsSession }[] = [];

async function setup(rootOverride?: (f: Fixture) => string): Promise<{ f: Fixture; s: VfsSession; openFiles: OpenFiles }> {
  const f = await buildFixture();
  const openFiles = new OpenFiles();
  const s = session(f, openFiles, rootOverride ? { rootCap: rootOverride(f) } : {});
  return { f, s, openFiles };
}

/** alice's session on `f` sharing `openFiles` (another client of the same server), closed after the test. */
function session(f: Fixture, openFiles: OpenFiles, extra: Partial<VfsSessionOptions> = {}): VfsSession {
  const s = new VfsSession({ grid: f.grid, rootCap: f.root, username: 'alice', openFiles, spillDir: tempDir(), ...extra });
  toClose.push({ f, s });
  return s;
}

afterEach(async () => {
  for (const { f, s } of toClose.splice(0)) {
    await s.close();
    await f.grid.close();
  }
});

const P = (p: string) => parsePath(p);

async function fails(p: Promise<unknown>, code: VfsErrorCode, msg?: string): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(isVfsError(err), `not a VfsError: ${String(err)}`);
    assert.equal(err.code, code, `${msg ?? ''} ${err.message}`);
    return true;
  });
}

async function content(s: VfsSession, path: string): Promise<string> {
  const h = await s.open(P(path), { read: true });
  try {
    const size = (await h.stat()).size ?? 0;
    return (await h.read(0, size + 10)).toString('latin1');
  } finally {
    await s.closeFile(h);
  }
}

async function writeFile(s: VfsSession, path: string, flags: object, writes: [number, string][]): Promise<void> {
  const h = await s.open(P(path), { write: true, ...flags });
  for (const [off, data] of writes) await h.write(off, Buffer.from(data, 'latin1'));
  await s.closeFile(h);
}

test('paths: Tahoe normalisation, clamping and rejects', () => {
  const cases: [string, string[]][] = [
    ['', []], ['/', []], ['.', []], ['//', []], ['/.', []], ['/./', []],
    ['foo', ['foo']], ['/foo', ['foo']], ['foo/', ['foo']], ['/foo/', ['foo']],
    ['foo/bar', ['foo', 'bar']], ['/foo/bar//', ['foo', 'bar']], ['foo/./bar', ['foo', 'bar']], ['./foo/./bar', ['foo', 'bar']],
    ['foo/../bar', ['bar']], ['/foo/../bar', ['bar']], ['../bar', ['bar']], ['/../bar', ['bar']],
    ['../../x', ['x']], ['..\\..\\x', ['x']], ['a/../../b', ['b']], ['//x', ['x']], ['x/..', []],
  ];
  for (const [raw, parts] of cases) assert.deepEqual(parsePath(raw).parts, parts, raw);
  assert.throws(() => parsePath(Buffer.from([0xff])), (e: unknown) => isVfsError(e, 'INVALID_NAME'));
  assert.throws(() => parsePath('a\0b'), (e: unknown) => isVfsError(e, 'INVALID_NAME'));
  assert.throws(() => parsePath('x'.repeat(256)), (e: unknown) => isVfsError(e, 'INVALID_NAME'));
  assert.deepEqual(parsePath('e\u0301').parts, ['\u00e9']);
  const capPath = parsePath('/uri/URI:LIT:abc/x/../y');
  assert.deepEqual([capPath.cap, capPath.parts], ['URI:LIT:abc', ['y']]);
  assert.deepEqual(parsePath('/uri/notacap').parts, ['uri', 'notacap'], 'a real child named uri stays reachable');
  assert.deepEqual(parsePath('b', parsePath('/a')).parts, ['a', 'b']);
  // Fuzz: whatever the bytes, the result has no empty, `.` or `..` components and never a `/`.
  fc.assert(fc.property(fc.array(fc.constantFrom('..', '.', '', 'a', 'b\\..', '\\', 'é', '//'), { maxLength: 12 }), (pieces) => {
    try {
      const p = parsePath(pieces.join('/'));
      for (const c of p.parts) assert.ok(c !== '' && c !== '.' && c !== '..' && !c.includes('/') && !c.includes('\\'));
    } catch (err) {
      assert.ok(isVfsError(err, 'INVALID_NAME'));
    }
  }));
});

test('listing and attributes follow Tahoe', async () => {
  const { s } = await setup();
  const entries = new Map((await s.list(P('/'))).map((e) => [e.name, e.attrs]));
  const modes = Object.fromEntries([...entries].map(([n, a]) => [n, a.mode.toString(8)]));
  assert.deepEqual(modes, {
    empty_lit_dir: '40555', 'groß': '100666', loop: '40777', mutable: '100666', readonly: '100444',
    small: '100666', small2: '100666', tiny_lit_dir: '40555', unknown: '0',
  });
  assert.equal(entries.get('groß')!.size, 1010);
  assert.equal(entries.get('small')!.size, 10);
  assert.equal(entries.get('small2')!.size, 26);
  assert.equal(entries.get('mutable')!.size, 21);
  assert.equal(entries.get('loop')!.mtime, LOOP_TIME);
  assert.equal((await s.list(P('loop/loop'))).length, 9);
  assert.equal((await s.list(P('empty_lit_dir'))).length, 0);
  const [short] = await s.list(P('tiny_lit_dir'));
  assert.equal(short!.name, 'short');
  assert.equal(short!.attrs.mode.toString(8), '100444');
  assert.equal(short!.attrs.size, 8);
  await fails(s.list(P('small')), 'NOT_A_DIRECTORY');
  await fails(s.list(P('unknown')), 'UNKNOWN_NODE');
  await fails(s.list(P('nodir')), 'NO_SUCH_FILE');
  await fails(s.list(P('nodir/nodir')), 'NO_SUCH_FILE');
  assert.equal((await s.attrs(P('small'))).mode.toString(8), '100666');
  assert.equal((await s.attrs(P('/'))).mode.toString(8), '40777');
});

test('unique: one value per object under every name and cap strength, revealing no cap', async () => {
  const { f, s } = await setup();
  const u = async (p: string) => (await s.attrs(P(p))).unique;
  assert.equal(await u('loop'), await u('/'), 'the root linked as loop');
  assert.equal(await u('mutable'), await u('readonly'), 'a write cap and its read cap');
  // Pinned: clients may keep the fact between sessions, so its recipe never changes.
  assert.equal(await u('mutable'), createHash('sha256').update(f.caps.readonly).digest('hex').slice(0, 32));
  const all = (await s.list(P('/'))).map((e) => e.attrs.unique);
  assert.ok(all.every((x) => typeof x === 'string' && /^[0-9a-f]{32}$/.test(x)));
  assert.equal(new Set(all).size, all.length - 1, 'distinct objects differ (only readonly repeats mutable)');
  for (const cap of Object.values(f.caps)) for (const x of all) assert.ok(!cap.toLowerCase().includes(x!) && !x!.includes(cap.toLowerCase()));
});

test('/uri is a read-only directory that lists nothing (clients walk through it to /uri/CAP), unless the root has a child of that name', async () => {
  const { s, f } = await setup();
  const attrs = await s.attrs(P('/uri'));
  assert.deepEqual([attrs.kind, attrs.noWrite, (attrs.mode & 0o777).toString(8)], ['dir', true, '555']);
  assert.deepEqual(await s.list(P('/uri')), []);
  assert.equal((await s.attrs(P('uri/..'))).kind, 'dir');
  const cwd = P('/uri');
  assert.equal(await content(s, `/uri/${f.caps.small}`), '0123456789');
  assert.equal(parsePath(f.caps.small, cwd).cap, f.caps.small, 'a cap relative to /uri is a cap path');
  await fails(s.attrs(P('/uri/nothing')), 'NO_SUCH_FILE');
  await fails(s.open(P('/uri'), { read: true }), 'NO_SUCH_FILE');
  // A real child named uri is what /uri shows.
  await s.mkdir(P('/uri'));
  await writeFile(s, '/uri/inside', { create: true }, [[0, 'x']]);
  assert.deepEqual((await s.list(P('/uri'))).map((e) => e.name), ['inside']);
  assert.equal((await s.attrs(P('/uri'))).noWrite, false);
});

test('open for reading: errors and reads at every position', async () => {
  const { s, f } = await setup();
  await fails(s.open(P('small'), {}), 'INVALID_ARGUMENT');
  await fails(s.open(P('nofile'), { read: true }), 'NO_SUCH_FILE');
  await fails(s.open(P('nodir/file'), { read: true }), 'NO_SUCH_FILE');
  for (const p of ['unknown', 'unknown/file', 'tiny_lit_dir', `uri/${f.caps.tinyLitDir}`, 'uri/URI:noexist']) {
    await assert.rejects(s.open(P(p), { read: true }), (e: unknown) => isVfsError(e) && ['UNKNOWN_NODE', 'IS_A_DIRECTORY'].includes(e.code), p);
  }
  for (const [name, data] of [['small', Buffer.from('0123456789')], ['groß', GROSS]] as const) {
    const h = await s.open(P(name), { read: true });
    assert.equal((await h.read(0, 10)).toString(), '0123456789');
    assert.equal((await h.read(2, 6)).toString(), '234567');
    assert.equal((await h.read(1, 0)).length, 0);
    assert.equal((await h.read(data.length - 2, 4)).toString(), '89');
    assert.equal((await h.read(data.length, 1)).length, 0);
    assert.equal((await h.stat()).size, data.length);
    await fails(h.write(0, Buffer.from('x')), 'PERMISSION_DENIED');
    await fails(h.setAttrs({ size: 1 }), 'PERMISSION_DENIED');
    await s.closeFile(h);
    await fails(h.read(0, 1), 'CLOSED');
    await s.closeFile(h); // a second close is fine
  }
  assert.equal(await content(s, `/uri/${f.caps.mutable}`), 'mutable file contents');
  assert.equal(await content(s, `uri/${f.caps.tinyLitDir}/short`), 'The end.');
  assert.equal(await content(s, `uri/${f.caps.gross}`), GROSS.toString());
});

test('open for writing: the Tahoe error matrix', async () => {
  const { s, f } = await setup();
  await fails(s.open(P(''), { write: true, create: true, truncate: true }), 'NO_SUCH_FILE');
  await fails(s.open(P('newfile'), { write: true, truncate: true }), 'NO_SUCH_FILE');
  await fails(s.open(P('small'), { write: true, exclusive: true }), 'INVALID_ARGUMENT');
  for (const p of ['tiny_lit_dir', 'unknown', 'readonly', `uri/${f.caps.readonly}`, 'unknown/newfile', 'tiny_lit_dir/newfile', 'tiny_lit_dir/short']) {
    await assert.rejects(s.open(P(p), { write: true, create: true }), (e: unknown) => isVfsError(e) && ['PERMISSION_DENIED', 'UNKNOWN_NODE', 'IS_A_DIRECTORY'].includes(e.code), p);
  }
  for (const p of ['small', 'mutable', `uri/${f.caps.mutable}`]) await fails(s.open(P(p), { write: true, create: true, exclusive: true }), 'EXISTS', p);
  for (const flags of [{ write: true }, { write: true, create: true }, { write: true, create: true, truncate: true }]) {
    await fails(s.open(P(`uri/${f.caps.small}`), flags), 'PERMISSION_DENIED');
  }
});

test('writes compose like a POSIX file: gaps, truncate, extend, append', async () => {
  const { s } = await setup();
  const h = await s.open(P('newfile'), { write: true, create: true, truncate: true });
  await h.write(0, Buffer.from('0123456789'));
  await h.write(8, Buffer.from('0123'));
  await h.write(13, Buffer.from('abc'));
  assert.equal((await h.stat()).size, 16);
  assert.equal((await s.attrs(P('newfile'))).size, 16, 'a file being written is visible with its size');
  await h.setAttrs({});
  await fails(h.setAttrs({ size: -1 }), 'INVALID_ARGUMENT');
  await h.setAttrs({ size: 14 });
  await h.setAttrs({ size: 14 });
  await h.setAttrs({ size: 17 });
  assert.equal((await h.stat()).size, 17);
  await fails(h.read(0, 1), 'PERMISSION_DENIED');
  await s.closeFile(h);
  await fails(h.write(0, Buffer.from('x')), 'CLOSED');
  assert.equal(await content(s, 'newfile'), '012345670123\0a\0\0\0');
  await writeFile(s, 'newfile', { create: true, truncate: true, append: true }, [[0, '0123456789'], [8, '0123']]);
  assert.equal(await content(s, 'newfile'), '01234567890123');
  const a = await s.open(P('newfile'), { write: true, append: true });
  await a.setAttrs({ size: 17 });
  await a.write(0, Buffer.from('z'));
  await s.closeFile(a);
  assert.equal(await content(s, 'newfile'), '01234567890123\0\0\0z');
  await writeFile(s, 'newfile', { truncate: true }, [[0, '01234']]);
  assert.equal(await content(s, 'newfile'), '01234');
  await writeFile(s, 'newfile2', { create: true }, [[0, '0123456789']]);
  await writeFile(s, 'newfile2', { create: true }, [[0, 'abcde']]);
  assert.equal(await content(s, 'newfile2'), 'abcde56789');
  await writeFile(s, 'creatappend', { create: true, append: true }, [[10, '0123456789'], [5, '01234']]);
  assert.equal(await content(s, 'creatappend'), '012345678901234');
  await writeFile(s, 'creatappend', { create: true, append: true }, [[5, '01234']]);
  assert.equal(await content(s, 'creatappend'), '01234567890123401234');
});

test('exclusive create links the name at open; an unwritten file is committed once, empty', async () => {
  const { s } = await setup();
  const h = await s.open(P('excl'), { write: true, create: true, truncate: true, exclusive: true });
  assert.equal(await content(s, 'excl'), '', 'the link exists before close');
  await h.write(0, Buffer.from('0123456789'));
  await s.closeFile(h);
  assert.equal(await content(s, 'excl'), '0123456789');
  const z = await s.open(P('zerolength'), { write: true, create: true, exclusive: true });
  await s.closeFile(z);
  assert.equal(await content(s, 'zerolength'), '');
  await writeFile(s, 'exclappend', { create: true, exclusive: true, append: true }, [[10, '0123456789'], [5, '01234']]);
  assert.equal(await content(s, 'exclappend'), '012345678901234');
});

test('mutable files: a write publishes a new version under the same cap', async () => {
  const { s, f } = await setup();
  await writeFile(s, 'mutable', {}, [[8, 'new!']]);
  assert.equal(await content(s, 'mutable'), 'mutable new! contents');
  const entry = await f.grid.getChild(f.root, 'mutable');
  assert.equal(entry!.node.cap, f.caps.mutable);
  // chmod 444 by path while open: the link becomes read-only at once; the handle still commits.
  const h = await s.open(P('mutable'), { write: true });
  await s.setAttrs(P('mutable'), { permissions: 0o444 });
  assert.equal((await s.attrs(P('mutable'))).mode.toString(8), '100444');
  assert.equal((await h.stat()).mode.toString(8), '100666');
  await h.write(0, Buffer.from('MUTABLE'));
  await s.closeFile(h);
  assert.equal(await content(s, 'readonly'), 'MUTABLE new! contents');
  assert.equal((await f.grid.getChild(f.root, 'mutable'))!.node.cap, readCapOf(f.caps.mutable));
  // chmod 444 through the handle: applied at close.
  await f.grid.setChild(f.root, 'mutable2', f.caps.mutable, { replace: false });
  const h2 = await s.open(P('mutable2'), { write: true });
  await h2.write(7, Buffer.from('2'));
  await h2.setAttrs({ permissions: 0o444, size: 8 });
  assert.equal((await h2.stat()).mode.toString(8), '100444');
  assert.equal((await s.attrs(P('mutable2'))).mode.toString(8), '100666');
  await s.closeFile(h2);
  assert.equal((await s.attrs(P('mutable2'))).mode.toString(8), '100444');
  assert.equal(await content(s, 'mutable2'), 'MUTABLE2');
  // through /uri/WRITECAP, no parent
  const other = await f.grid.createMutable({ immutableCap: 'URI:LIT:' });
  await writeFile(s, `/uri/${other}`, {}, [[0, 'via cap']]);
  assert.equal(await content(s, `/uri/${readCapOf(other)}`), 'via cap');
});

test('read-write handles read their own writes, past the old end', async () => {
  const { s } = await setup();
  const h = await s.open(P('small'), { read: true, write: true });
  await h.write(8, Buffer.from('0123'));
  assert.equal((await h.read(11, 1)).toString(), '3');
  assert.equal((await h.read(0, 100)).toString(), '012345670123');
  await s.closeFile(h);
  assert.equal(await content(s, 'small'), '012345670123');
});

test('rename and remove apply to files open for writing', async () => {
  const { s, openFiles } = await setup();
  const h = await s.open(P('small'), { write: true });
  await h.write(0, Buffer.from('abcd'));
  await s.rename(P('small'), P('renamed'), 'no-replace');
  await h.write(4, Buffer.from('efgh'));
  await s.closeFile(h);
  assert.equal(await content(s, 'renamed'), 'abcdefgh89');
  await fails(s.attrs(P('small')), 'NO_SUCH_FILE');
  const n = await s.open(P('newexcl'), { write: true, create: true, exclusive: true });
  await n.write(0, Buffer.from('abcdefgh'));
  await s.rename(P('newexcl'), P('renamedexcl'), 'no-replace');
  await s.closeFile(n);
  assert.equal(await content(s, 'renamedexcl'), 'abcdefgh');
  await fails(s.attrs(P('newexcl')), 'NO_SUCH_FILE');
  // A file that exists only as an open writer can be renamed.
  const w = await s.open(P('new'), { write: true, create: true });
  await w.write(0, Buffer.from('abcd'));
  await s.rename(P('new'), P('new2'), 'no-replace');
  await s.closeFile(w);
  assert.equal(await content(s, 'new2'), 'abcd');
  // Remove: readers keep reading; writers are abandoned.
  const r = await s.open(P('groß'), { read: true });
  await s.remove(P('groß'));
  assert.equal((await r.read(0, 10)).toString(), '0123456789');
  await s.closeFile(r);
  const t = await s.open(P('tempfile'), { read: true, write: true, create: true });
  await t.write(0, Buffer.from('data'));
  await s.remove(P('tempfile'));
  assert.equal((await t.read(0, 4)).toString(), 'data');
  await s.closeFile(t);
  await fails(s.attrs(P('tempfile')), 'NO_SUCH_FILE');
  assert.equal(openFiles.size, 0);
});

test('remove, rmdir and mkdir follow POSIX where clients rely on it', async () => {
  const { s } = await setup();
  for (const p of ['nofile', 'nodir/file', '']) await fails(s.remove(P(p)), 'NO_SUCH_FILE', p);
  await fails(s.remove(P('tiny_lit_dir')), 'IS_A_DIRECTORY');
  await s.remove(P('unknown'));
  await fails(s.rmdir(P('small')), 'NOT_A_DIRECTORY');
  await fails(s.rmdir(P('nodir')), 'NO_SUCH_FILE');
  await fails(s.rmdir(P('loop')), 'NOT_EMPTY');
  await s.rmdir(P('empty_lit_dir'));
  await fails(s.rmdir(P('tiny_lit_dir')), 'NOT_EMPTY');
  await s.mkdir(P('newdir'));
  await fails(s.mkdir(P('newdir')), 'EXISTS');
  await fails(s.mkdir(P('small')), 'EXISTS');
  await fails(s.mkdir(P('newparent/newchild')), 'NO_SUCH_FILE');
  await fails(s.mkdir(P('newdir2'), 0o444), 'PERMISSION_DENIED');
  await s.mkdir(P('newdir/sub'));
  assert.deepEqual((await s.list(P('newdir'))).map((e) => e.name), ['sub']);
  await s.rmdir(P('newdir/sub'));
  await s.rmdir(P('newdir'));
});

test('rename: no-replace refuses existing names; posix replaces like rename(2)', async () => {
  const { s, f } = await setup();
  await fails(s.rename(P('nofile'), P('x'), 'no-replace'), 'NO_SUCH_FILE');
  await fails(s.rename(P('small'), P('nodir/small'), 'no-replace'), 'NO_SUCH_FILE');
  await fails(s.rename(P(`uri/${f.caps.small}`), P('new'), 'no-replace'), 'NO_SUCH_FILE');
  for (const to of ['small2', 'tiny_lit_dir', 'unknown', 'small']) await fails(s.rename(P('small'), P(to), 'no-replace'), 'TARGET_EXISTS', to);
  await s.rename(P('small'), P('new_small'), 'no-replace');
  assert.equal((await f.grid.getChild(f.root, 'new_small'))!.node.cap, f.caps.small);
  await s.rename(P('groß'), P('loop/neue_groß'), 'no-replace');
  assert.equal(await content(s, 'neue_groß'), GROSS.toString());
  await s.rename(P('new_small'), P('small2'), 'posix');
  assert.equal((await f.grid.getChild(f.root, 'small2'))!.node.cap, f.caps.small);
  await fails(s.rename(P('small2'), P('tiny_lit_dir'), 'posix'), 'IS_A_DIRECTORY');
  await fails(s.rename(P('tiny_lit_dir'), P('small2'), 'posix'), 'NOT_A_DIRECTORY');
  await fails(s.rename(P('tiny_lit_dir'), P('loop'), 'posix'), 'NOT_EMPTY');
  await s.mkdir(P('empty'));
  await s.rename(P('tiny_lit_dir'), P('empty'), 'posix');
  await s.rename(P('small2'), P('small2'), 'posix'); // onto itself: nothing happens
  await s.mkdir(P('a'));
  await s.mkdir(P('a/b'));
  await fails(s.rename(P('a'), P('a/b/a'), 'no-replace'), 'INVALID_ARGUMENT');
  await fails(s.rename(P('loop'), P('a/loop'), 'no-replace'), 'INVALID_ARGUMENT');
  await s.rename(P('unknown'), P('new_unknown'), 'no-replace');
});

test('chmod sets and clears no-write; touch stores mtime without wiping other metadata', async () => {
  const { s, f } = await setup();
  const before = await s.attrs(P('small'));
  await s.setAttrs(P('small'), { permissions: 0o444 });
  const ro = await s.attrs(P('small'));
  assert.equal(ro.mode.toString(8), '100444');
  assert.equal(ro.mtime, before.mtime, 'chmod does not change the shown time');
  await fails(s.open(P('small'), { write: true }), 'PERMISSION_DENIED');
  await s.remove(P('small2')); // no-write does not prevent unlink or replace
  await s.setAttrs(P('small'), { permissions: 0o644 });
  assert.equal((await s.attrs(P('small'))).mode.toString(8), '100666');
  await s.setAttrs(P('small'), { mtime: 1234567890, atime: 1234567890 });
  assert.equal((await s.attrs(P('small'))).mtime, 1234567890);
  await s.setAttrs(P('small'), { permissions: 0o444 });
  const e = await f.grid.getChild(f.root, 'small');
  assert.equal(e!.metadata.mtime, 1234567890);
  assert.equal(e!.metadata['no-write'], true);
  // New content: the shown time becomes the write time again.
  await s.setAttrs(P('small'), { permissions: 0o644 });
  await writeFile(s, 'small', { truncate: true }, [[0, 'x']]);
  assert.ok(Math.abs((await s.attrs(P('small'))).mtime! - Date.now() / 1000) < 5);
  // truncate by path
  await s.setAttrs(P('groß'), { size: 3 });
  assert.equal(await content(s, 'groß'), '012');
});

test('a read-only root refuses every change and changes nothing', async () => {
  const { s, f } = await setup((fx) => readCapOf(fx.root));
  const before = (await f.grid.list(f.root)).map((e) => [e.name, e.node.cap]).sort();
  const attempts: [string, () => Promise<unknown>][] = [
    ['open w', () => s.open(P('small'), { write: true })],
    ['open wc new', () => s.open(P('new'), { write: true, create: true })],
    ['open excl', () => s.open(P('new'), { write: true, create: true, exclusive: true })],
    ['open trunc', () => s.open(P('small'), { write: true, truncate: true })],
    ['open append', () => s.open(P('small'), { write: true, append: true })],
    ['open mutable', () => s.open(P('mutable'), { write: true })],
    ['remove', () => s.remove(P('small'))],
    ['rmdir', () => s.rmdir(P('empty_lit_dir'))],
    ['mkdir', () => s.mkdir(P('d'))],
    ['rename src', () => s.rename(P('small'), P('x'), 'no-replace')],
    ['posix rename', () => s.rename(P('small'), P('small2'), 'posix')],
    ['setattrs', () => s.setAttrs(P('small'), { permissions: 0o444 })],
    ['touch', () => s.setAttrs(P('small'), { mtime: 1 })],
    ['truncate', () => s.setAttrs(P('small'), { size: 0 })],
    ['hardlink', () => s.hardlink(P('small'), P('link'))],
  ];
  for (const [name, attempt] of attempts) await fails(attempt(), 'PERMISSION_DENIED', name);
  const after = (await f.grid.list(f.root)).map((e) => [e.name, e.node.cap]).sort();
  assert.deepEqual(after, before);
  assert.equal(await content(s, 'mutable'), 'mutable file contents');
  assert.equal((await s.attrs(P('small'))).mode.toString(8), '100444');
});

test('hardlink links the same cap; copy-data of a whole file is a relink', async () => {
  const { s, f } = await setup();
  await s.hardlink(P('groß'), P('link'));
  assert.equal((await f.grid.getChild(f.root, 'link'))!.node.cap, f.caps.gross);
  await fails(s.hardlink(P('groß'), P('small')), 'EXISTS');
  await fails(s.hardlink(P('loop'), P('dirlink')), 'PERMISSION_DENIED');
  const src = await s.open(P('groß'), { read: true });
  const dst = await s.open(P('copy'), { write: true, create: true, truncate: true });
  await s.copyData(src, 0, 0, dst, 0);
  await s.closeFile(dst);
  assert.equal((await f.grid.getChild(f.root, 'copy'))!.node.cap, f.caps.gross, 'no bytes copied: same cap');
  const part = await s.open(P('part'), { write: true, create: true });
  await s.copyData(src, 10, 20, part, 5);
  await s.closeFile(part);
  await s.closeFile(src);
  assert.equal(await content(s, 'part'), '\0\0\0\0\0' + GROSS.subarray(10, 30).toString());
  // Within one file: a copy onto a later, overlapping range is refused; elsewhere it works.
  const same = await s.open(P('part'), { read: true, write: true });
  await fails(s.copyData(same, 0, 10, same, 5), 'FAILURE');
  await fails(s.copyData(same, 0, 0, same, 24), 'FAILURE');
  await s.copyData(same, 5, 5, same, 0);
  await s.closeFile(same);
  assert.equal(await content(s, 'part'), GROSS.subarray(10, 15).toString() + GROSS.subarray(10, 30).toString());
});

test('sequential writes stream into the store before close; out-of-order writes are byte-exact', async () => {
  const { s, f } = await setup();
  const data = pseudoRandom('seq', 3 * 1024 * 1024 + 17);
  const h = await s.open(P('big'), { write: true, create: true, truncate: true });
  for (let off = 0; off < data.length; off += 32768) await h.write(off, data.subarray(off, off + 32768));
  // Before close, the upload is already in the store's temporary folder (close does not re-read).
  const tmpRoot = join(f.storeDir, 'tmp');
  const uploads = readdirSync(tmpRoot).flatMap((d) => readdirSync(join(tmpRoot, d)).filter((n) => n.startsWith('upload-')));
  assert.equal(uploads.length, 1);
  await s.closeFile(h);
  assert.deepEqual(await readAll(f.grid, (await f.grid.getChild(f.root, 'big'))!.node.cap), data);
  // 64 writes in flight, issued in a shuffled order.
  const chunks = Array.from({ length: 64 }, (_, i) => i).sort(() => Math.random() - 0.5);
  const o = await s.open(P('ooo'), { write: true, create: true, truncate: true });
  await Promise.all(chunks.map((i) => o.write(i * 32768, data.subarray(i * 32768, (i + 1) * 32768))));
  await s.closeFile(o);
  assert.deepEqual(await readAll(f.grid, (await f.grid.getChild(f.root, 'ooo'))!.node.cap), data.subarray(0, 64 * 32768));
});

test('fuzz: random writes, truncates and reads match a model file', async () => {
  const { s, f } = await setup();
  let run = 0;
  await fc.assert(
    fc.asyncProperty(
      fc.array(
        fc.oneof(
          fc.record({ op: fc.constant('write' as const), off: fc.nat(300_000), len: fc.integer({ min: 1, max: 70_000 }) }),
          fc.record({ op: fc.constant('truncate' as const), size: fc.nat(400_000) }),
          fc.record({ op: fc.constant('read' as const), off: fc.nat(400_000), len: fc.nat(100_000) }),
          fc.record({ op: fc.constant('sync' as const) }),
        ),
        { maxLength: 25 },
      ),
      async (ops) => {
        const name = `fuzz${run++}`;
        let model = Buffer.alloc(0);
        const h: VfsFile = await s.open(P(name), { read: true, write: true, create: true, truncate: true });
        for (const [i, op] of ops.entries()) {
          if (op.op === 'write') {
            const data = pseudoRandom(`${name}-${i}`, op.len);
            await h.write(op.off, data);
            if (model.length < op.off + op.len) model = Buffer.concat([model, Buffer.alloc(op.off + op.len - model.length)]);
            data.copy(model, op.off);
          } else if (op.op === 'truncate') {
            await h.setAttrs({ size: op.size });
            model = op.size <= model.length ? model.subarray(0, op.size) : Buffer.concat([model, Buffer.alloc(op.size - model.length)]);
          } else if (op.op === 'read') {
            assert.deepEqual(await h.read(op.off, op.len), model.subarray(op.off, op.off + op.len));
          } else {
            await h.sync();
          }
          assert.equal((await h.stat()).size, model.length);
        }
        await s.closeFile(h);
        assert.deepEqual(await readAll(f.grid, (await f.grid.getChild(f.root, name))!.node.cap), model);
      },
    ),
    { numRuns: 40 },
  );
});

test('a session that ends without closing links nothing', async () => {
  const { s, f, openFiles } = await setup();
  const h = await s.open(P('dropped'), { write: true, create: true });
  await h.write(0, Buffer.from('lost'));
  await s.close();
  assert.equal(await f.grid.getChild(f.root, 'dropped'), undefined);
  assert.equal(openFiles.size, 0);
});

test('a second open of a file waits for the commit of the first', async () => {
  const { s } = await setup();
  const h = await s.open(P('race'), { write: true, create: true });
  await h.write(0, pseudoRandom('race', 500_000));
  const closing = s.closeFile(h);
  const r = await s.open(P('race'), { read: true });
  assert.equal((await r.stat()).size, 500_000);
  await s.closeFile(r);
  await closing;
});

test('every commit is audited with its result, failed ones too (a full disk is NO_SPACE)', async () => {
  const f = await buildFixture();
  const events: AuditEvent[] = [];
  let failLink = false;
  const grid = new Proxy(f.grid, {
    get(target, key) {
      const v = Reflect.get(target, key, target) as unknown;
      if (key === 'setChild') {
        return async (...a: Parameters<typeof target.setChild>) => {
          if (failLink) throw new GridError('NO_SPACE', 'no space left on the store');
          return target.setChild(...a);
        };
      }
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
  const s = new VfsSession({ grid, rootCap: f.root, username: 'alice', openFiles: new OpenFiles(), spillDir: tempDir(), audit: (e) => events.push(e) });
  const ok = await s.open(P('kept'), { write: true, create: true });
  await ok.write(0, Buffer.from('a'.repeat(100)));
  await s.closeFile(ok);
  failLink = true;
  const bad = await s.open(P('lost'), { write: true, create: true });
  await bad.write(0, Buffer.from('b'.repeat(100)));
  await fails(s.closeFile(bad), 'NO_SPACE');
  const commits = events.filter((e) => e.op === 'commit').map((e) => [e.path, e.bytes, e.result]);
  assert.deepEqual(commits, [['kept', 100, 'ok'], ['lost', 100, 'NO_SPACE']]);
  await s.close();
});

test('transfers are audited: bytes received per commit, bytes read per closed read handle', async () => {
  const f = await buildFixture();
  const events: AuditEvent[] = [];
  const s = new VfsSession({ grid: f.grid, rootCap: f.root, username: 'alice', openFiles: new OpenFiles(), spillDir: tempDir(), audit: (e) => events.push(e) });
  const w = await s.open(P('t'), { write: true, create: true });
  await w.write(0, Buffer.alloc(1000, 1));
  await w.write(500, Buffer.alloc(1000, 2)); // overlapping: 2000 bytes received, 1500 stored
  await w.sync();
  await w.write(1500, Buffer.alloc(10, 3));
  await s.closeFile(w);
  const r = await s.open(P('t'), { read: true });
  await r.read(0, 700);
  await r.read(700, 5000); // up to EOF: 810 more
  await s.closeFile(r);
  await s.closeFile(await s.open(P('t'), { read: true })); // opened, nothing read
  const seen = events.filter((e) => e.op === 'commit' || e.op === 'read').map((e) => [e.op, e.path, e.bytes, e.received, e.result]);
  assert.deepEqual(seen, [
    ['commit', 't', 1500, 2000, 'ok'],
    ['commit', 't', 1510, 10, 'ok'],
    ['read', 't', 1510, undefined, 'ok'],
    ['read', 't', 0, undefined, 'ok'],
  ]);
  await s.close();
});

/** Whether `p` settles within `ms` (it keeps running either way). */
async function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  let done = false;
  void p.then(() => (done = true), () => (done = true));
  await new Promise((resolve) => setTimeout(resolve, ms));
  return done;
}

test("a read-only open of a name another session is still writing reads what that writer links once it closes", async () => {
  const { f, s, openFiles } = await setup();
  const other = session(f, openFiles);
  const w = await other.open(P('late'), { write: true, create: true, truncate: true });
  await w.write(0, Buffer.from('written before close'));
  const r = await s.open(P('late'), { read: true }); // before the writer's close: no link yet
  const read = r.read(0, 100);
  assert.equal(await settlesWithin(read, 50), false, 'the read waits for the writer');
  await other.closeFile(w);
  assert.equal((await read).toString(), 'written before close');
  assert.equal((await r.stat()).size, 20);
  await s.closeFile(r);
  // A name with a linked version: another session's reader reads that version, not the writer's bytes.
  const w2 = await other.open(P('late'), { write: true, append: true });
  await w2.write(0, Buffer.from(' and more'));
  assert.equal(await content(s, 'late'), 'written before close');
  await other.closeFile(w2);
  assert.equal(await content(s, 'late'), 'written before close and more');
  // Abandoned (the path was removed): nothing was linked, so there is nothing to read.
  const w3 = await other.open(P('removed'), { write: true, create: true });
  await w3.write(0, Buffer.from('x'));
  const r3 = await s.open(P('removed'), { read: true });
  await other.remove(P('removed'));
  await fails(r3.read(0, 10), 'NO_SUCH_FILE');
  await s.closeFile(r3);
  await other.closeFile(w3);
  // A name nobody writes is still "no such file" at open.
  await fails(s.open(P('nobody'), { read: true }), 'NO_SUCH_FILE');
});

test('a read of a name another session is still writing fails, never hangs, when that writer stays open', async () => {
  const f = await buildFixture();
  const openFiles = new OpenFiles();
  const s = session(f, openFiles, { pendingWriterWaitMs: 100 });
  const other = session(f, openFiles);
  const w = await other.open(P('kept-open'), { write: true, create: true });
  await w.write(0, Buffer.from('abc'));
  const r = await s.open(P('kept-open'), { read: true });
  const started = Date.now();
  await fails(r.read(0, 10), 'FAILURE');
  assert.ok(Date.now() - started < 2000);
  await s.closeFile(r);
  await other.closeFile(w);
  assert.equal(await content(s, 'kept-open'), 'abc', 'the writer still commits');
});

// sshfs closes files asynchronously: the OPEN after `echo a > f` or `echo b >> f` reaches the
// server before that writer's CLOSE. A real sshfs mount lost 5% of appends that way.
test('the same session reads its own open writer: its bytes as they are, then what it links', async () => {
  const { f, s, openFiles } = await setup();
  for (const name of ['new-file', 'small']) { // a new name, and one with a linked version
    const w = await s.open(P(name), { write: true, create: true, truncate: true });
    await w.write(0, Buffer.from('hello\n'));
    const r = await s.open(P(name), { read: true }); // before the writer's CLOSE
    assert.equal((await r.read(0, 100)).toString(), 'hello\n', name);
    assert.equal((await r.stat()).size, 6);
    await w.write(6, Buffer.from('more\n')); // a second descriptor of a local file sees later writes
    assert.equal((await r.read(6, 100)).toString(), 'more\n', name);
    await s.closeFile(w);
    assert.equal((await r.read(0, 100)).toString(), 'hello\nmore\n', `${name}: after the close, what it linked`);
    assert.equal((await r.stat()).size, 11);
    await s.closeFile(r);
  }
  // The writer is renamed and another file takes the old name: the reader goes on with what the
  // writer linked, at its new name.
  const wr = await s.open(P('ren-a'), { write: true, create: true });
  await wr.write(0, Buffer.from('the writer'));
  const rr = await s.open(P('ren-a'), { read: true });
  assert.equal((await rr.read(0, 3)).toString(), 'the');
  await s.rename(P('ren-a'), P('ren-b'), 'no-replace');
  await writeFile(s, 'ren-a', { create: true, truncate: true }, [[0, 'an impostor']]);
  await s.closeFile(wr);
  assert.equal((await rr.read(0, 100)).toString(), 'the writer');
  await s.closeFile(rr);
  // One audit line for the reader, with every byte it read from the writer and after it.
  const events: AuditEvent[] = [];
  const audited = session(f, openFiles, { audit: (e) => events.push(e) });
  const aw = await audited.open(P('audited'), { write: true, create: true });
  await aw.write(0, Buffer.from('12345'));
  const ar = await audited.open(P('audited'), { read: true });
  await ar.read(0, 3);
  await audited.closeFile(aw);
  await ar.read(3, 10);
  await audited.closeFile(ar);
  assert.deepEqual(events.filter((e) => e.op === 'read').map((e) => [e.path, e.bytes, e.result]), [['audited', 5, 'ok']]);
  // A writer that stays open does not hold the reader up.
  const w = await s.open(P('kept-open'), { write: true, create: true });
  await w.write(0, Buffer.from('abc'));
  const r = await s.open(P('kept-open'), { read: true });
  assert.equal((await r.read(0, 10)).toString(), 'abc');
  await s.closeFile(r);
  await s.closeFile(w);
});

test("an open that keeps the content (append) waits, at its first request, for the same session's earlier writer to close", async () => {
  const { s, openFiles } = await setup();
  for (const flags of [{ append: true }, { append: true, create: true }, {}] as const) {
    const name = `append-${Object.keys(flags).join('-') || 'plain'}`;
    const w = await s.open(P(name), { write: true, create: true, truncate: true });
    await w.write(0, Buffer.from('hello\n'));
    const a = await s.open(P(name), { write: true, ...flags }); // answered before w's close (no link yet)
    const appended = a.write(6, Buffer.from('more\n'));
    assert.equal(await settlesWithin(appended, 50), false, `${name}: the write waits for the earlier writer`);
    await s.closeFile(w);
    await appended;
    const r = await s.open(P(name), { read: true }); // the append is still open: read it live
    assert.equal((await r.read(0, 100)).toString(), 'hello\nmore\n', name);
    await s.closeFile(a);
    await s.closeFile(r);
    assert.equal(await content(s, name), 'hello\nmore\n', name);
  }
  // Three in a row: each waits for the one before.
  const w = await s.open(P('chain'), { write: true, create: true, truncate: true });
  await w.write(0, Buffer.from('a'));
  const b = await s.open(P('chain'), { write: true, append: true });
  const c = await s.open(P('chain'), { write: true, append: true });
  const writes = [b.write(0, Buffer.from('b')), c.write(0, Buffer.from('c'))];
  const closes = [s.closeFile(b), s.closeFile(c)];
  await s.closeFile(w);
  await Promise.all([...writes, ...closes]);
  assert.equal(await content(s, 'chain'), 'abc');
  // A truncating open needs nothing from the earlier writer: it opens at once, and the later close wins.
  const w1 = await s.open(P('trunc'), { write: true, create: true, truncate: true });
  await w1.write(0, Buffer.from('first'));
  const w2 = await s.open(P('trunc'), { write: true, create: true, truncate: true });
  await w2.write(0, Buffer.from('second'));
  await s.closeFile(w1);
  await s.closeFile(w2);
  assert.equal(await content(s, 'trunc'), 'second');
  assert.equal(openFiles.size, 0);
});

test('deferred opens: a close without a request never waits for the earlier writer; remove, rename and a vanished client apply to them', async () => {
  const { f, s, openFiles } = await setup();
  const w = await s.open(P('touched'), { write: true, create: true, truncate: true });
  await w.write(0, Buffer.from('x'));
  // `: >> f` (OPEN, CLOSE) whose CLOSE comes before the earlier writer's: the earlier writer
  // links what this one would, and waiting here would hold up that CLOSE (a writer's CLOSE is
  // ordered with the path's requests in the SFTP adapter).
  const t = await s.open(P('touched'), { write: true, create: true });
  assert.equal(await settlesWithin(s.closeFile(t), 50), true, 'the close does not wait');
  // The same after the earlier writer has closed: it opens and commits as any open would.
  const t1 = await s.open(P('touched'), { write: true, create: true });
  await s.closeFile(w);
  await s.closeFile(t1);
  assert.equal(await content(s, 'touched'), 'x');
  // Removing the name abandons the deferred open with the writer before it, as rm(1) on a
  // local file both descriptors write: nothing comes back at their closes.
  const w2 = await s.open(P('gone'), { write: true, create: true });
  await w2.write(0, Buffer.from('y'));
  const t2 = await s.open(P('gone'), { write: true, create: true });
  await s.remove(P('gone'));
  await s.closeFile(t2);
  await s.closeFile(w2);
  await fails(s.attrs(P('gone')), 'NO_SUCH_FILE');
  // Renaming the name moves the deferred append with the writer before it.
  const w4 = await s.open(P('moved'), { write: true, create: true });
  await w4.write(0, Buffer.from('1'));
  const a4 = await s.open(P('moved'), { write: true, append: true });
  await s.rename(P('moved'), P('moved-to'), 'no-replace');
  const appended = a4.write(0, Buffer.from('2'));
  await s.closeFile(w4);
  await appended;
  await s.closeFile(a4);
  assert.equal(await content(s, 'moved-to'), '12');
  await fails(s.attrs(P('moved')), 'NO_SUCH_FILE');
  // The session ends with a deferred append still waiting: nothing of it is linked.
  const w3 = await s.open(P('vanished'), { write: true, create: true });
  await w3.write(0, Buffer.from('z'));
  const a3 = await s.open(P('vanished'), { write: true, append: true });
  void a3.write(0, Buffer.from('never')).catch(() => {});
  await s.close();
  assert.equal(await f.grid.getChild(f.root, 'vanished'), undefined);
  assert.equal(openFiles.size, 0);
});

test("a deferred open whose earlier writer stays open goes ahead after the wait: an append lands on the linked version, a missing name is not found", async () => {
  const f = await buildFixture();
  const openFiles = new OpenFiles();
  const s = session(f, openFiles, { pendingWriterWaitMs: 100 });
  const other = session(f, openFiles);
  const w = await s.open(P('small'), { write: true, create: true, truncate: true });
  await w.write(0, Buffer.from('never closed'));
  const a = await s.open(P('small'), { write: true, append: true });
  const started = Date.now();
  await a.write(0, Buffer.from('!'));
  assert.ok(Date.now() - started < 2000);
  await s.closeFile(a);
  assert.equal(await content(other, 'small'), '0123456789!', 'the linked version, appended');
  const n = await s.open(P('new-one'), { write: true, create: true });
  await n.write(0, Buffer.from('pending'));
  const m = await s.open(P('new-one'), { write: true });
  await fails(m.write(0, Buffer.from('x')), 'NO_SUCH_FILE');
  await s.closeFile(m).catch(() => {});
  await s.closeFile(n);
  await s.closeFile(w);
});
