// scavenge() (src/util/scavenge.ts) frees dead Buffers that V8 alone would have kept: checked in a
// worker thread, as the sealing worker uses it, with that thread's own array-buffer count.
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

test('scavenge() frees the dead Buffers of the calling thread, which V8 left alone, every time it is called', async () => {
  const worker = new Worker(WORKER, { eval: true });
  try {
    const report = await new Promise<Record<string, number | string>>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    assert.equal(report.error, undefined);
    const { dead, afterScavenge, afterSecond } = report as Record<string, number>;
    // The control: the dead Buffers are there before the call. (Node 20's V8 keeps them until
    // 32 MiB, so there a scavenge() that does nothing fails this test; Node 24's may collect
    // them by itself on an idle thread, which the sealing worker seldom is.)
    assert.ok(dead! >= 20, `24 MiB of dead Buffers were already freed before scavenge(): ${dead} MiB`);
    assert.ok(afterScavenge! < 4, `${afterScavenge} MiB of array buffers left after scavenge()`);
    assert.ok(afterSecond! < 4, `${afterSecond} MiB left after the second scavenge()`);
  } finally {
    await worker.terminate();
  }
});
