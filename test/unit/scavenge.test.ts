// scavenge() (src/util/scavenge.ts) frees dead Buffers that V8 alone would have kept: checked in a
// worker thread, with that thread's own array-buffer count. The collectAll() tests below rely on it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';

const MiB = 1024 * 1024;

// 24 MiB of dead 128 KiB Buffers: below the 32 MiB of young Buffers at which V8 scavenges by itself.
const WORKER = `
const { parentPort } = require('node:worker_threads');
const { randomBytes } = require('node:crypto');
const mib = () => process.memoryUsage().arrayBuffers / ${MiB};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
(async () => {
  const { scavenge } = await import(${JSON.stringify(new URL('../../src/util/scavenge.js', import.meta.url).href)});
  const report = {};
  for (let i = 0; i < 192; i++) randomBytes(128 * 1024);
  report.dead = mib();
  scavenge();
  for (let i = 0; i < 100 && mib() >= 4; i++) await sleep(20);
  report.afterScavenge = mib();
  for (let i = 0; i < 192; i++) randomBytes(128 * 1024);
  scavenge();
  for (let i = 0; i < 100 && mib() >= 4; i++) await sleep(20);
  report.afterSecond = mib();
  parentPort.postMessage(report);
})().catch((err) => parentPort.postMessage({ error: String(err && err.stack || err) }));
`;

/** Runs `code` in a worker thread and returns the numbers it posts (failing on the error it posts). */
async function workerReport(code: string): Promise<Record<string, number>> {
  const worker = new Worker(code, { eval: true });
  try {
    const report = await new Promise<Record<string, number | string>>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    assert.equal(report.error, undefined);
    return report as Record<string, number>;
  } finally {
    await worker.terminate();
  }
}

test('scavenge() frees the dead Buffers of the calling thread, which V8 left alone, every time it is called', async () => {
  const { dead, afterScavenge, afterSecond } = await workerReport(WORKER);
  // The control: the dead Buffers are there before the call. (Node 20's V8 keeps them until
  // 32 MiB, so there a scavenge() that does nothing fails this test; Node 24's may collect
  // them by itself on an idle thread, which the sealing worker seldom is.)
  assert.ok(dead! >= 20, `24 MiB of dead Buffers were already freed before scavenge(): ${dead} MiB`);
  assert.ok(afterScavenge! < 4, `${afterScavenge} MiB of array buffers left after scavenge()`);
  assert.ok(afterSecond! < 4, `${afterSecond} MiB left after the second scavenge()`);
});

// Objects that survive two scavenges are promoted; once dropped, only a full collection frees
// them. Node 20's V8 ignores gc({ type: 'major' }) (nothing is freed), so that call fails here.
const PROMOTED = `
const { parentPort } = require('node:worker_threads');
const { getHeapStatistics } = require('node:v8');
const mib = () => getHeapStatistics().used_heap_size / ${MiB};
(async () => {
  const { scavenge, collectAll } = await import(${JSON.stringify(new URL('../../src/util/scavenge.js', import.meta.url).href)});
  // V8 may run a full collection of its own meanwhile (a busy machine): then try again.
  let report = { dead: 0 };
  for (let attempt = 0; attempt < 5 && report.dead < 15; attempt++) {
    let keep = [];
    for (let i = 0; i < 400000; i++) keep.push({ i, s: 'x' + i });
    scavenge();
    scavenge(); // now in the old generation
    keep = null;
    scavenge();
    report = { dead: mib() };
  }
  collectAll();
  report.afterCollect = mib();
  parentPort.postMessage(report);
})().catch((err) => parentPort.postMessage({ error: String(err && err.stack || err) }));
`;

test('collectAll() frees promoted garbage that scavenges leave', async () => {
  const { dead, afterCollect } = await workerReport(PROMOTED);
  assert.ok(dead! >= 15, `the control: promoted garbage is there before collectAll(): ${dead} MiB`);
  assert.ok(afterCollect! < dead! - 10, `collectAll() left ${afterCollect} of ${dead} MiB`);
});

// A burst of small files leaves a few survivors on every page of the old generation. A plain
// full collection frees the garbage but keeps the pages (V8 evacuates only pages it finds mostly
// free, by the marking before): 110 of 122 MB stayed committed for 6 MB in use. collectAll()
// compacts, so the pages go back.
const FRAGMENTED = `
const { parentPort } = require('node:worker_threads');
const { getHeapSpaceStatistics } = require('node:v8');
// The old generation alone: the young one's size follows V8's own sizing of it.
const mib = (k) => getHeapSpaceStatistics().find((s) => s.space_name === 'old_space')[k] / ${MiB};
(async () => {
  const { scavenge, collectAll } = await import(${JSON.stringify(new URL('../../src/util/scavenge.js', import.meta.url).href)});
  const survivors = [];
  let keep = [];
  for (let r = 0; r < 40; r++) {
    const batch = [];
    for (let i = 0; i < 20000; i++) {
      const o = { i, s: 'x' + i, b: [i, i + 1] };
      batch.push(o);
      if (i % 50 === 0) survivors.push(o);
    }
    keep.push(batch);
    if (keep.length > 10) keep.shift();
    scavenge();
    scavenge(); // promoted, as the objects of files still in flight are
  }
  keep = null;
  const report = { committedBefore: mib('space_size'), usedBefore: mib('space_used_size') };
  collectAll();
  report.committedAfter = mib('space_size');
  report.usedAfter = mib('space_used_size');
  report.survivors = survivors.length;
  parentPort.postMessage(report);
})().catch((err) => parentPort.postMessage({ error: String(err && err.stack || err) }));
`;

test('collectAll() gives back the pages of an old generation that garbage left fragmented', async () => {
  const { committedBefore, usedBefore, committedAfter, usedAfter, survivors } = await workerReport(FRAGMENTED);
  assert.equal(survivors, 16000);
  assert.ok(usedBefore! >= 40, `the control: the garbage is in the heap before collectAll(): ${usedBefore} MiB used of ${committedBefore}`);
  assert.ok(usedAfter! < 15, `collectAll() left ${usedAfter} MiB in use`);
  assert.ok(committedAfter! < usedAfter! + 10, `collectAll() kept ${committedAfter} MiB committed for ${usedAfter} MiB in use (${committedBefore} before)`);
});

// V8 12 (Node 22, 24) keeps the pages a plain full collection frees in a pool, resident for 8 s or
// more: after a burst, the next one's memory came on top of them (bench/README.md). Checked in a
// child process of this Node with lafsd's V8 settings, by its RSS: the pool is the process's.
test('collectAll() gives the freed pages back to the system at once (no pool of them left resident)', async () => {
  const script = `
    const { collectAll } = await import(${JSON.stringify(new URL('../../src/util/scavenge.js', import.meta.url).href)});
    const mib = () => Math.round(process.memoryUsage.rss() / ${MiB});
    const base = mib();
    let garbage = [];
    for (let i = 0; i < 600000; i++) garbage.push({ a: i, b: 'x' + i, c: [i, i + 1] });
    const grown = mib();
    garbage = null;
    collectAll(false);
    await new Promise((r) => setTimeout(r, 300));
    console.log(JSON.stringify({ base, grown, after: mib() }));
  `;
  const { execFile } = await import('node:child_process');
  const stdout = await new Promise<string>((resolve, reject) =>
    execFile(process.execPath, ['--initial-old-space-size=128', '--max-semi-space-size=1', '--input-type=module', '-e', script], (err, out) => (err ? reject(err) : resolve(out))),
  );
  const { base, grown, after } = JSON.parse(stdout) as { base: number; grown: number; after: number };
  assert.ok(grown - base >= 60, `the control: the garbage took ${grown - base} MiB`);
  assert.ok(after - base < 25, `RSS ${after} MiB after collectAll(), ${base} before the garbage, ${grown} with it`);
});
