import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatDf } from '../../src/ssh/df.js';

test('df output with Tahoe figures is byte-identical to Tahoe', () => {
  assert.equal(
    formatDf({ totalKiB: 628318530, usedKiB: 314159265, availKiB: 314159265 }),
    'Filesystem         1024-blocks      Used Available Capacity Mounted on\r\n' +
      'tahoe                628318530 314159265 314159265      50% /\r\n',
  );
});

test('df columns stay aligned under the header and never run together', () => {
  const [header, row] = formatDf({ totalKiB: 1048576, usedKiB: 262144, availKiB: 786432 }).split('\r\n');
  assert.equal(row, 'tahoe                  1048576    262144    786432      25% /');
  assert.equal(row!.length, header!.length - 'Mounted on'.length + 1);
  const huge = formatDf({ totalKiB: 12345678901234, usedKiB: 1234567890123, availKiB: 11111111011111 }).split('\r\n')[1]!;
  assert.deepEqual(huge.split(/ +/), ['tahoe', '12345678901234', '1234567890123', '11111111011111', '10%', '/']);
});

test('df capacity rounds up like POSIX df, and an empty store shows 0%', () => {
  const cap = (used: number, avail: number) => formatDf({ totalKiB: used + avail, usedKiB: used, availKiB: avail }).split('\r\n')[1]!.split(/ +/)[4];
  assert.equal(cap(1, 999), '1%');
  assert.equal(cap(999, 1), '100%');
  assert.equal(cap(0, 0), '0%');
  assert.equal(cap(0, 5), '0%');
});

test('df output has exactly two CRLF-terminated lines and no bare LF', () => {
  const out = formatDf({ totalKiB: 10, usedKiB: 5, availKiB: 5 });
  assert.equal(out.split('\r\n').length, 3);
  assert.equal(out.replace(/\r\n/g, '').includes('\n'), false);
  assert.ok(out.endsWith('\r\n'));
});

test('df treats negative, fractional and non-finite figures as whole non-negative numbers', () => {
  const row = formatDf({ totalKiB: 10.9, usedKiB: -3, availKiB: Number.NaN }).split('\r\n')[1]!;
  assert.deepEqual(row.split(/ +/), ['tahoe', '10', '0', '0', '0%', '/']);
});
