// The process-wide transfer memory budget (issue #11): many sessions cannot multiply memory;
// the sessions holding the most are slowed, never failed; light sessions are not held back.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { encodeRequest, OpenFlags } from '../../src/sftp/index.js';
import { MemoryBudget } from '../../src/util/memory-budget.js';
import { buildFixture } from '../helpers/fixture.js';
import { pseudoRandom } from '../helpers/data.js';
import { start } from '../helpers/sftp-session-harness.js';

test('a share is held back only when the process is over budget and it holds at least an equal part', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 1_000_000 }), fc.array(fc.integer({ min: 0, max: 400_000 }), { minLength: 1, maxLength: 12 }), (limit, held) => {
      const budget = new MemoryBudget(limit);
      const shares = held.map(() => budget.share());
      held.forEach((n, i) => shares[i]!.add(n));
      const total = held.reduce((a, b) => a + b, 0);
      assert.equal(budget.usedBytes, total);
      shares.forEach((s, i) => {
        assert.equal(s.over, total >= limit && held[i]! > 0 && held[i]! >= limit / shares.length);
      });
      if (total >= limit) assert.ok(shares.some((s) => s.over), 'someone holds at least an equal part');
      for (const s of shares) s.close();
      assert.equal(budget.usedBytes, 0);
    }),
  );
});

test('getting back under budget wakes the sessions that were waiting for room', () => {
  const budget = new MemoryBudget(100);
  const a = budget.share();
  const b = budget.share();
  let woken = 0;
  const stop = b.onRoom(() => woken++);
  a.add(150);
  assert.equal(a.over, true);
  assert.equal(b.over, false, 'b holds nothing');
  a.add(-60);
  assert.equal(woken, 1);
  a.add(20);
  a.add(-20);
  assert.equal(woken, 2);
  stop();
  a.add(50);
  a.add(-100);
  assert.equal(woken, 2, 'unsubscribed');
});

test('SFTP: a client that never reads its replies stops being read within the process budget; another session is still served', async () => {
  const budget = new MemoryBudget(3 * 1024 * 1024);
  const f = await buildFixture();
  const heavy = await start({ fixture: f, memory: budget.share() });
  const light = await start({ fixture: f, memory: budget.share() });
  await heavy.c.writeFile('big', pseudoRandom('budget', 1024 * 1024));
  const h = await heavy.c.open('big', OpenFlags.READ);
  heavy.c.stream.pause(); // the heavy client stops reading replies
  const ids = Array.from({ length: 400 }, () => heavy.c.allocId());
  const replies = ids.map((id) => heavy.c.replyTo(id));
  for (const [i, id] of ids.entries()) heavy.c.stream.write(encodeRequest({ type: 'read', id, handle: h, offset: (i * 65536) % (1024 * 1024), length: 65536 }));
  let peak = 0;
  for (let i = 0; i < 40; i++) {
    await new Promise((r) => setTimeout(r, 10));
    peak = Math.max(peak, budget.usedBytes);
  }
  assert.ok(heavy.session.outstanding < ids.length, 'the heavy session stopped reading requests');
  assert.ok(peak <= budget.limit + 2 * 262144, `held ${peak} bytes against a budget of ${budget.limit}`);
  // The light session is below its part: it is served at once.
  assert.equal((await light.c.stat('big')).size, 1024 * 1024);
  assert.deepEqual(await light.c.readFile('big'), pseudoRandom('budget', 1024 * 1024));
  // Once the heavy client reads again, every one of its requests is answered: slowed, not failed.
  heavy.c.stream.resume();
  const all = await Promise.all(replies);
  assert.ok(all.every((r) => r.type === 'data'), 'all READs answered with data');
  await heavy.c.ok({ type: 'close', handle: h });
  await light.end();
  await heavy.end();
  assert.equal(budget.usedBytes, 0, 'both sessions gave everything back');
});
