// Garbage collection of the embedded store (src/grid/embedded/gc.ts) on real stores in temp
// folders: what is reachable stays, what is not goes after the grace period, a dry run changes
// nothing, old schema-1 stores are protected, links and deduplication during a run are safe,
// and kill -9 of a collector at any moment loses nothing reachable.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { b32encode, chkStorageIndex, formatCap, literalCap, parseCap, readCapOf } from '../../src/caps/index.js';
import { EmbeddedGrid, SEGMENT_SIZE } from '../../src/grid/embedded/index.js';
import { RESURRECTED } from '../../src/grid/embedded/gc-sweep.js';
import type { GcReport } from '../../src/grid/embedded/gc.js';
import { isGridError, packChildren } from '../../src/grid/index.js';
import { buildFixture } from '../helpers/fixture.js';
import { get, put } from '../helpers/grid-io.js';
import { pseudoRandom, sha256 } from '../helpers/data.js';
import { tempDir } from '../helpers/tmp.js';
import { flipEntryByte } from '../helpers/store-damage.js';
import { markStoreVersion, openStoreMadeBeforeBlake3, storeMeta } from '../helpers/store-versions.js';

const SECRET = Buffer.alloc(32, 5);
const GRACE = 60_000;
const BIG = 3 * SEGMENT_SIZE + 17; // an object file
const SMALL = 4000; // a small object (a row)

async function openGrid(dir = tempDir()): Promise<EmbeddedGrid> {
  return EmbeddedGrid.open({ storeDir: dir, convergenceSecret: SECRET });
}

interface RunOptions {
  dryRun?: boolean;
  /** Look past the grace period (a run that starts GRACE + 1 s from now). */
  later?: boolean;
  ignoreDamaged?: boolean;
  graceMs?: number;
  during?: () => Promise<void>;
}

function gc(grid: EmbeddedGrid, roots: string[], opts: RunOptions = {}): Promise<GcReport> {
  return grid.collectGarbage({
    roots: async () => {
      await opts.during?.();
      return roots.map((cap, i) => ({ cap, where: `root ${i}` }));
    },
    graceMs: opts.graceMs ?? GRACE,
    ...(opts.dryRun ? { dryRun: true } : {}),
    ...(opts.ignoreDamaged ? { ignoreDamaged: true } : {}),
    ...(opts.later ? { now: Date.now() + GRACE + 1000 } : {}),
  });
}

function objectFiles(dir: string): string[] {
  const objects = join(dir, 'objects');
  return readdirSync(objects).flatMap((p) => readdirSync(join(objects, p)).map((n) => join(objects, p, n)));
}

function smallRows(dir: string): number {
  const db = new Database(join(dir, 'store.db'), { readonly: true });
  try {
    return (db.prepare('SELECT count(*) AS n FROM small_objects').get() as { n: number }).n;
  } finally {
    db.close();
  }
}

async function gone(grid: EmbeddedGrid, cap: string): Promise<void> {
  await assert.rejects(get(grid, cap), (err: unknown) => isGridError(err, 'UNAVAILABLE') || isGridError(err, 'NOT_FOUND'));
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('a replaced file\'s space comes back after the grace period, not before; a dry run changes nothing', async () => {
  const dir = tempDir();
  const grid = await openGrid(dir);
  const root = await grid.createDirectory();
  const a = await put(grid, pseudoRandom('a', BIG));
  await grid.setChild(root, 'f', a, { replace: false });
  const b = await put(grid, pseudoRandom('b', BIG));
  await grid.setChild(root, 'f', b, { replace: true });
  const sa = await put(grid, pseudoRandom('sa', SMALL));
  await grid.setChild(root, 's', sa, { replace: false });
  const sb = await put(grid, pseudoRandom('sb', SMALL));
  await grid.setChild(root, 's', sb, { replace: true });

  const early = await gc(grid, [root]);
  assert.equal(early.complete, true);
  assert.deepEqual([early.freed.objects, early.young.objects, early.reachable.objects, early.reachable.dirs], [0, 2, 2, 1]);

  const dry = await gc(grid, [root], { dryRun: true, later: true });
  assert.equal(dry.freed.objects, 2);
  assert.equal(dry.freed.fileBytes, statSync(objectFiles(dir).find((f) => f.endsWith(parseCapSi(a)))!).size);
  assert.equal(objectFiles(dir).length, 2, 'a dry run deletes nothing');
  assert.equal(smallRows(dir), 2);
  assert.deepEqual(await get(grid, a), pseudoRandom('a', BIG));

  const late = await gc(grid, [root], { later: true });
  assert.deepEqual(late.freed, dry.freed, 'the dry run predicted exactly what the real run freed');
  assert.equal(objectFiles(dir).length, 1);
  assert.equal(smallRows(dir), 1);
  await gone(grid, a);
  await gone(grid, sa);
  assert.deepEqual(await get(grid, b), pseudoRandom('b', BIG));
  assert.deepEqual(await get(grid, sb), pseudoRandom('sb', SMALL));
  assert.deepEqual(readdirSync(join(dir, 'trash')), []);
  assert.deepEqual((await gc(grid, [root], { later: true })).freed.objects, 0, 'nothing left to free');
  await grid.close();
});

/** The object file name (base32 storage index) of a CHK cap. */
function parseCapSi(cap: string): string {
  const c = parseCap(cap);
  assert.equal(c.type, 'CHK');
  return b32encode(chkStorageIndex((c as { key: Buffer }).key));
}

test('a kept cap survives; unlinked directories and mutable files go with what only they reach', async () => {
  const grid = await openGrid();
  const root = await grid.createDirectory();
  const kept = await put(grid, pseudoRandom('kept', BIG));
  const keptDir = await grid.createDirectory();
  const inKeptDir = await put(grid, pseudoRandom('in-kept-dir', SMALL));
  await grid.setChild(keptDir, 'x', inKeptDir, { replace: false });
  const lostDir = await grid.createDirectory();
  const inLostDir = await put(grid, pseudoRandom('in-lost-dir', BIG));
  await grid.setChild(lostDir, 'y', inLostDir, { replace: false });
  await grid.setChild(lostDir, 'z', literalCap(Buffer.from('lit')), { replace: false });
  const lostMutable = await grid.createMutable({ immutableCap: await put(grid, pseudoRandom('lost-mutable', SMALL)) });

  const r = await gc(grid, [root, kept, readCapOf(keptDir)], { later: true });
  assert.equal(r.complete, true);
  assert.deepEqual([r.freed.dirs, r.freed.entries, r.freed.mutables, r.freed.objects], [1, 2, 1, 2]);
  assert.deepEqual(await get(grid, kept), pseudoRandom('kept', BIG));
  assert.deepEqual(await get(grid, inKeptDir), pseudoRandom('in-kept-dir', SMALL));
  assert.equal((await grid.list(keptDir)).length, 1, 'a read cap keeps the directory its write cap names');
  await assert.rejects(grid.list(lostDir), (e: unknown) => isGridError(e, 'NOT_FOUND'));
  await gone(grid, inLostDir);
  await assert.rejects(grid.stat(lostMutable), (e: unknown) => isGridError(e, 'NOT_FOUND'));
  await grid.close();
});

test('a mutable file\'s old versions are collected, its current one is not (read and write caps alike)', async () => {
  const grid = await openGrid();
  const root = await grid.createDirectory();
  const v1 = await put(grid, pseudoRandom('v1', BIG));
  const v2 = await put(grid, pseudoRandom('v2', SMALL));
  const v3 = await put(grid, pseudoRandom('v3', BIG));
  const sdmf = await grid.createMutable({ immutableCap: v1 });
  await grid.overwriteMutable(sdmf, { immutableCap: v2 });
  await grid.overwriteMutable(sdmf, { immutableCap: v3 });
  await grid.setChild(root, 'by-read-cap', readCapOf(sdmf), { replace: false });
  const w1 = await put(grid, pseudoRandom('w1', SMALL));
  const w2 = await put(grid, pseudoRandom('w2', SMALL));
  const mdmf = await grid.createMutable({ immutableCap: w1 }, 'MDMF');
  await grid.overwriteMutable(mdmf, { immutableCap: w2 });
  await grid.setChild(root, 'by-write-cap', mdmf, { replace: false });

  const r = await gc(grid, [root], { later: true });
  assert.deepEqual([r.freed.objects, r.freed.mutables, r.reachable.mutables, r.reachable.objects], [3, 0, 2, 2]);
  assert.deepEqual(await get(grid, sdmf), pseudoRandom('v3', BIG));
  assert.deepEqual(await get(grid, mdmf), pseudoRandom('w2', SMALL));
  for (const old of [v1, v2, w1]) await gone(grid, old);
  await grid.close();
});

test('an immutable directory\'s children survive, LIT directories are followed, cycles terminate', async () => {
  const { grid, root, caps, storeDir } = await buildFixture(); // the fixture's root links itself as `loop`
  const child = await put(grid, pseudoRandom('imm-child', BIG));
  const smallChild = await put(grid, pseudoRandom('imm-small-child', SMALL));
  const packed = packChildren([
    { name: 'big', readCap: child, metadata: {} },
    { name: 'small', readCap: smallChild, metadata: {} },
    { name: 'self-loop-of-parent', readCap: readCapOf(root), metadata: {} },
  ]);
  const packedCap = parseCap(await put(grid, packed)) as Extract<ReturnType<typeof parseCap>, { type: 'CHK' }>;
  const immDir = formatCap({ ...packedCap, type: 'DIR2-CHK' });
  assert.equal((await grid.list(immDir)).length, 3);
  await grid.setChild(root, 'imm', immDir, { replace: false });
  const inLit = await put(grid, pseudoRandom('in-lit-dir', SMALL));
  const litDir = `URI:DIR2-LIT:${b32encode(packChildren([{ name: 'x', readCap: inLit, metadata: {} }]))}`;
  await grid.setChild(root, 'lit', litDir, { replace: false });
  const garbage = await put(grid, pseudoRandom('garbage', BIG));

  const r = await gc(grid, [root], { later: true });
  assert.equal(r.complete, true, r.stopped);
  assert.equal(r.freed.objects, 1);
  await gone(grid, garbage);
  assert.deepEqual(await get(grid, child), pseudoRandom('imm-child', BIG));
  assert.deepEqual(await get(grid, smallChild), pseudoRandom('imm-small-child', SMALL));
  assert.deepEqual(await get(grid, inLit), pseudoRandom('in-lit-dir', SMALL));
  assert.equal((await grid.list(immDir)).length, 3);
  for (const cap of Object.values(caps)) await grid.stat(cap);
  assert.equal((await get(grid, caps.gross)).length, 1010);
  assert.ok(existsSync(join(storeDir, 'store.db')));
  await grid.close();
});

test('unknown, verify, LIT and foreign caps as roots are ignored', async () => {
  const grid = await openGrid();
  const other = await EmbeddedGrid.open({ storeDir: tempDir(), convergenceSecret: Buffer.alloc(32, 6) });
  const foreignDir = await other.createDirectory();
  await other.close();
  const garbage = await put(grid, pseudoRandom('g', SMALL));
  const roots = ['x-tahoe-crazy://future', 'URI:LIT:', literalCap(Buffer.from('hi')), foreignDir, 'URI:DIR2-LIT:', 'URI:DIR2-LIT:aaaa'];
  const r = await gc(grid, roots, { later: true });
  assert.equal(r.complete, true);
  assert.deepEqual(r.problems, []);
  assert.equal(r.freed.objects, 1);
  await gone(grid, garbage);
  await grid.close();
});

test('a directory entry that cannot be read stops deletion (its path is reported, never a cap) unless told to go on', async () => {
  const dir = tempDir();
  const grid = await openGrid(dir);
  const root = await grid.createDirectory();
  const sub = await grid.mkdir(root, 'sub');
  await grid.setChild(sub, 'f', await put(grid, pseudoRandom('f', SMALL)), { replace: false });
  const garbage = await put(grid, pseudoRandom('garbage', SMALL));
  flipEntryByte(join(dir, 'store.db'), sub, 30);
  const r = await gc(grid, [root], { later: true });
  assert.equal(r.complete, false);
  assert.deepEqual(r.problems, ['a directory entry cannot be read: root 0/sub']);
  assert.match(r.stopped!, /1 damaged node/);
  assert.equal(r.freed.objects, 0);
  assert.doesNotMatch(JSON.stringify(r), /URI:/);
  assert.equal((await get(grid, garbage)).length, SMALL);
  const forced = await gc(grid, [root], { later: true, ignoreDamaged: true });
  assert.equal(forced.complete, true);
  assert.equal(forced.freed.objects, 2, 'the garbage and what only the damaged entry linked');
  await grid.close();
});

test('a store of schema version 1 is migrated, and everything in it counts as new for a full grace period', async () => {
  const dir = tempDir();
  let grid = await openStoreMadeBeforeBlake3(dir, SECRET);
  const root = await grid.createDirectory();
  const live = await put(grid, pseudoRandom('live', BIG));
  await grid.setChild(root, 'live', live, { replace: false });
  const liveSmall = await put(grid, pseudoRandom('live-small', SMALL));
  await grid.setChild(root, 'live-small', liveSmall, { replace: false });
  const oldFile = await put(grid, pseudoRandom('old-file', BIG));
  const oldSmall = await put(grid, pseudoRandom('old-small', SMALL));
  const oldDir = await grid.createDirectory();
  await grid.close();
  // What version 1 of the store looked like: no times anywhere.
  markStoreVersion(dir, '1', `ALTER TABLE dirs DROP COLUMN touched; ALTER TABLE mutables DROP COLUMN touched;
    DROP TABLE object_times; DROP TABLE gc_relinks;`);

  grid = await openGrid(dir);
  assert.equal(storeMeta(dir, 'schema'), '4');
  assert.equal(storeMeta(dir, 'content_hash'), 'sha256', 'an old store keeps the hash its caps were made with');
  assert.equal(await put(grid, pseudoRandom('live', BIG)), live, 'the same bytes still make the same cap');
  // Rows were stamped by the migration; the object file (no row) is stamped when first seen.
  const now = await gc(grid, [root]);
  assert.deepEqual([now.freed.objects, now.freed.dirs, now.young.objects, now.young.dirs], [0, 0, 2, 1], 'nothing goes right after the upgrade');
  const later = await gc(grid, [root], { later: true });
  assert.deepEqual([later.freed.objects, later.freed.dirs, later.young.objects], [2, 1, 0]);
  await gone(grid, oldSmall);
  await gone(grid, oldFile);
  assert.deepEqual(await get(grid, live), pseudoRandom('live', BIG));
  assert.deepEqual(await get(grid, liveSmall), pseudoRandom('live-small', SMALL));
  await assert.rejects(grid.list(oldDir), (e: unknown) => isGridError(e, 'NOT_FOUND'));
  await grid.close();
});

// Links during a run, at a chosen moment: `during` runs after the run's flag and snapshot are
// taken, before marking. These use real time (a short grace period, then a wait), because a
// link counts as a use only if it happens after the cutoff.
const SHORT = 300;

test('links during a run: a linked file, a moved file and a deduplicated upload are kept', async () => {
  const dir = tempDir();
  const grid = await openGrid(dir);
  const root = await grid.createDirectory();
  const relinked = await put(grid, pseudoRandom('relinked', BIG));
  const oldDir = await grid.createDirectory();
  const moved = await put(grid, pseudoRandom('moved', SMALL));
  await grid.setChild(oldDir, 'm', moved, { replace: false });
  await put(grid, pseudoRandom('dedup-file', BIG));
  await put(grid, pseudoRandom('dedup-small', SMALL));
  const garbage = await put(grid, pseudoRandom('garbage', BIG));
  await sleep(SHORT + 100);
  let deduped: string[] = [];
  const r = await gc(grid, [root], {
    graceMs: SHORT,
    during: async () => {
      await grid.setChild(root, 'relinked', relinked, { replace: false });
      await grid.moveChild(oldDir, 'm', root, 'moved', false);
      deduped = [await put(grid, pseudoRandom('dedup-file', BIG)), await put(grid, pseudoRandom('dedup-small', SMALL))];
    },
  });
  assert.equal(r.complete, true, r.stopped);
  assert.equal(r.freed.dirs, 1, 'the old directory goes; what was moved out of it stays');
  // The garbage, and the small object's stored row: its deduplicated upload holds the bytes
  // until a link stores them again (staged.ts), so nothing is lost.
  assert.equal(r.freed.objects, 2);
  await gone(grid, garbage);
  assert.deepEqual(await get(grid, relinked), pseudoRandom('relinked', BIG));
  assert.deepEqual(await get(grid, moved), pseudoRandom('moved', SMALL));
  assert.deepEqual(await get(grid, deduped[0]!), pseudoRandom('dedup-file', BIG));
  assert.deepEqual(await get(grid, deduped[1]!), pseudoRandom('dedup-small', SMALL));
  await grid.setChild(root, 'deduped', deduped[1]!, { replace: false });
  await grid.close();
  const reopened = await openGrid(dir);
  assert.deepEqual(await get(reopened, deduped[1]!), pseudoRandom('dedup-small', SMALL), 'the link stored it again');
  assert.equal((await gc(reopened, [root], { graceMs: SHORT })).freed.objects, 0);
  await reopened.close();
});

test('links during a run: relinking an unreached directory, mutable file or immutable directory (or noting it in use) stops the sweep', async () => {
  const grid = await openGrid();
  const root = await grid.createDirectory();
  const oldDir = await grid.createDirectory();
  const inOldDir = await put(grid, pseudoRandom('in-old-dir', BIG));
  await grid.setChild(oldDir, 'x', inOldDir, { replace: false });
  const oldMutable = await grid.createMutable({ immutableCap: await put(grid, pseudoRandom('old-mutable', SMALL)) });
  const packed = parseCap(await put(grid, packChildren([{ name: 'c', readCap: await put(grid, pseudoRandom('imm-child', SMALL)), metadata: {} }])));
  const immDir = formatCap({ ...(packed as Extract<typeof packed, { type: 'CHK' }>), type: 'DIR2-CHK' });
  const handedOut = await grid.createDirectory(); // e.g. a root the account service answers again
  await grid.setChild(handedOut, 'y', await put(grid, pseudoRandom('in-handed-out', SMALL)), { replace: false });
  await put(grid, pseudoRandom('garbage', SMALL));
  await sleep(SHORT + 100);
  const relinks: [string, () => Promise<void>][] = [
    ['dir', () => grid.setChild(root, 'dir', readCapOf(oldDir), { replace: false })],
    ['mutable', () => grid.setChild(root, 'mutable', oldMutable, { replace: false })],
    ['immutable dir', () => grid.setChild(root, 'immutable dir', immDir, { replace: false })],
    ['noteInUse', () => grid.noteInUse(handedOut)],
  ];
  for (const [what, during] of relinks) {
    const r = await gc(grid, [root], { graceMs: SHORT, during });
    assert.equal(r.complete, false, what);
    assert.equal(r.stopped, RESURRECTED);
    assert.equal(r.freed.objects + r.freed.dirs + r.freed.mutables, 0, `${what}: nothing deleted`);
  }
  // The next run sees them linked (or kept) and collects only the garbage.
  const next = await gc(grid, [root, handedOut], { graceMs: SHORT });
  assert.equal(next.complete, true, next.stopped);
  assert.equal(next.freed.objects, 1);
  assert.deepEqual(await get(grid, inOldDir), pseudoRandom('in-old-dir', BIG));
  assert.deepEqual(await get(grid, oldMutable), pseudoRandom('old-mutable', SMALL));
  assert.equal((await grid.list(immDir)).length, 1);
  await grid.close();
});

test('a directory made during a run and linked then is no reason to stop', async () => {
  const grid = await openGrid();
  const root = await grid.createDirectory();
  await put(grid, pseudoRandom('garbage', SMALL));
  await sleep(SHORT + 100);
  const r = await gc(grid, [root], {
    graceMs: SHORT,
    during: async () => {
      const d = await grid.createDirectory();
      await grid.setChild(d, 'f', await put(grid, pseudoRandom('new', SMALL)), { replace: false });
      await grid.setChild(root, 'new', d, { replace: false });
      await grid.mkdir(root, 'made');
    },
  });
  assert.equal(r.complete, true, r.stopped);
  assert.equal(r.freed.objects, 1);
  await grid.close();
});

test('only one collection runs at a time', async () => {
  const grid = await openGrid();
  const root = await grid.createDirectory();
  let inner: Promise<GcReport> | undefined;
  await gc(grid, [root], {
    during: async () => {
      inner = gc(grid, [root]);
      await inner.catch(() => {});
    },
  });
  await assert.rejects(inner!, /another garbage collection of this store is running/);
  assert.equal((await gc(grid, [root])).complete, true, 'and the flag is gone afterwards');
  await grid.close();
});

// --- other processes ---------------------------------------------------------------------

const worker = fileURLToPath(new URL('../helpers/gc-worker.js', import.meta.url));

function startWorker(args: string[]) {
  const child = spawn(process.execPath, [worker, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines: string[] = [];
  let buf = '';
  child.stdout.on('data', (d: Buffer) => {
    buf += d.toString();
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      lines.push(buf.slice(0, nl));
      buf = buf.slice(nl + 1);
    }
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, lines, exited };
}

test('deduplication racing with gc never links deleted data (uploader and collector in two processes)', { timeout: 120_000 }, async () => {
  const dir = tempDir();
  const grid = await openGrid(dir);
  const root = await grid.createDirectory();
  await grid.close();
  // The uploader cycles through a few contents, so each comes back as an equal upload of an
  // object that was replaced more than the grace period ago: garbage the collector may take.
  const up = startWorker(['dedup', dir, SECRET.toString('hex'), root, '250', String(SHORT)]);
  const collector = await openGrid(dir);
  let freed = 0;
  let runs = 0;
  while (up.child.exitCode === null) {
    const r = await collector.collectGarbage({ roots: async () => [{ cap: root, where: 'root' }], graceMs: SHORT });
    freed += r.freed.objects;
    runs++;
  }
  assert.equal(await up.exited, 0, up.lines.filter((l) => !l.startsWith('ok')).join('\n'));
  assert.equal(up.lines.filter((l) => l.startsWith('ok')).length, 250);
  assert.ok(freed > 20, `the collector deleted replaced objects while the uploader re-uploaded them (${freed} in ${runs} runs)`);
  await collector.close();
});

test('kill -9 of a collector at random moments loses nothing reachable; a later run finishes the job', { timeout: 180_000 }, async () => {
  const dir = tempDir();
  let grid = await openGrid(dir);
  const root = await grid.createDirectory();
  const expected = new Map<string, string>();
  async function checkLive(g: EmbeddedGrid): Promise<void> {
    for (const [path, hash] of expected) {
      const [first, second] = path.split('/');
      const parent = second ? (await g.getChild(root, first!))!.node.cap : root;
      const entry = await g.getChild(parent, second ?? first!);
      assert.ok(entry, `${path} is listed`);
      assert.equal(sha256(await get(g, entry.node.cap)), hash, `${path} is intact`);
    }
  }
  let n = 0;
  for (let round = 0; round < 8; round++) {
    // Each round adds live files (some in new subdirectories) and garbage (unlinked directories
    // holding objects, and replaced files), waits out the grace period, then kills a collector.
    for (let k = 0; k < 60; k++, n++) {
      const data = pseudoRandom(`kill-${n}`, n % 5 === 0 ? BIG : SMALL);
      const cap = await put(grid, data);
      if (n % 3 === 0) {
        const path = n % 6 === 0 ? `d${n}/f${n}` : `f${n}`;
        const parent = n % 6 === 0 ? await grid.mkdir(root, `d${n}`) : root;
        await grid.setChild(parent, `f${n}`, cap, { replace: false });
        expected.set(path, sha256(data));
      } else if (n % 3 === 1) {
        const garbageDir = await grid.createDirectory();
        await grid.setChild(garbageDir, 'x', cap, { replace: false });
      } else {
        await grid.setChild(root, 'replaced', cap, { replace: true });
      }
    }
    await grid.close();
    await sleep(SHORT + 100);
    const run = startWorker(['gc', dir, SECRET.toString('hex'), root, String(SHORT)]);
    while (!run.lines.includes('started') && run.child.exitCode === null) await sleep(2);
    await sleep(Math.random() * 60);
    run.child.kill('SIGKILL');
    await run.exited;
    grid = await openGrid(dir);
    const db = new Database(join(dir, 'store.db'), { readonly: true });
    assert.equal(db.prepare("SELECT count(*) FROM meta WHERE key = 'gc_run'").pluck().get(), 0, 'opening cleared the dead run\'s flag');
    db.close();
    await checkLive(grid);
  }
  const last = await grid.collectGarbage({ roots: async () => [{ cap: root, where: 'root' }], graceMs: SHORT });
  assert.equal(last.complete, true, last.stopped);
  assert.equal(last.young.objects + last.young.dirs, 0, 'nothing unreachable is left');
  await checkLive(grid);
  assert.equal(last.reachable.dirs, 1 + 80, 'the root and its subdirectories');
  assert.equal(last.reachable.objects, 160 + 1, 'the live files and the last replacement');
  assert.deepEqual(readdirSync(join(dir, 'trash')), []);
  await grid.close();
});
