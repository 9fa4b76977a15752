// loadedOnce (src/util/native-addon.ts): an optional addon is looked for at the first call only,
// and a missing one is not looked for again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadedOnce } from '../../src/util/native-addon.js';

test('loadedOnce asks at the first call only and keeps the answer, null included', () => {
  let asked = 0;
  const missing = loadedOnce(() => {
    asked += 1;
    return null;
  });
  assert.equal(asked, 0, 'nothing is loaded before it is needed');
  assert.equal(missing(), null);
  assert.equal(missing(), null);
  assert.equal(asked, 1);
  const fn = () => 42;
  const present = loadedOnce(() => {
    asked += 1;
    return fn;
  });
  assert.equal(present(), fn);
  assert.equal(present(), fn);
  assert.equal(asked, 2);
});
