// Property: whatever a client sends (valid requests, malformed ones, packets that cannot be
// framed), split into whatever chunks, the session never throws and never hangs, answers every
// request id it dispatched exactly once, and leaves no handle or open writer behind.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  encodePacket, encodeRequest, MAX_PACKET, OpenFlags, PacketType, stringBytes, u32Bytes, u64Bytes, type SftpAttrs,
} from '../../src/sftp/index.js';
import { runSftpSession } from '../../src/sftp/session.js';
import { OpenFiles, VfsSession } from '../../src/vfs/index.js';
import { buildFixture } from '../helpers/fixture.js';
import { duplexPair, SftpTestClient, type RequestWithoutId } from '../helpers/sftp-client.js';
import { tempDir } from '../helpers/tmp.js';
import { withTimeout } from '../../src/util/timeout.js';

const PATHS = ['small', 'groß', 'loop', 'new', 'new2', 'dir', 'dir/f', '../x', '..\\y', '', '/', 'unknown', 'tiny_lit_dir/short', 'mutable', 'readonly']
  .map((p) => Buffer.from(p))
  .concat([Buffer.from([0xff]), Buffer.from('a\0b')]);

/** A request shape; `handle: number` picks one of the handles opened before the sequence. */
type Shape =
  | { kind: 'req'; req: RequestWithoutId | ((handles: Buffer[]) => RequestWithoutId) }
  | { kind: 'raw'; bytes: (id: number) => Buffer }
  /** Ends the session: the packets after it are never answered. */
  | { kind: 'fatal'; bytes: Buffer }
  | { kind: 'init' };

const path = fc.constantFrom(...PATHS);
const smallData = fc.uint8Array({ maxLength: 70_000 }).map((a) => Buffer.from(a));
const attrs: fc.Arbitrary<SftpAttrs> = fc.record(
  { size: fc.nat(200_000), permissions: fc.nat(0o7777), mtime: fc.nat(), atime: fc.nat() },
  { requiredKeys: [] },
).map((a) => {
  if ((a.mtime === undefined) !== (a.atime === undefined)) return { ...a, mtime: a.mtime ?? 1, atime: a.atime ?? 1 };
  return a;
});
const handleRef = fc.nat(9);
const flags = fc.nat(0x3f);

const request: fc.Arbitrary<Shape> = fc.oneof(
  fc.record({ p: path, f: flags }).map(({ p, f }): Shape => ({ kind: 'req', req: { type: 'open', path: p, pflags: f, attrs: {} } })),
  fc.record({ h: handleRef, off: fc.nat(300_000), len: fc.nat(300_000) }).map(({ h, off, len }): Shape => ({ kind: 'req', req: (hs) => ({ type: 'read', handle: hs[h % hs.length]!, offset: off, length: len }) })),
  fc.record({ h: handleRef, off: fc.nat(300_000), data: smallData }).map(({ h, off, data }): Shape => ({ kind: 'req', req: (hs) => ({ type: 'write', handle: hs[h % hs.length]!, offset: off, data }) })),
  handleRef.map((h): Shape => ({ kind: 'req', req: (hs) => ({ type: 'close', handle: hs[h % hs.length]! }) })),
  handleRef.map((h): Shape => ({ kind: 'req', req: (hs) => ({ type: 'fstat', handle: hs[h % hs.length]! }) })),
  handleRef.map((h): Shape => ({ kind: 'req', req: (hs) => ({ type: 'readdir', handle: hs[h % hs.length]! }) })),
  handleRef.map((h): Shape => ({ kind: 'req', req: (hs) => ({ type: 'fsync', handle: hs[h % hs.length]! }) })),
  fc.record({ h: handleRef, a: attrs }).map(({ h, a }): Shape => ({ kind: 'req', req: (hs) => ({ type: 'fsetstat', handle: hs[h % hs.length]!, attrs: a }) })),
  fc.record({ p: path, a: attrs }).map(({ p, a }): Shape => ({ kind: 'req', req: { type: 'setstat', path: p, attrs: a } })),
  fc.record({ t: fc.constantFrom('stat', 'lstat', 'opendir', 'remove', 'rmdir', 'realpath', 'readlink') as fc.Arbitrary<'stat'>, p: path })
    .map(({ t, p }): Shape => ({ kind: 'req', req: { type: t, path: p } })),
  path.map((p): Shape => ({ kind: 'req', req: { type: 'mkdir', path: p, attrs: {} } })),
  fc.record({ t: fc.constantFrom('rename', 'posix-rename', 'hardlink') as fc.Arbitrary<'rename'>, a: path, b: path })
    .map(({ t, a, b }): Shape => ({ kind: 'req', req: { type: t, oldPath: a, newPath: b } })),
  fc.record({ a: path, b: path }).map(({ a, b }): Shape => ({ kind: 'req', req: { type: 'symlink', targetPath: a, linkPath: b } })),
  fc.constantFrom<Shape>(
    { kind: 'req', req: { type: 'limits' } },
    { kind: 'req', req: { type: 'statvfs', path: Buffer.from('/') } },
    { kind: 'req', req: { type: 'home-directory', username: Buffer.from('x') } },
    { kind: 'req', req: { type: 'expand-path', path: Buffer.from('~/a/../b') } },
    { kind: 'req', req: { type: 'extended-unknown', name: 'nope@example.com', data: Buffer.from('zz') } },
    { kind: 'init' },
  ),
  fc.record({ a: handleRef, b: handleRef, off: fc.nat(2000), len: fc.nat(2000) }).map(({ a, b, off, len }): Shape => ({
    kind: 'req', req: (hs) => ({ type: 'copy-data', readHandle: hs[a % hs.length]!, readOffset: off, readLength: len, writeHandle: hs[b % hs.length]!, writeOffset: off }),
  })),
);

// Packets with a readable id but a body that does not parse, or a type we do not serve.
const malformed: fc.Arbitrary<Shape> = fc.oneof(
  fc.record({ type: fc.integer({ min: 3, max: 255 }), body: fc.uint8Array({ maxLength: 40 }) })
    .map(({ type, body }): Shape => ({ kind: 'raw', bytes: (id) => encodePacket(type, u32Bytes(id), body) })),
  fc.record({ name: fc.constantFrom('posix-rename@openssh.com', 'statvfs@openssh.com', 'copy-data', 'limits@openssh.com', 'fsync@openssh.com'), body: fc.uint8Array({ maxLength: 12 }) })
    .map(({ name, body }): Shape => ({ kind: 'raw', bytes: (id) => encodePacket(PacketType.EXTENDED, u32Bytes(id), stringBytes(name), body) })),
  fc.constant<Shape>({ kind: 'raw', bytes: (id) => encodePacket(PacketType.READ, u32Bytes(id), stringBytes(Buffer.alloc(16)), u64Bytes(0)) }),
);

// Packets that end the session: no id can be read, or the length cannot be framed.
const fatal: fc.Arbitrary<Shape> = fc.constantFrom<Shape>(
  { kind: 'fatal', bytes: u32Bytes(0) },
  { kind: 'fatal', bytes: Buffer.concat([u32Bytes(MAX_PACKET + 1), Buffer.alloc(8)]) },
  { kind: 'fatal', bytes: encodePacket(PacketType.STAT, Buffer.from([1, 2])) },
  { kind: 'fatal', bytes: encodePacket(PacketType.INIT, u32Bytes(3), Buffer.from([0, 0])) },
);

const shapes = fc.array(fc.oneof({ weight: 12, arbitrary: request }, { weight: 3, arbitrary: malformed }, { weight: 1, arbitrary: fatal }), { maxLength: 40 });
const cuts = fc.array(fc.nat(), { maxLength: 30 });

test('fuzz: every dispatched id answered exactly once; no throw, no hang, no leak', async () => {
  const f = await buildFixture();
  const spillDir = tempDir();
  await fc.assert(
    fc.asyncProperty(shapes, cuts, fc.boolean(), async (seq, cutPoints, endWithDestroy) => {
      // A fresh root per run (earlier runs remove and rename things), holding the fixture's nodes.
      const root = await f.grid.createDirectory();
      for (const e of await f.grid.list(f.root)) await f.grid.setChild(root, e.name, e.node.cap, { replace: false, metadata: e.metadata });
      const openFiles = new OpenFiles();
      const vfs = new VfsSession({ grid: f.grid, rootCap: root, username: 'fuzz', openFiles, spillDir });
      const [serverEnd, clientEnd] = duplexPair();
      const session = runSftpSession(serverEnd, vfs, { maxOutstanding: 8, maxPendingBytes: 256 * 1024, cork: () => {}, uncork: () => {} });
      const c = new SftpTestClient(clientEnd);
      await c.init();
      // Real handles to aim at: files (reader, writer) and a directory; plus bogus ones.
      const handles: Buffer[] = [];
      for (const [p, fl] of [['small', OpenFlags.READ], ['fz', OpenFlags.READ | OpenFlags.WRITE | OpenFlags.CREAT], ['groß', OpenFlags.READ]] as const) {
        handles.push(await c.open(p, fl));
      }
      handles.push(await c.opendir('/'), Buffer.alloc(16, 1), Buffer.alloc(2));
      const expected = new Set<number>();
      const parts: Buffer[] = [];
      let dead = false;
      for (const s of seq) {
        if (s.kind === 'fatal') {
          parts.push(s.bytes);
          dead = true;
          break;
        }
        if (s.kind === 'init') {
          parts.push(encodeRequest({ type: 'init', version: 3, extensions: [] }));
          continue;
        }
        const id = c.allocId();
        expected.add(id);
        parts.push(s.kind === 'raw' ? s.bytes(id) : encodeRequest({ ...(typeof s.req === 'function' ? s.req(handles) : s.req), id } as never));
      }
      const all = Buffer.concat(parts);
      const offsets = [...new Set(cutPoints.map((n) => n % (all.length + 1)))].sort((x, y) => x - y);
      let prev = 0;
      for (const off of [...offsets, all.length]) {
        if (off > prev) c.sendRaw(all.subarray(prev, off));
        prev = off;
        if (off % 3 === 0) await new Promise((r) => setImmediate(r));
      }
      // Wait for every answer (or the end, after a fatal packet), then end the session.
      const answeredAll = async () => {
        while ([...expected].some((id) => !c.answered.has(id))) await new Promise((r) => setTimeout(r, 2));
      };
      const hung = () => new Error('session hung');
      await withTimeout(dead ? c.ended : answeredAll(), 10_000, hung);
      if (endWithDestroy) c.stream.destroy();
      else c.stream.end();
      await withTimeout(session.done, 10_000, hung);
      assert.deepEqual(c.garbage, []);
      for (const [id, n] of c.answered) {
        assert.equal(n, 1, `id ${id} answered ${n} times`);
        assert.ok(id < 5 || expected.has(id), `unexpected reply id ${id}`);
      }
      for (const id of expected) assert.ok(c.answered.has(id), `id ${id} not answered`);
      assert.equal(session.openHandles, 0);
      assert.equal(vfs.openFileCount, 0);
      assert.equal(openFiles.size, 0);
    }),
    { numRuns: 100 },
  );
});
