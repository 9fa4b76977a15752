// Parts of caps the store returned, for tests that check how caps are made.
import assert from 'node:assert/strict';
import { parseCap } from '../../src/caps/index.js';

/** The read key of a CHK cap (fails the test for any other kind of cap). */
export function readKeyOf(cap: string): Buffer {
  const c = parseCap(cap);
  assert.equal(c.type, 'CHK');
  return (c as Extract<typeof c, { type: 'CHK' }>).key;
}
