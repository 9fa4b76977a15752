// When an idle lafsd collects its heap (src/util/idle-collection.ts): only after an idle
// interval, and only when enough has piled up since the last collection.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { DEFAULT_IDLE_COLLECTION, shouldCollect } from '../../src/util/idle-collection.js';

const opts = DEFAULT_IDLE_COLLECTION;

test('a busy interval never collects, whatever piled up', () => {
  fc.assert(
    fc.property(fc.double({ min: opts.idleUtilization, max: 1, noNaN: true }), fc.nat(), fc.nat(), (u, now, last) => !shouldCollect(u, now, last, opts)),
  );
});

test('an idle interval collects exactly when the growth since the last collection reaches the threshold', () => {
  fc.assert(
    fc.property(fc.double({ min: 0, max: opts.idleUtilization, maxExcluded: true, noNaN: true }), fc.nat(1 << 30), fc.integer({ min: -(1 << 26), max: 1 << 26 }), (u, last, growth) => {
      assert.equal(shouldCollect(u, last + growth, last, opts), growth >= opts.growthBytes);
    }),
  );
  assert.equal(shouldCollect(0, 100 + opts.growthBytes, 100, opts), true);
  assert.equal(shouldCollect(0, 99 + opts.growthBytes, 100, opts), false);
});
