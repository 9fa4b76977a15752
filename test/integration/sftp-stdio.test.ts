// The real OpenSSH `sftp` client against our SFTP session over stdio (`sftp -D`), no SSH layer:
// every command a user types, byte-exact transfers, and the extensions the client negotiates.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, mkdirSync, readFileSync, readdirSync, statSync, utimesSync, writeFileSync, createReadStream } from 'node:fs';
import { dirname, join } from 'node:path';
import { finished } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { readCapOf } from '../../src/caps/index.js';
import { EmbeddedGrid } from '../../src/grid/embedded/index.js';
import { streamChunks, sha256, pseudoRandom } from '../helpers/data.js';
import { readAll } from '../helpers/fixture.js';
import { tempDir } from '../helpers/tmp.js';
import { createHash } from 'node:crypto';

const HELPER = join(dirname(fileURLToPath(import.meta.url)), '../helpers/sftp-stdio.js');

const storeDir = tempDir('lafsd-sftp-stdio-store-');
const local = tempDir('lafsd-sftp-stdio-local-');
const secret = randomBytes(32);
const grid = await EmbeddedGrid.open({ storeDir, convergenceSecret: secret });
after(() => grid.close());

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Runs `sftp -b` with `lines` against a fresh session rooted at `root`. */
async function sftp(root: string, lines: string[], opts: { verbose?: boolean; timeoutMs?: number } = {}): Promise<Run> {
  const batch = join(local, `batch-${randomBytes(4).toString('hex')}`);
  writeFileSync(batch, lines.join('\n') + '\n');
  const args = ['-D', `${process.execPath} ${HELPER} ${storeDir} ${secret.toString('hex')} ${root}`, '-b', batch];
  if (opts.verbose) args.unshift('-vvv');
  const started = Date.now();
  const child = spawn('sftp', args, { cwd: local, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
  const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
  clearTimeout(timer);
  return { code, stdout, stderr, ms: Date.now() - started };
}

function ok(r: Run): Run {
  assert.equal(r.code, 0, `sftp failed:\n${r.stdout}\n${r.stderr}`);
  return r;
}

async function newRoot(): Promise<string> {
  return grid.createDirectory();
}

async function remote(root: string, path: string): Promise<Buffer> {
  let dir = root;
  const parts = path.split('/');
  for (const p of parts.slice(0, -1)) dir = (await grid.getChild(dir, p))!.node.cap;
  const e = await grid.getChild(dir, parts[parts.length - 1]!);
  assert.ok(e, `${path} exists`);
  return readAll(grid, e.node.cap);
}

async function fileSha(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}

test('the client negotiates every extension we advertise and sizes requests from limits@openssh.com', async () => {
  const root = await newRoot();
  const r = ok(await sftp(root, ['pwd'], { verbose: true }));
  for (const [name, rev] of [
    ['posix-rename@openssh.com', 1], ['statvfs@openssh.com', 2], ['fstatvfs@openssh.com', 2], ['hardlink@openssh.com', 1],
    ['fsync@openssh.com', 1], ['limits@openssh.com', 1], ['expand-path@openssh.com', 1], ['copy-data', 1],
  ] as const) {
    assert.match(r.stderr, new RegExp(`Server supports extension "${name}" revision ${rev}`), name);
  }
  assert.match(r.stderr, /server upload\/download buffer sizes 261120 \/ 261120; using 261120 \/ 261120/);
  assert.match(r.stdout, /Remote working directory: \/\n/);
});

test('put/get byte-identical (small, empty, 64 MiB), ls -l, mkdir/rmdir, rename, cp', async () => {
  const root = await newRoot();
  const big = join(local, 'big.bin');
  const out = createWriteStream(big);
  for (const c of streamChunks('big', 64 * 1024 * 1024)) if (!out.write(c)) await new Promise<void>((r) => out.once("drain", () => r()));
  out.end();
  await finished(out);
  writeFileSync(join(local, 'small.txt'), 'hello world\n');
  writeFileSync(join(local, 'empty'), '');
  const r = ok(await sftp(root, [
    'put big.bin', 'put small.txt', 'put empty', 'mkdir d', 'mkdir d/e', 'rmdir d/e', 'rename small.txt d/moved.txt',
    'cp big.bin d/copy.bin', 'ls -l', 'ls -l d', 'get big.bin big.back', 'get d/moved.txt moved.back', 'get empty empty.back',
  ], { timeoutMs: 120_000 }));
  assert.equal(await fileSha(join(local, 'big.back')), sha256(streamChunks('big', 64 * 1024 * 1024)));
  assert.equal(readFileSync(join(local, 'moved.back'), 'utf8'), 'hello world\n');
  assert.equal(statSync(join(local, 'empty.back')).size, 0);
  assert.match(r.stdout, /-rw-rw-rw- +1 tahoe +tahoe +67108864 .* big\.bin\n/);
  assert.match(r.stdout, /drwxrwxrwx +1 tahoe +tahoe +0 .* d\n/);
  assert.match(r.stdout, /-rw-rw-rw- +1 tahoe +tahoe +12 .* moved\.txt\n/);
  assert.doesNotMatch(r.stdout, / e\n/);
  const d = (await grid.getChild(root, 'd'))!.node.cap;
  assert.equal((await grid.getChild(d, 'copy.bin'))!.node.cap, (await grid.getChild(root, 'big.bin'))!.node.cap, 'cp of a whole file is a relink (copy-data)');
  assert.equal(await grid.getChild(root, 'small.txt'), undefined);
});

test('rename onto an existing name replaces it (posix-rename is used); chmod 444 refuses a later put', async () => {
  const root = await newRoot();
  writeFileSync(join(local, 'a'), 'AAA');
  writeFileSync(join(local, 'b'), 'BBB');
  ok(await sftp(root, ['put a', 'put b', 'rename a b', 'chmod 444 b']));
  assert.equal((await remote(root, 'b')).toString(), 'AAA');
  assert.equal(await grid.getChild(root, 'a'), undefined);
  const r = await sftp(root, ['-put a b', 'ls -l b']);
  assert.match(r.stderr, /Permission denied/);
  assert.match(r.stdout, /-r--r--r-- .* b\n/);
  assert.equal((await remote(root, 'b')).toString(), 'AAA', 'unchanged');
  ok(await sftp(root, ['chmod 644 b', 'put b b']));
  assert.equal((await remote(root, 'b')).toString(), 'BBB');
});

test('ln makes a hardlink (same cap), df -h shows the store, ln -s is refused', async () => {
  const root = await newRoot();
  writeFileSync(join(local, 'target'), pseudoRandom('ln', 5000));
  const r = await sftp(root, ['put target', 'ln target linked', 'df -h', 'df -i', '-ln -s target sym']);
  assert.equal((await grid.getChild(root, 'linked'))!.node.cap, (await grid.getChild(root, 'target'))!.node.cap);
  assert.match(r.stdout, /Size +Used +Avail +\(root\) +%Capacity\n +[\d.]+[KMGTP]?B/);
  assert.match(r.stdout, /Inodes +Used +Avail +\(root\) +%Capacity\n +200000000 +100000000 +100000000/);
  assert.match(r.stderr, /(not supported|Operation unsupported)/i);
  assert.equal(await grid.getChild(root, 'sym'), undefined);
});

test('reput and reget resume transfers; put -p and get -p keep times', async () => {
  const root = await newRoot();
  const data = pseudoRandom('resume', 3 * 1024 * 1024 + 123);
  writeFileSync(join(local, 'half'), data.subarray(0, 1024 * 1024 + 7));
  writeFileSync(join(local, 'full'), data);
  ok(await sftp(root, ['put half resumed', 'reput full resumed']));
  assert.deepEqual(await remote(root, 'resumed'), data);
  writeFileSync(join(local, 'partial'), data.subarray(0, 2 * 1024 * 1024 + 1));
  ok(await sftp(root, ['reget resumed partial']));
  assert.deepEqual(readFileSync(join(local, 'partial')), data);

  const when = new Date('2001-02-03T04:05:06Z');
  writeFileSync(join(local, 'timed'), 'old file');
  utimesSync(join(local, 'timed'), when, when);
  const r = ok(await sftp(root, ['put -p timed', 'ls -l timed', 'get -p timed timed.back']));
  assert.match(r.stdout, /Feb +0?3 +2001 timed\n/);
  assert.equal(statSync(join(local, 'timed.back')).mtime.getTime(), when.getTime());
});

test('UTF-8 names round trip, NFC-normalised', async () => {
  const root = await newRoot();
  const name = 'grüße ☃ 日本.txt';
  mkdirSync(join(local, 'utf'), { recursive: true });
  writeFileSync(join(local, 'utf', name), 'unicode');
  const r = ok(await sftp(root, [`put "utf/${name}"`, 'ls -l', `get "${name}" utf.back`]));
  assert.ok(r.stdout.includes(name));
  assert.equal(readFileSync(join(local, 'utf.back'), 'utf8'), 'unicode');
  assert.deepEqual((await grid.list(root)).map((e) => e.name), [name.normalize('NFC')]);
});

test('a 1,000-file batch', async () => {
  const root = await newRoot();
  const dir = join(local, 'many');
  mkdirSync(dir, { recursive: true });
  for (let i = 0; i < 1000; i++) writeFileSync(join(dir, `f${String(i).padStart(4, '0')}`), pseudoRandom(`m${i}`, 4096));
  const lines = ['mkdir many', ...readdirSync(dir).map((n) => `put many/${n} many/${n}`)];
  const r = ok(await sftp(root, lines, { timeoutMs: 120_000 }));
  const many = (await grid.getChild(root, 'many'))!.node.cap;
  const entries = await grid.list(many);
  assert.equal(entries.length, 1000);
  assert.deepEqual(await readAll(grid, (await grid.getChild(many, 'f0999'))!.node.cap), pseudoRandom('m999', 4096));
  const back = join(local, 'many.back');
  mkdirSync(back, { recursive: true });
  ok(await sftp(root, [`lcd ${back}`, 'get -r many']));
  assert.equal(readdirSync(join(back, 'many')).length, 1000);
  assert.deepEqual(readFileSync(join(back, 'many', 'f0500')), pseudoRandom('m500', 4096));
  process.stdout.write(`# 1,000 × 4 KiB puts in ${r.ms} ms\n`);
});

test('a read-only root: every change is refused, reading works', async () => {
  const root = await newRoot();
  writeFileSync(join(local, 'ro'), 'read only');
  ok(await sftp(root, ['put ro', 'mkdir dir']));
  const r = await sftp(readCapOf(root), ['get ro ro.back', '-put ro ro2', '-mkdir x', '-rm ro', '-rmdir dir', '-rename ro r2', '-chmod 444 ro', '-ln ro l', 'ls -l']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(readFileSync(join(local, 'ro.back'), 'utf8'), 'read only');
  assert.equal((r.stderr.match(/Permission denied/g) ?? []).length, 7, r.stderr);
  assert.deepEqual((await grid.list(root)).map((e) => e.name).sort(), ['dir', 'ro']);
});
