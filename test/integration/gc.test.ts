// Garbage collection as an operator uses it: the real `lafsd gc` command on real node
// directories, with roots from the accounts file and the keep file. Grace periods are a second
// or two here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { lafsd, lafsdOk } from '../helpers/cli.js';
import { pseudoRandom, sha256 } from '../helpers/data.js';
import { tempDir } from '../helpers/tmp.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A fresh node (no server) with the given [lafsd] keys, and an account `alice`. */
async function newNode(lafsdKeys: string): Promise<{ base: string; root: string }> {
  const base = join(tempDir(), 'node');
  await lafsdOk(['init', base]);
  const cfg = join(base, 'tahoe.cfg');
  writeFileSync(cfg, readFileSync(cfg, 'utf8').replace(/^grid = embedded$/m, `grid = embedded\n${lafsdKeys}`));
  const root = (await lafsdOk(['add-user', base, 'alice', '--password', 'pw'])).stdout.toString().trim();
  return { base, root };
}

interface Line {
  dirs: number;
  entries: number;
  mutables: number;
  objects: number;
  bytes: number;
}

/** A counts line of `lafsd gc` output: `freed`, `would free`, `reachable` or `young`. */
function line(out: string, label: string): Line {
  const m = new RegExp(`^${label}:\\s+(\\d+) director(?:y|ies)(?: \\((\\d+) entr(?:y|ies)\\))?, (\\d+) mutable files?, (\\d+) objects?, (\\d+) bytes`, 'm').exec(out);
  assert.ok(m, `no "${label}" line in:\n${out}`);
  return { dirs: Number(m[1]), entries: Number(m[2] ?? 0), mutables: Number(m[3]), objects: Number(m[4]), bytes: Number(m[5]) };
}

function objectFiles(base: string): string[] {
  const dir = join(base, 'storage', 'objects');
  return readdirSync(dir).flatMap((p) => readdirSync(join(dir, p)).map((n) => join(dir, p, n)));
}

test('lafsd gc: a replaced file\'s space comes back after the grace period, not before; --dry-run changes nothing', async () => {
  const { base, root } = await newNode('gc.grace_period = 3s');
  const first = pseudoRandom('first', 1024 * 1024);
  await lafsdOk(['put', base, `${root}/f`], first);
  const second = pseudoRandom('second', 1024 * 1024);
  await lafsdOk(['put', base, `${root}/f`], second);
  const early = await lafsdOk(['gc', base]);
  assert.deepEqual(line(early.stdout.toString(), 'freed'), { dirs: 0, entries: 0, mutables: 0, objects: 0, bytes: 0 });
  assert.equal(line(early.stdout.toString(), 'young').objects, 1);
  assert.match(early.stdout.toString(), /^roots:\s+1 account, 0 kept caps, 0 account-service roots$/m);
  await sleep(3100);
  const filesBefore = objectFiles(base);
  const dry = await lafsdOk(['gc', base, '--dry-run']);
  assert.equal(line(dry.stdout.toString(), 'would free').objects, 1);
  assert.match(dry.stdout.toString(), /^dry run: +nothing was deleted$/m);
  assert.deepEqual(objectFiles(base), filesBefore);
  const real = await lafsdOk(['gc', base]);
  const freed = line(real.stdout.toString(), 'freed');
  assert.equal(freed.objects, 1);
  assert.ok(freed.bytes > 1024 * 1024, `${freed.bytes} bytes freed`);
  assert.deepEqual(freed, line(dry.stdout.toString(), 'would free'));
  assert.equal(objectFiles(base).length, filesBefore.length - 1);
  assert.equal(sha256((await lafsdOk(['get', base, `${root}/f`])).stdout), sha256(second));
  assert.doesNotMatch(real.stdout.toString() + real.stderr, /URI:/, 'gc never prints caps');
});

test('lafsd put and mkdir without a path keep what they print (the keep file); --no-keep does not', async () => {
  const { base } = await newNode('gc.grace_period = 1s');
  const kept = (await lafsdOk(['put', base], pseudoRandom('kept', 200_000))).stdout.toString().trim();
  const notKept = (await lafsdOk(['put', base, '--no-keep'], pseudoRandom('not-kept', 200_000))).stdout.toString().trim();
  const keptMutable = (await lafsdOk(['put', base, '--mutable'], pseudoRandom('kept-mutable', 5000))).stdout.toString().trim();
  const keptDir = (await lafsdOk(['mkdir', base])).stdout.toString().trim();
  await lafsdOk(['put', base, `${keptDir}/inside`], pseudoRandom('inside', 5000));
  const keepFile = readFileSync(join(base, 'private', 'gc-keep'), 'utf8');
  assert.equal(statSync(join(base, 'private', 'gc-keep')).mode & 0o777, 0o600, 'the keep file holds secrets');
  for (const cap of [kept, keptMutable, keptDir]) assert.ok(keepFile.includes(`${cap}  # lafsd`), 'kept');
  assert.ok(!keepFile.includes(notKept));
  await sleep(1100);
  const r = await lafsdOk(['gc', base]);
  assert.match(r.stdout.toString(), /^roots:\s+1 account, 3 kept caps, 0 account-service roots$/m);
  assert.equal(line(r.stdout.toString(), 'freed').objects, 1);
  assert.equal(sha256((await lafsdOk(['get', base, kept])).stdout), sha256(pseudoRandom('kept', 200_000)));
  assert.equal(sha256((await lafsdOk(['get', base, keptMutable])).stdout), sha256(pseudoRandom('kept-mutable', 5000)));
  assert.equal(sha256((await lafsdOk(['get', base, `${keptDir}/inside`])).stdout), sha256(pseudoRandom('inside', 5000)));
  const lost = await lafsd(['get', base, notKept]);
  assert.equal(lost.code, 1);
  // A keep file with a line that is not a cap stops gc, naming the line but not its text.
  writeFileSync(join(base, 'private', 'gc-keep'), `${keepFile}URI:CHK:broken-cap-text\n`);
  const broken = await lafsd(['gc', base]);
  assert.equal(broken.code, 1);
  assert.match(broken.stderr, /gc-keep:\d+: not a cap/);
  assert.doesNotMatch(broken.stderr, /broken-cap-text/);
});

test('lafsd gc on a node that uses a Tahoe-LAFS grid says that Tahoe\'s lease-based gc applies', async () => {
  const base = join(tempDir(), 'node');
  await lafsdOk(['init', base]);
  const cfg = join(base, 'tahoe.cfg');
  writeFileSync(cfg, readFileSync(cfg, 'utf8').replace(/^grid = embedded$/m, 'grid = webapi\nwebapi.url = http://127.0.0.1:9/'));
  const r = await lafsd(['gc', base]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /Tahoe-LAFS grid \(grid = webapi\): there Tahoe's own lease-based garbage collection applies/);
});
