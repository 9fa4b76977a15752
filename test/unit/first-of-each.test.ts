// The per-connection bound on log lines a client can cause at will.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FirstOfEach } from '../../src/util/first-of-each.js';

test('the first of each message is logged at its level with its own fields; the others are only counted', () => {
  const lines: string[] = [];
  const log = new FirstOfEach({ info: (o, m) => lines.push(`info ${m} ${JSON.stringify(o)}`), warn: (o, m) => lines.push(`warn ${m} ${JSON.stringify(o)}`) });
  assert.deepEqual(log.summary(), {}, 'nothing noted: nothing for the closing line');
  const counts = new Map<string, number>();
  const first = new Map<string, number>();
  for (let i = 0; i < 1000; i++) {
    const msg = ['forwarding refused', 'request refused', 'PORT refused'][Math.floor(Math.random() ** 2 * 3)]!;
    counts.set(msg, (counts.get(msg) ?? 0) + 1);
    if (!first.has(msg)) first.set(msg, i);
    log.note(msg === 'PORT refused' ? 'warn' : 'info', { i }, msg);
  }
  const expected = [...first].map(([msg, i]) => `${msg === 'PORT refused' ? 'warn' : 'info'} ${msg} {"i":${i}}`);
  assert.deepEqual(lines, expected);
  assert.deepEqual(log.summary(), { refused: Object.fromEntries(counts) });
});
