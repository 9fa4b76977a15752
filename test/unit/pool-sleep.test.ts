// The pool-sleep addon (native/pool-sleep, src/util/pool-sleep.ts): `npm install` builds it; a
// wait on it lasts at least what was asked, leaves the event loop serving, costs no CPU while it
// lasts, and takes one pool thread at most (the others wait on a timer).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { MAX_POOL_SLEEP_MICROS, POOL_SLEEP_ADDON, loadPoolSleep, poolSleepAvailable, poolSleepers, sleepOffLoop } from '../../src/util/pool-sleep.js';

const elapsedMicros = (since: bigint) => Number(process.hrtime.bigint() - since) / 1000;

test('the pool-sleep addon is built and loads on this machine', () => {
  assert.ok(existsSync(POOL_SLEEP_ADDON), `${POOL_SLEEP_ADDON} (npm install builds it)`);
  assert.ok(poolSleepAvailable());
  assert.equal(loadPoolSleep('/nonexistent/pool_sleep.node'), null);
});

test('sleepOffLoop waits at least what it is asked, sub-millisecond too, on the pool', async () => {
  for (const micros of [0, 200, 500, 1500]) {
    for (let i = 0; i < 20; i++) {
      const t0 = process.hrtime.bigint();
      const wait = sleepOffLoop(micros);
      assert.equal(poolSleepers(), 1, 'the wait sleeps on the pool');
      await wait;
      const took = elapsedMicros(t0);
      assert.ok(took >= micros, `${micros} µs asked, ${took.toFixed(0)} µs waited`);
    }
  }
  assert.equal(poolSleepers(), 0);
  // A 500 µs wait: far below what Node's timers can make sure of (setTimeout(2), 1-2 ms).
  const took: number[] = [];
  for (let i = 0; i < 20; i++) {
    const t0 = process.hrtime.bigint();
    await sleepOffLoop(500);
    took.push(elapsedMicros(t0));
  }
  took.sort((a, b) => a - b);
  // A timer would never wait less than 1 ms; the first quartile leaves room for a loaded machine.
  assert.ok(took[5]! < 1000, `first quartile of 500 µs waits: ${took[5]!.toFixed(0)} µs`);
});

test('while it sleeps, the event loop serves and the process uses no CPU for the wait', async () => {
  let turns = 0;
  let spinning = true;
  const spin = (async () => {
    while (spinning) {
      turns++;
      await new Promise((r) => setTimeout(r, 1));
    }
  })();
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  await sleepOffLoop(200_000);
  const wall = elapsedMicros(t0);
  const cpu = process.cpuUsage(cpu0);
  spinning = false;
  await spin;
  assert.ok(wall >= 200_000);
  assert.ok(turns >= 20, `the event loop ran ${turns} timer turns during 200 ms`);
  // A busy wait would cost ~200 ms of CPU; the timer turns above cost a few.
  assert.ok(cpu.user + cpu.system < 100_000, `${cpu.user + cpu.system} µs of CPU during a 200 ms wait`);
});

test('one sleep on the pool at a time; the others wait on a timer, as long at least', async () => {
  const t0 = process.hrtime.bigint();
  const long = sleepOffLoop(100_000);
  const others = [sleepOffLoop(500), sleepOffLoop(500), sleepOffLoop(3000)];
  assert.equal(poolSleepers(), 1);
  const t1 = process.hrtime.bigint();
  await Promise.all(others.slice(0, 2));
  assert.ok(elapsedMicros(t1) >= 500);
  await others[2];
  assert.ok(elapsedMicros(t1) >= 3000);
  assert.equal(poolSleepers(), 1, 'the long one still sleeps');
  await long;
  assert.ok(elapsedMicros(t0) >= 100_000);
  assert.equal(poolSleepers(), 0);
  await nextTurn();
});

test('sleepOffLoop and the addon refuse what is not a wait they can do', () => {
  for (const bad of [-1, NaN, MAX_POOL_SLEEP_MICROS + 1, Infinity]) assert.throws(() => sleepOffLoop(bad), RangeError, String(bad));
  const sleep = loadPoolSleep(POOL_SLEEP_ADDON)!;
  const call = sleep as unknown as (...args: unknown[]) => void;
  assert.throws(() => call(100), TypeError);
  assert.throws(() => call('100', () => {}), TypeError);
  assert.throws(() => call(-5, () => {}), TypeError);
  assert.throws(() => call(MAX_POOL_SLEEP_MICROS + 1, () => {}), TypeError);
  assert.throws(() => call(100, 'not a function'), TypeError);
});
