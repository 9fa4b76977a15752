// Which sessions change things lately (src/vfs/change-activity.ts): the embedded store syncs a
// commit on the event loop only while one session does.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ChangeActivity } from '../../src/vfs/index.js';
import { collectAll } from '../../src/util/scavenge.js';

test('one session changing things is alone; two within the window are not, until the window has passed', () => {
  let t = 1000;
  const changes = new ChangeActivity(100, () => t);
  const [a, b] = [{}, {}];
  assert.equal(changes.alone, true, 'nobody yet');
  changes.note(a);
  assert.equal(changes.alone, true, 'the first session to change anything');
  t += 500;
  changes.note(a);
  assert.equal(changes.alone, true, 'the same session again');
  changes.note(b);
  assert.equal(changes.alone, false, 'a second one');
  t += 60;
  changes.note(a);
  t += 99;
  assert.equal(changes.alone, false, 'each switch starts the window again');
  t += 1;
  assert.equal(changes.alone, true, 'a whole window with no other session');
  changes.note(a);
  assert.equal(changes.alone, true);
  // Changes side by side in one session: alone only while one runs.
  changes.begin(a);
  assert.equal(changes.alone, true, 'one change under way: the one that asks');
  changes.begin(a);
  assert.equal(changes.alone, false, 'two');
  changes.end();
  assert.equal(changes.alone, true);
  changes.end();
  assert.equal(changes.alone, true);
});

test('sessions that take turns at random: alone exactly when no other session changed anything within the window', () => {
  let t = 0;
  const changes = new ChangeActivity(100, () => t);
  const sessions = [{}, {}, {}];
  const history: { at: number; who: number }[] = [];
  for (let i = 0; i < 5000; i++) {
    t += Math.floor(Math.random() * 80);
    const who = Math.random() < 0.9 ? history.at(-1)?.who ?? 0 : Math.floor(Math.random() * 3);
    changes.note(sessions[who]!);
    history.push({ at: t, who });
    // A switch of sessions within the last 100 ms means two of them changed things side by side.
    let switched = false;
    for (let k = history.length - 1; k > 0 && t - history[k]!.at < 100; k--) switched ||= history[k]!.who !== history[k - 1]!.who;
    assert.equal(changes.alone, !switched, `step ${i}`);
  }
});

test('an ended session is not kept alive by having changed something last; the next one still opens the window', async () => {
  let t = 0;
  const changes = new ChangeActivity(100, () => t);
  let collected = false;
  // The registry must stay reachable itself, or it never calls back.
  const registry = new FinalizationRegistry<void>(() => (collected = true));
  ((): void => {
    const ended = { rootCap: 'held by the session' };
    registry.register(ended, undefined);
    changes.note(ended);
  })();
  // Finalizers run in a later task than the collection that found the object dead.
  let rounds = 0;
  for (; rounds < 50 && !collected; rounds++) {
    collectAll(false);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  assert.ok(collected, `the ended session was still reachable after ${rounds} collections`);
  t += 1000;
  changes.note({});
  assert.equal(changes.alone, false, 'another session changed something before this one');
});
