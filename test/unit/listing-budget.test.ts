// Directory entries held by open directory handles (src/vfs/listing-budget.ts): bounded per
// session and for the process; a session's first listing is always allowed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ListingBudget, VfsError } from '../../src/vfs/index.js';

test('a session may hold listings up to its bound, and always its first one', () => {
  const budget = new ListingBudget(1000, 100);
  const s = budget.share();
  const big = s.take(500); // the first listing, whatever its size
  assert.throws(() => s.take(1), (e: unknown) => e instanceof VfsError && e.code === 'TOO_MANY_OPEN_FILES' && /holds 500 directory entries.*at most 100/.test(e.message));
  big();
  big(); // giving back twice changes nothing
  assert.equal(s.heldEntries, 0);
  const a = s.take(60);
  s.take(40);
  assert.throws(() => s.take(1), /close some first/);
  a();
  s.take(60);
  assert.equal(budget.heldEntries, 100);
});

test('the process bound holds across sessions; a session ending gives everything back', () => {
  const budget = new ListingBudget(250, 100);
  const [s1, s2, s3] = [budget.share(), budget.share(), budget.share()];
  s1.take(100);
  s2.take(100);
  assert.throws(() => s3.take(60), /too many directory listings open/);
  s3.take(50);
  s2.close();
  assert.equal(budget.heldEntries, 150);
  s3.take(50);
  assert.equal(s3.heldEntries, 100);
});

test('random takes, gives and closes: the counts add up and the bounds hold but for first listings', () => {
  type Op = { kind: 'take'; share: number; n: number } | { kind: 'give'; pick: number } | { kind: 'close'; share: number };
  const op = fc.oneof(
    fc.record({ kind: fc.constant('take' as const), share: fc.nat(3), n: fc.nat(120) }),
    fc.record({ kind: fc.constant('give' as const), pick: fc.nat() }),
    fc.record({ kind: fc.constant('close' as const), share: fc.nat(3) }),
  );
  fc.assert(
    fc.property(fc.array(op, { maxLength: 200 }), (ops: Op[]) => {
      const budget = new ListingBudget(300, 100);
      const shares = [budget.share(), budget.share(), budget.share(), budget.share()];
      const gives: (() => void)[] = [];
      for (const o of ops) {
        if (o.kind === 'take') {
          const s = shares[o.share]!;
          const [before, total] = [s.heldEntries, budget.heldEntries];
          try {
            gives.push(s.take(o.n));
            // Allowed: within both bounds, or the session's first listing with the process under its bound or empty.
            assert.ok(before === 0 || before + o.n <= 100);
            assert.ok(total === 0 || total + o.n <= 300);
          } catch (err) {
            assert.ok(err instanceof VfsError && err.code === 'TOO_MANY_OPEN_FILES');
            assert.ok((before > 0 && before + o.n > 100) || (total > 0 && total + o.n > 300));
          }
        } else if (o.kind === 'give') {
          if (gives.length) gives[o.pick % gives.length]!();
        } else {
          shares[o.share]!.close();
        }
        assert.equal(budget.heldEntries, shares.reduce((sum, s) => sum + s.heldEntries, 0));
        assert.ok(shares.every((s) => s.heldEntries >= 0));
      }
    }),
  );
});
