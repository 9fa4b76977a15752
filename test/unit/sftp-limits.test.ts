// What one client can make the server do (issue #10), through the SFTP session on a real
// embedded store: sizes are bounded before any work, quotas hold, the store keeps its reserve,
// work stops when the client goes away, and one slow request does not stall the others.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { EmbeddedGrid } from '../../src/grid/embedded/index.js';
import { encodeRequest, OpenFlags, StatusCode, type SftpReply } from '../../src/sftp/index.js';
import { AccountUsage, countTree, type VfsLimits } from '../../src/vfs/index.js';
import { pseudoRandom } from '../helpers/data.js';
import { buildTree, closeFixtures, closeWithFixtures, readAll, type Fixture } from '../helpers/fixture.js';
import { SftpStatusError } from '../helpers/sftp-client.js';
import { start } from '../helpers/sftp-session-harness.js';
import { tempDir } from '../helpers/tmp.js';

const { READ, WRITE, CREAT, TRUNC } = OpenFlags;
const S = StatusCode;
const TiB = 2 ** 40;
const MiB = 2 ** 20;

/** Bytes of every file under `dir` (what the store really holds on disk). */
function bytesOnDisk(dir: string): number {
  let n = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    n += e.isDirectory() ? bytesOnDisk(p) : statSync(p).size;
  }
  return n;
}

after(closeFixtures);

async function fixture(reserveBytes?: number): Promise<Fixture> {
  const storeDir = tempDir('lafsd-limits-');
  const grid = closeWithFixtures(await EmbeddedGrid.open({ storeDir, convergenceSecret: Buffer.alloc(32, 5), ...(reserveBytes !== undefined ? { reserveBytes } : {}) }));
  return { ...(await buildTree(grid)), grid, storeDir };
}

function failure(r: SftpReply): { code: number; message: string } {
  assert.equal(r.type, 'status');
  return r as { code: number; message: string };
}

/** A store that takes at most `bytes` more of file data (its reserve is the rest of the disk). */
async function cappedFixture(bytes: number): Promise<Fixture> {
  const probe = await EmbeddedGrid.open({ storeDir: tempDir('lafsd-probe-'), convergenceSecret: Buffer.alloc(32, 1), reserveBytes: 0 });
  const free = (await probe.diskUsage()).availableBytes;
  await probe.close();
  return fixture(Math.max(0, free - bytes));
}

test('a SETSTAT, FSETSTAT or WRITE to 2^40 bytes is refused at once with "file too large", and nothing is written', async () => {
  // Capped at 256 MiB, so that a regression fails this test instead of filling the disk.
  const h = await start({ fixture: await cappedFixture(256 * MiB) });
  const before = bytesOnDisk(h.f.storeDir);
  const t0 = performance.now();
  const setstat = failure(await h.c.call({ type: 'setstat', path: Buffer.from('small'), attrs: { size: TiB } }));
  assert.deepEqual([setstat.code, /^file too large/.test(setstat.message)], [S.FAILURE, true], setstat.message);
  const w = await h.c.open('sparse', WRITE | CREAT | TRUNC);
  const fsetstat = failure(await h.c.call({ type: 'fsetstat', handle: w, attrs: { size: TiB } }));
  assert.match(fsetstat.message, /^file too large: the largest file this server accepts is 107374182400 bytes$/);
  const write = failure(await h.c.call({ type: 'write', handle: w, offset: TiB, data: Buffer.from('x') }));
  assert.equal(write.code, S.FAILURE);
  assert.match(write.message, /^file too large/);
  // A path SETSTAT on the file being written is refused the same way.
  assert.match(failure(await h.c.call({ type: 'setstat', path: Buffer.from('sparse'), attrs: { size: TiB } })).message, /^file too large/);
  // A file whose WRITE was refused is not saved when it is closed.
  assert.match(failure(await h.c.call({ type: 'close', handle: w })).message, /^file too large.*\(a write failed, so the file was not saved\)$/);
  const ms = performance.now() - t0;
  assert.ok(ms < 2000, `refused in ${ms} ms`);
  assert.equal((await h.c.stat('small')).size, 10, 'the file is unchanged');
  await assert.rejects(h.c.stat('sparse'), (e: SftpStatusError) => e.code === S.NO_SUCH_FILE);
  assert.ok(bytesOnDisk(h.f.storeDir) - before < MiB, 'nothing big reached the store');
  await h.end();
});

test('max_file_size: a file may grow to the limit and not one byte past it, however it grows', async () => {
  const limits: VfsLimits = { maxFileSize: 100_000 };
  const h = await start({ limits });
  await h.c.writeFile('exact', pseudoRandom('max', 100_000));
  assert.equal((await h.c.stat('exact')).size, 100_000);
  const over = await h.c.open('over', WRITE | CREAT | TRUNC);
  await h.c.write(over, 0, Buffer.alloc(99_999));
  await assert.rejects(h.c.write(over, 99_999, Buffer.alloc(2)), (e: SftpStatusError) => e.code === S.FAILURE && /file too large/.test(e.message));
  await assert.rejects(h.c.close(over), /file too large/);
  await assert.rejects(h.c.stat('over'), /No such file/);
  // A refused truncate leaves the content whole: the file is still saved.
  const w = await h.c.open('grow', WRITE | CREAT | TRUNC);
  await h.c.write(w, 0, Buffer.alloc(99_999));
  await assert.rejects(h.c.ok({ type: 'fsetstat', handle: w, attrs: { size: 100_001 } }), /file too large/);
  await h.c.ok({ type: 'fsetstat', handle: w, attrs: { size: 100_000 } });
  await h.c.close(w);
  assert.equal((await h.c.stat('grow')).size, 100_000);
  const a = await h.c.open('grow', WRITE | OpenFlags.APPEND);
  await assert.rejects(h.c.write(a, 0, Buffer.from('x')), /file too large/, 'an append past the limit');
  await h.c.close(a);
  await h.end();
});

test('growth beyond the store\'s free space (minus its reserve) is refused before any byte is written', async () => {
  // Fault injection: a reserve of all but 8 MiB of the free space makes the store "nearly full".
  const f = await cappedFixture(8 * MiB);
  const h = await start({ fixture: f });
  const before = bytesOnDisk(f.storeDir);
  const r = failure(await h.c.call({ type: 'setstat', path: Buffer.from('small'), attrs: { size: 64 * MiB } }));
  assert.deepEqual([r.code, r.message], [S.FAILURE, 'no space left on the store']);
  const w = await h.c.open('big', WRITE | CREAT | READ | TRUNC);
  // Streaming into the store stops at the reserve too, with the same error.
  let failed: SftpStatusError | undefined;
  let off = 0;
  for (; off < 64 * MiB && !failed; off += 128 * 1024) {
    await h.c.write(w, off, Buffer.alloc(128 * 1024, 1)).catch((e: SftpStatusError) => (failed = e));
  }
  assert.match(failed?.message ?? '', /: no space left on the store$/);
  // The file cannot be saved any more: the next WRITE (in order after the lost one) fails the
  // same way at once, and so does a READ. Before, that WRITE waited in memory as out of order
  // and was answered OK (8 such uploads at once hung the server: limits.test.ts).
  await assert.rejects(h.c.write(w, off, Buffer.alloc(128 * 1024, 2)), /no space left on the store$/);
  assert.match(failure(await h.c.call({ type: 'read', handle: w, offset: 0, length: 1024 })).message, /no space left on the store$/);
  await assert.rejects(h.c.close(w), /no space left on the store/);
  assert.equal(await f.grid.getChild(f.root, 'big'), undefined, 'nothing linked');
  assert.ok(bytesOnDisk(f.storeDir) - before < MiB, 'the failed upload left nothing behind');
  // Directory changes still work on the "full" store.
  await h.c.ok({ type: 'remove', path: Buffer.from('small') });
  await h.c.ok({ type: 'rename', oldPath: Buffer.from('small2'), newPath: Buffer.from('renamed') });
  await h.c.ok({ type: 'mkdir', path: Buffer.from('d'), attrs: {} });
  await h.end();
});

test('quota: bytes and files are counted from the tree, held while written, given back on delete', async () => {
  const f = await fixture();
  const initial = await countTree(f.grid, f.root);
  const usage = new AccountUsage({ bytes: initial.bytes + 300_000, files: initial.files + 3 }, () => countTree(f.grid, f.root));
  const h = await start({ fixture: f, limits: { maxFileSize: 10 * MiB, usage } });
  await h.c.writeFile('one', Buffer.alloc(200_000, 1));
  assert.deepEqual(usage.usage, { bytes: initial.bytes + 200_000, files: initial.files + 1 });
  // Two files open at once cannot overshoot together: the second write finds the first's bytes held.
  const a = await h.c.open('two', WRITE | CREAT | TRUNC);
  const b = await h.c.open('three', WRITE | CREAT | TRUNC);
  await h.c.write(a, 0, Buffer.alloc(80_000));
  await assert.rejects(h.c.write(b, 0, Buffer.alloc(80_000)), (e: SftpStatusError) => e.code === S.FAILURE && /: quota exceeded: the account may store \d+ bytes$/.test(e.message));
  await h.c.close(a);
  // A file whose write was refused is not saved: its CLOSE fails too, and nothing is linked.
  await assert.rejects(h.c.close(b), /quota exceeded: the account may store \d+ bytes \(a write failed, so the file was not saved\)$/);
  assert.equal(await f.grid.getChild(f.root, 'three'), undefined);
  assert.deepEqual(usage.usage, { bytes: initial.bytes + 280_000, files: initial.files + 2 });
  await h.c.writeFile('three', Buffer.alloc(10_000, 3));
  // The file quota: a fourth new file is refused at OPEN.
  await assert.rejects(h.c.open('four', WRITE | CREAT | TRUNC), /quota exceeded: the account may store \d+ files/);
  // Overwriting a file only counts the difference.
  await h.c.writeFile('one', Buffer.alloc(200_000 + 10_000, 2));
  assert.equal(usage.usage.bytes, initial.bytes + 300_000);
  // A delete gives bytes and a file back.
  await h.c.ok({ type: 'remove', path: Buffer.from('one') });
  assert.deepEqual(usage.usage, { bytes: initial.bytes + 90_000, files: initial.files + 2 });
  await h.c.writeFile('four', Buffer.alloc(200_000, 4));
  // hardlink counts like a copy.
  await assert.rejects(h.c.ok({ type: 'hardlink', oldPath: Buffer.from('four'), newPath: Buffer.from('five') }), /quota exceeded/);
  assert.equal((await readAll(f.grid, (await f.grid.getChild(f.root, 'four'))!.node.cap)).length, 200_000);
  await h.end();
});

test('work a client started stops when it goes away: a sparse file being filled is not committed', async () => {
  const h = await start();
  const before = bytesOnDisk(h.f.storeDir);
  const w = await h.c.open('huge', WRITE | CREAT | TRUNC);
  await h.c.write(w, 2 * 1024 * MiB - 1, Buffer.from('x')); // 2 GiB of zeros to fill at commit
  h.c.sendRaw(encodeRequest({ type: 'close', id: h.c.allocId(), handle: w }));
  await new Promise((r) => setTimeout(r, 100));
  const t0 = performance.now();
  h.c.stream.destroy();
  await h.session.done;
  const ms = performance.now() - t0;
  assert.ok(ms < 3000, `the session ended ${ms} ms after the client left`);
  assert.equal(await h.f.grid.getChild(h.f.root, 'huge'), undefined, 'nothing linked');
  assert.ok(bytesOnDisk(h.f.storeDir) - before < 1024 * MiB, 'the fill stopped long before 2 GiB');
});

test('a slow commit of one file does not stall requests on other paths', async () => {
  const h = await start();
  const w = await h.c.open('slow', WRITE | CREAT | TRUNC);
  await h.c.write(w, 600 * MiB - 1, Buffer.from('x')); // its CLOSE fills 600 MiB
  const first = h.c.replies.length;
  const closeId = h.c.allocId();
  const statId = h.c.allocId();
  const closing = h.c.replyTo(closeId);
  const stating = h.c.replyTo(statId);
  h.c.sendRaw(Buffer.concat([
    encodeRequest({ type: 'close', id: closeId, handle: w }),
    encodeRequest({ type: 'stat', id: statId, path: Buffer.from('small') }),
  ]));
  await Promise.all([closing, stating]);
  const order = h.c.replies.slice(first).map((r) => (r as { id: number }).id);
  assert.deepEqual(order, [statId, closeId], 'the STAT was answered while the CLOSE was still committing');
  assert.equal((await h.c.stat('slow')).size, 600 * MiB);
  // A request on the same path still waits for the commit (sshfs closes then renames).
  const r = await h.c.open('slow', READ);
  assert.deepEqual(await h.c.read(r, 600 * MiB - 1, 10), Buffer.from('x'));
  await h.c.close(r);
  await h.end();
});

test('a framing error: requests decoded before it are all answered, then the session ends (logged at info)', async () => {
  const lines: { level: string; obj: Record<string, unknown>; msg: string }[] = [];
  const logger = {
    debug: (obj: object, msg: string) => lines.push({ level: 'debug', obj: obj as Record<string, unknown>, msg }),
    info: (obj: object, msg: string) => lines.push({ level: 'info', obj: obj as Record<string, unknown>, msg }),
    warn: (obj: object, msg: string) => lines.push({ level: 'warn', obj: obj as Record<string, unknown>, msg }),
    error: (obj: object, msg: string) => lines.push({ level: 'error', obj: obj as Record<string, unknown>, msg }),
  };
  const h = await start({ session: { logger } });
  const ids = Array.from({ length: 50 }, () => h.c.allocId());
  h.c.sendRaw(Buffer.concat([
    ...ids.map((id, i) => encodeRequest({ type: 'stat', id, path: Buffer.from(i % 2 ? 'small' : 'missing') })),
    Buffer.from([0, 0, 0, 3, 17, 0, 0]), // a STAT too short to hold an id
  ]));
  await h.c.ended;
  await h.session.done;
  assert.deepEqual(h.c.replies.slice(1).map((r) => (r as { id: number }).id).sort(), [...ids].sort());
  const ended = lines.find((l) => /protocol error/.test(l.msg));
  assert.equal(ended?.level, 'info');
});
