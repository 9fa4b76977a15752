// copyPlain (src/util/copy.ts): a deep copy of plain data, fuzzed against random values.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyPlain } from '../../src/util/copy.js';

function randomValue(depth: number): unknown {
  const pick = Math.floor(Math.random() * (depth > 3 ? 5 : 7));
  switch (pick) {
    case 0: return null;
    case 1: return Math.random() * 1e6 - 5e5;
    case 2: return Math.random().toString(36).slice(2);
    case 3: return Math.random() < 0.5;
    case 4: return undefined;
    case 5: return Array.from({ length: Math.floor(Math.random() * 4) }, () => randomValue(depth + 1));
    default: {
      const o: Record<string, unknown> = {};
      for (let i = Math.floor(Math.random() * 5); i > 0; i--) o[`k${Math.floor(Math.random() * 100)}`] = randomValue(depth + 1);
      return o;
    }
  }
}

/** Every object and array reachable from `v`. */
function containers(v: unknown, out: object[] = []): object[] {
  if (v !== null && typeof v === 'object') {
    out.push(v);
    for (const child of Object.values(v)) containers(child, out);
  }
  return out;
}

test('copyPlain: equal to the original, sharing no object or array with it (1,000 random values)', () => {
  for (let i = 0; i < 1000; i++) {
    const original = randomValue(0);
    const copy = copyPlain(original);
    assert.deepStrictEqual(copy, original);
    const mine = new Set(containers(original));
    for (const c of containers(copy)) assert.ok(!mine.has(c), 'a shared object');
  }
});

test('copyPlain: a directory entry changed by its receiver leaves the original as it was', () => {
  const entry = { name: 'f', node: { kind: 'file', cap: 'URI:LIT:', size: 0 }, metadata: { mtime: 1, tahoe: { linkcrtime: 2 } } };
  const copy = copyPlain(entry);
  copy.metadata.tahoe.linkcrtime = 9;
  delete (copy.metadata as { mtime?: number }).mtime;
  copy.node.size = 5;
  assert.deepStrictEqual(entry, { name: 'f', node: { kind: 'file', cap: 'URI:LIT:', size: 0 }, metadata: { mtime: 1, tahoe: { linkcrtime: 2 } } });
});
