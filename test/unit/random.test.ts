// Pooled random bytes (src/util/random.ts): every value fresh, whatever the sizes asked for and
// however many blocks are drawn, and each caller's bytes its own.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { randomBytesPooled, randomFillPooled } from '../../src/util/random.js';

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

test('pooled fill: exactly the range asked for, fresh bytes each time, invalid ranges refused as randomFillSync does', () => {
  const seen = new Set<string>();
  for (let i = 0; i < 5000; i++) {
    const size = [4, 7, 12, 19, 64, 255, 0][i % 7]!;
    const offset = i % 11;
    const buf = Buffer.alloc(offset + size + 5, 0xaa);
    assert.equal(randomFillPooled(buf, offset, size), buf);
    assert.ok(buf.subarray(0, offset).every((b) => b === 0xaa), 'before the range: untouched');
    assert.ok(buf.subarray(offset + size).every((b) => b === 0xaa), 'after the range: untouched');
    if (size >= 12) {
      const hex = buf.subarray(offset, offset + size).toString('hex');
      assert.ok(!seen.has(hex), `fill ${i} (${size} bytes) repeats an earlier one`);
      seen.add(hex);
    }
  }
  const view = new Uint32Array(8);
  randomFillPooled(view);
  assert.ok(view.some((x) => x !== 0), 'a whole typed array, by default');
  assert.throws(() => randomFillPooled(Buffer.alloc(4), 2, 3), RangeError);
  assert.throws(() => randomFillPooled(Buffer.alloc(4), -1), RangeError);
});

/** Packets ssh2 pads in a fresh process after `preload`, and how many went to node:crypto's randomFillSync. */
async function ssh2Padding(preload: string): Promise<{ calls: number; distinct: number }> {
  const script = `
    ${preload}
    const { createRequire } = await import('node:module');
    const require = createRequire(${JSON.stringify(import.meta.url)});
    const crypto = require('node:crypto');
    const original = crypto.randomFillSync;
    let calls = 0;
    crypto.randomFillSync = (...a) => { calls++; return original(...a); };
    const { NullCipher } = require('ssh2/lib/protocol/crypto.js');
    const cipher = new NullCipher(0, () => {});
    const pads = new Set();
    for (let i = 0; i < 200; i++) pads.add(cipher.allocPacket(50).subarray(55).toString('hex'));
    console.log(JSON.stringify({ calls, distinct: pads.size }));`;
  const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script]);
  return JSON.parse(stdout) as { calls: number; distinct: number };
}

test('ssh2 pads its packets from the pool once any module that loads ssh2 has loaded it (and from OpenSSL without)', async () => {
  for (const mod of ['server', 'auth', 'hostkeys']) {
    const url = new URL(`../../src/ssh/${mod}.js`, import.meta.url).href;
    const pooled = await ssh2Padding(`await import(${JSON.stringify(url)});`);
    assert.deepEqual(pooled, { calls: 0, distinct: 200 }, `through ${mod}.js`);
  }
  const plain = await ssh2Padding('');
  assert.deepEqual(plain, { calls: 200, distinct: 200 }, 'the check sees the calls when ssh2 loads on its own');
});
