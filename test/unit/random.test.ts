// Pooled random bytes (src/util/random.ts): every value fresh, whatever the sizes asked for and
// however many blocks are drawn, and each caller's bytes its own.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytesPooled } from '../../src/util/random.js';

test('pooled random bytes: the lengths asked for, never one value twice across many blocks, bytes that look random', () => {
  const seen = new Set<string>();
  const counts = new Array<number>(256).fill(0);
  let total = 0;
  for (let i = 0; i < 20_000; i++) {
    const n = [12, 16, 32, 7, 64, 1000][i % 6]!; // sizes that straddle the block's end, and one above the pooled sizes
    const b = randomBytesPooled(n);
    assert.equal(b.length, n);
    if (n >= 12) {
      const hex = b.toString('hex');
      assert.ok(!seen.has(hex), `value ${i} (${n} bytes) was handed out before`);
      seen.add(hex);
    }
    for (const byte of b) counts[byte]!++;
    total += n;
  }
  // ~1.9 MB drawn: each byte value ~7,300 times; a pool handing out zeros or reused bytes skews this.
  const expected = total / 256;
  for (const [value, count] of counts.entries()) assert.ok(Math.abs(count - expected) < expected * 0.1, `byte ${value}: ${count} times, ~${expected.toFixed(0)} expected`);
});

test('pooled random bytes: a caller changing its bytes changes nobody else\'s', () => {
  const a = randomBytesPooled(32);
  const copy = Buffer.from(a);
  const b = randomBytesPooled(32);
  a.fill(0);
  assert.notDeepEqual(b, Buffer.alloc(32));
  assert.notDeepEqual(copy, Buffer.alloc(32));
  assert.equal(b.buffer === a.buffer && b.byteOffset === a.byteOffset, false);
});
