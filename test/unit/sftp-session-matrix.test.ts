// The two hardening matrices (hardening.md §3d items 1 and 2) on the wire:
// - traversal: `../`, `..\`, `//`, NUL and invalid UTF-8 on every path-taking request, from a
//   session whose root is a subdirectory: nothing outside it is ever reached or changed;
// - read-only root: every mutating request is refused with PERMISSION_DENIED and nothing changes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readCapOf } from '../../src/caps/index.js';
import type { Grid } from '../../src/grid/index.js';
import { OpenFlags, StatusCode } from '../../src/sftp/index.js';
import { runSftpSession } from '../../src/sftp/session.js';
import { OpenFiles, VfsSession } from '../../src/vfs/index.js';
import { buildFixture, putBytes, readAll, type Fixture } from '../helpers/fixture.js';
import { duplexPair, SftpTestClient, type RequestWithoutId } from '../helpers/sftp-client.js';
import { tempDir } from '../helpers/tmp.js';

const { READ, WRITE, APPEND, CREAT, TRUNC, EXCL } = OpenFlags;
const S = StatusCode;
const b = (s: string) => Buffer.from(s, 'utf8');

async function connect(f: Fixture, rootCap: string) {
  const openFiles = new OpenFiles();
  const vfs = new VfsSession({ grid: f.grid, rootCap, username: 'alice', openFiles, spillDir: tempDir() });
  const [serverEnd, clientEnd] = duplexPair();
  const session = runSftpSession(serverEnd, vfs);
  const c = new SftpTestClient(clientEnd);
  await c.init();
  return {
    c,
    async end() {
      await c.end();
      await session.done;
      assert.equal(openFiles.size, 0);
      assert.equal(vfs.openFileCount, 0);
      for (const [id, n] of c.answered) assert.equal(n, 1, `id ${id} answered ${n} times`);
    },
  };
}

/** Every link under `dir`, recursively (directories once: `loop` points back at the root). */
async function snapshot(grid: Grid, dir: string, prefix = '', seen = new Set<string>()): Promise<string[]> {
  if (seen.has(dir)) return [];
  seen.add(dir);
  const out: string[] = [];
  for (const e of await grid.list(dir)) {
    out.push(`${prefix}${e.name} ${e.node.cap} ${JSON.stringify(e.metadata)}`);
    if (e.node.kind === 'dir') out.push(...(await snapshot(grid, e.node.cap, `${prefix}${e.name}/`, seen)));
  }
  return out.sort();
}

/** The ways a client may try to climb out of its root to reach `name` beside it. */
function escapes(name: string): string[] {
  return [
    `../${name}`, `../../${name}`, `/../${name}`, `/../../../${name}`, `..\\${name}`, `..\\..\\${name}`, `\\..\\${name}`,
    `sub/../../${name}`, `sub/..\\..\\${name}`, `//../${name}`, `./../${name}`, `sub/./../../${name}`, `..//..//${name}`,
    `sub/../../sub/../../${name}`,
  ];
}

/** Paths no request may accept: NUL, invalid UTF-8, overlong names. */
const BAD_PATHS: Buffer[] = [
  b('in\0side'), b('../\0'), b('inside\0/../secret'), Buffer.from([0x69, 0xff]), Buffer.from([0x2e, 0x2e, 0x2f, 0xc0, 0xaf]),
  Buffer.from([0xed, 0xa0, 0x80]), b('x'.repeat(256)),
];

test('traversal matrix: every path-taking request stays inside the root', async () => {
  const f = await buildFixture();
  // The fixture root holds `secret`; the session's root is `jail` (holding `inside` and `sub`).
  const jail = await f.grid.createDirectory();
  await f.grid.setChild(f.root, 'jail', jail, { replace: false });
  await f.grid.setChild(f.root, 'secret', await putBytes(f.grid, b('do not touch')), { replace: false });
  await f.grid.setChild(jail, 'inside', await putBytes(f.grid, b('inside')), { replace: false });
  await f.grid.setChild(jail, 'sub', await f.grid.createDirectory(), { replace: false });
  const outside = async () => (await snapshot(f.grid, f.root)).filter((l) => !l.startsWith('jail'));
  const before = await outside();
  const { c, end } = await connect(f, jail);
  const inJail = async (name: string) => (await f.grid.getChild(jail, name)) !== undefined;
  const code = (req: RequestWithoutId) => c.status(req);
  const statCode = async (p: Buffer) => {
    const r = await c.call({ type: 'stat', path: p });
    return r.type === 'status' ? r.code : S.OK;
  };

  for (const p of escapes('secret').map(b)) {
    const what = p.toString();
    // Lookups and changes of an existing name: `secret` is not in the jail.
    assert.equal(await c.realpath(p), '/secret', `realpath ${what}`);
    for (const type of ['stat', 'lstat'] as const) assert.equal(await code({ type, path: p }), S.NO_SUCH_FILE, `${type} ${what}`);
    assert.equal(await code({ type: 'open', path: p, pflags: READ, attrs: {} }), S.NO_SUCH_FILE, `open ${what}`);
    assert.equal(await code({ type: 'open', path: p, pflags: WRITE, attrs: {} }), S.NO_SUCH_FILE, `open w ${what}`);
    assert.equal(await code({ type: 'setstat', path: p, attrs: { permissions: 0o444 } }), S.NO_SUCH_FILE, `setstat ${what}`);
    assert.equal(await code({ type: 'opendir', path: p, }), S.NO_SUCH_FILE, `opendir ${what}`);
    assert.equal(await code({ type: 'remove', path: p }), S.NO_SUCH_FILE, `remove ${what}`);
    assert.equal(await code({ type: 'rmdir', path: p }), S.NO_SUCH_FILE, `rmdir ${what}`);
    assert.equal(await code({ type: 'rename', oldPath: p, newPath: b('got') }), S.NO_SUCH_FILE, `rename from ${what}`);
    assert.equal(await code({ type: 'posix-rename', oldPath: p, newPath: b('got') }), S.NO_SUCH_FILE, `posix-rename from ${what}`);
    assert.equal(await code({ type: 'hardlink', oldPath: p, newPath: b('got') }), S.NO_SUCH_FILE, `hardlink from ${what}`);
    assert.equal(await code({ type: 'statvfs', path: p }), S.NO_SUCH_FILE, `statvfs ${what}`);
    const ex = await c.call({ type: 'expand-path', path: Buffer.concat([b('~/'), p]) });
    assert.equal(ex.type === 'name' && ex.entries[0]!.filename.toString(), '/secret', `expand-path ${what}`);
  }

  // Changes that create a name: they land in the jail, under the clamped name.
  for (const p of escapes('made').map(b)) {
    const what = p.toString();
    await c.close(await c.open(p, WRITE | CREAT | TRUNC));
    assert.ok(await inJail('made'), `open creat ${what}`);
    await c.ok({ type: 'remove', path: p });
    await c.ok({ type: 'mkdir', path: p, attrs: {} });
    assert.ok(await inJail('made'), `mkdir ${what}`);
    await c.ok({ type: 'rmdir', path: p });
    await c.ok({ type: 'rename', oldPath: b('inside'), newPath: p });
    assert.ok((await inJail('made')) && !(await inJail('inside')), `rename to ${what}`);
    await c.ok({ type: 'posix-rename', oldPath: p, newPath: b('inside') });
    await c.ok({ type: 'hardlink', oldPath: Buffer.concat([b('../'), b('inside')]), newPath: p });
    assert.ok(await inJail('made'), `hardlink to ${what}`);
    await c.ok({ type: 'remove', path: p });
    const list = await c.list(Buffer.concat([p, b('/..')]));
    assert.deepEqual(list.map((e) => e.name).sort(), ['inside', 'sub'], `opendir ${what}/..`);
    assert.equal((await c.readFile(Buffer.concat([p, b('/../inside')]))).toString(), 'inside');
    assert.equal(await statCode(Buffer.concat([p, b('/../inside')])), S.OK);
  }
  // `//` is one separator.
  assert.equal((await c.readFile('//inside')).toString(), 'inside');
  assert.equal((await c.stat('//sub//..//inside')).size, 6);

  // NUL, invalid UTF-8 and overlong names: NO_SUCH_FILE from every request, nothing created.
  for (const p of BAD_PATHS) {
    const what = JSON.stringify(p.toString('latin1').slice(0, 20));
    const reqs: RequestWithoutId[] = [
      { type: 'realpath', path: p }, { type: 'stat', path: p }, { type: 'lstat', path: p },
      { type: 'open', path: p, pflags: READ, attrs: {} }, { type: 'open', path: p, pflags: WRITE | CREAT | TRUNC, attrs: {} },
      { type: 'setstat', path: p, attrs: { mtime: 1 } }, { type: 'opendir', path: p }, { type: 'remove', path: p },
      { type: 'mkdir', path: p, attrs: {} }, { type: 'rmdir', path: p },
      { type: 'rename', oldPath: p, newPath: b('x') }, { type: 'rename', oldPath: b('inside'), newPath: p },
      { type: 'posix-rename', oldPath: p, newPath: b('x') }, { type: 'posix-rename', oldPath: b('inside'), newPath: p },
      { type: 'hardlink', oldPath: p, newPath: b('x') }, { type: 'hardlink', oldPath: b('inside'), newPath: p },
      { type: 'statvfs', path: p }, { type: 'expand-path', path: p },
    ];
    for (const req of reqs) assert.equal(await code(req), S.NO_SUCH_FILE, `${req.type} ${what}`);
  }
  await end();
  assert.deepEqual(await outside(), before, 'nothing outside the jail changed');
  assert.deepEqual((await f.grid.list(jail)).map((e) => e.name).sort(), ['inside', 'sub']);
  assert.equal((await readAll(f.grid, (await f.grid.getChild(f.root, 'secret'))!.node.cap)).toString(), 'do not touch');
});

test('read-only matrix: a read-only root refuses every change with PERMISSION_DENIED and changes nothing', async () => {
  const f = await buildFixture();
  const before = await snapshot(f.grid, f.root);
  const mutableBefore = await readAll(f.grid, f.caps.mutable);
  const { c, end } = await connect(f, readCapOf(f.root));
  const P = S.PERMISSION_DENIED;
  const open = (path: string, pflags: number): RequestWithoutId => ({ type: 'open', path: b(path), pflags, attrs: {} });
  const attempts: [string, RequestWithoutId][] = [
    ['open w', open('small', WRITE)],
    ['open wc new', open('new', WRITE | CREAT)],
    ['open wct new', open('new', WRITE | CREAT | TRUNC)],
    ['open excl', open('new', WRITE | CREAT | EXCL)],
    ['open trunc', open('small', WRITE | TRUNC)],
    ['open append', open('small', WRITE | APPEND)],
    ['open rw', open('small', READ | WRITE)],
    ['open read|creat', open('new', READ | CREAT)],
    ['open mutable', open('mutable', WRITE)],
    ['open in subdir', open('loop/new', WRITE | CREAT)],
    ['setstat chmod', { type: 'setstat', path: b('small'), attrs: { permissions: 0o444 } }],
    ['setstat chmod +w', { type: 'setstat', path: b('readonly'), attrs: { permissions: 0o644 } }],
    ['setstat touch', { type: 'setstat', path: b('small'), attrs: { atime: 1, mtime: 1 } }],
    ['setstat truncate', { type: 'setstat', path: b('small'), attrs: { size: 0 } }],
    ['setstat dir', { type: 'setstat', path: b('loop'), attrs: { mtime: 1 } }],
    ['remove', { type: 'remove', path: b('small') }],
    ['remove unknown', { type: 'remove', path: b('unknown') }],
    ['rmdir', { type: 'rmdir', path: b('empty_lit_dir') }],
    ['mkdir', { type: 'mkdir', path: b('d'), attrs: {} }],
    ['rename', { type: 'rename', oldPath: b('small'), newPath: b('x') }],
    ['rename onto existing', { type: 'rename', oldPath: b('small'), newPath: b('small2') }],
    ['rename into subdir', { type: 'rename', oldPath: b('small'), newPath: b('loop/x') }],
    ['posix-rename', { type: 'posix-rename', oldPath: b('small'), newPath: b('small2') }],
    ['hardlink', { type: 'hardlink', oldPath: b('small'), newPath: b('link') }],
  ];
  for (const [name, req] of attempts) assert.equal(await c.status(req), P, name);
  // Through a read handle: FSETSTAT and WRITE refused; copy-data has no writable target.
  const h = await c.open('small', READ);
  assert.equal(await c.status({ type: 'fsetstat', handle: h, attrs: { permissions: 0o444 } }), P, 'fsetstat');
  assert.equal(await c.status({ type: 'write', handle: h, offset: 0, data: b('x') }), P, 'write');
  assert.equal(await c.status({ type: 'copy-data', readHandle: h, readOffset: 0, readLength: 0, writeHandle: h, writeOffset: 0 }), P, 'copy-data');
  await c.close(h);
  // Symlinks are never supported, read-only or not.
  assert.equal(await c.status({ type: 'symlink', targetPath: b('small'), linkPath: b('l') }), S.OP_UNSUPPORTED);
  // …and reading still works.
  assert.equal((await c.readFile('small')).toString(), '0123456789');
  assert.equal((await c.stat('small')).permissions, 0o100444);
  await end();
  assert.deepEqual(await snapshot(f.grid, f.root), before);
  assert.deepEqual(await readAll(f.grid, f.caps.mutable), mutableBefore);
});
