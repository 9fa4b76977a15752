// The embedded store under load, in separate processes: a 1 GiB file streams in and out with
// bounded memory, and kill -9 of a writer at random moments leaves a consistent store in which
// everything acknowledged is intact.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EmbeddedGrid } from '../../src/grid/embedded/index.js';
import { tempDir } from '../helpers/tmp.js';
import { sha256 } from '../helpers/data.js';

const worker = fileURLToPath(new URL('../helpers/store-worker.js', import.meta.url));
const bigWorker = fileURLToPath(new URL('../helpers/store-big-worker.js', import.meta.url));
const SECRET = Buffer.alloc(32, 9);

test('a 1 GiB file streams in and out byte-identically with bounded memory', { timeout: 600_000 }, async () => {
  const dir = tempDir();
  const out = await new Promise<string>((resolve, reject) => {
    const child = spawn(process.execPath, [bigWorker, dir, String(1024 ** 3)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let text = '';
    child.stdout.on('data', (d: Buffer) => (text += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(text) : reject(new Error(`worker exited ${code}`))));
  });
  const result = JSON.parse(out) as { written: string; read: string; size: number; maxRssMiB: number; baselineRssMiB: number };
  assert.equal(result.size, 1024 ** 3);
  assert.equal(result.read, result.written, 'the bytes read back are the bytes written');
  // Memory must not grow with the file: the whole process stays far below the file size.
  assert.ok(result.maxRssMiB - result.baselineRssMiB < 128, `RSS grew by ${result.maxRssMiB - result.baselineRssMiB} MiB`);
  process.stdout.write(`# a 1 GiB file in and out of the store: RSS grew by ${result.maxRssMiB - result.baselineRssMiB} MiB\n`);
});

async function churnAndKill(dir: string, root: string, killAfterMs: number): Promise<Map<string, string>> {
  const acked = new Map<string, string>();
  await new Promise<void>((resolve, reject) => {
    const child = spawn(process.execPath, [worker, 'churn', dir, SECRET.toString('hex'), root], { stdio: ['ignore', 'pipe', 'inherit'] });
    let buf = '';
    child.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const [, name, hash] = buf.slice(0, nl).split(' ');
        buf = buf.slice(nl + 1);
        acked.set(name!, hash!);
      }
    });
    child.on('error', reject);
    child.on('exit', () => resolve());
    setTimeout(() => child.kill('SIGKILL'), killAfterMs);
  });
  return acked;
}

test('kill -9 of a writer at random moments leaves a consistent store with every acknowledged change', { timeout: 300_000 }, async () => {
  const dir = tempDir();
  let grid = await EmbeddedGrid.open({ storeDir: dir, convergenceSecret: SECRET });
  const root = await grid.createDirectory();
  await grid.close();
  const everAcked = new Map<string, string>();
  for (let round = 0; round < 6; round++) {
    const acked = await churnAndKill(dir, root, 400 + Math.floor(Math.random() * 1200));
    for (const [k, v] of acked) everAcked.set(k, v);
    grid = await EmbeddedGrid.open({ storeDir: dir, convergenceSecret: SECRET });
    const entries = new Map((await grid.list(root)).map((e) => [e.name, e]));
    for (const [name, hash] of acked) {
      const e = entries.get(name);
      assert.ok(e, `acknowledged ${name} is missing after kill -9 (round ${round})`);
      const r = await grid.openRead(e.node.cap);
      assert.equal(sha256(await r.read(0, r.size)), hash, `${name} content`);
      await r.close();
    }
    // Everything listed is readable: no entry points at a half-written object.
    for (const e of entries.values()) {
      const r = await grid.openRead(e.node.cap);
      await r.read(0, r.size);
      await r.close();
    }
    await grid.close();
  }
  assert.ok(everAcked.size > 10, `the writer made progress (${everAcked.size} acknowledged changes)`);
  // Reopening removed what the killed writers left in tmp/.
  grid = await EmbeddedGrid.open({ storeDir: dir, convergenceSecret: SECRET });
  const leftovers = readdirSync(join(dir, 'tmp')).flatMap((d) => readdirSync(join(dir, 'tmp', d)));
  assert.deepEqual(leftovers, []);
  await grid.close();
});
