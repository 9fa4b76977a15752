// Every value type is tested here directly, so a type is correct on the day a key needs it; the
// ones keys use are also covered through the loader (config.test.ts, auth-config-keys.test.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import * as t from '../../src/config/types.js';

const ctx = { basedir: '/b' };
const value = <T>(type: t.ValueType<T>, raw: string): T => {
  const r = type.parse(raw, ctx);
  assert.ok(r.ok, `${raw}: ${r.ok ? '' : r.problem}`);
  return r.value;
};
const problem = <T>(type: t.ValueType<T>, raw: string): string => {
  const r = type.parse(raw, ctx);
  assert.ok(!r.ok, `${raw} should be refused`);
  return r.problem;
};

test('duration: bare seconds, s, m, h (any case) in milliseconds', () => {
  const d = t.duration();
  assert.equal(value(d, '30'), 30_000);
  assert.equal(value(d, '30s'), 30_000);
  assert.equal(value(d, '5m'), 300_000);
  assert.equal(value(d, '1h'), 3_600_000);
  assert.equal(value(d, '2H'), 7_200_000);
  assert.equal(value(d, '10 m'), 600_000);
  assert.equal(value(d, '0'), 0);
  for (const bad of ['', 'h', '1d', '-1', '1.5h', '30ms', 's30', '1h30m', '1e3']) {
    assert.equal(problem(d, bad), `${JSON.stringify(bad)} is not a duration; use e.g. 30s, 5m or 1h`);
  }
  const limited = t.duration({ minMs: 1000, maxMs: 3_600_000 });
  assert.equal(problem(limited, '0'), '"0" is out of range 1s to 1h');
  assert.equal(problem(limited, '61m'), '"61m" is out of range 1s to 1h');
  assert.equal(value(limited, '60m'), 3_600_000);
});

test('integer: positive, within min and max', () => {
  const i = t.integer({ min: 1, max: 100 });
  assert.equal(i.doc, 'integer 1-100');
  assert.equal(value(i, '1'), 1);
  assert.equal(value(i, '100'), 100);
  assert.equal(value(i, '007'), 7);
  for (const bad of ['0', '101', '-1', '1.5', '', ' 5', '1e2', '0x10', 'ten']) {
    assert.equal(problem(i, bad), `${JSON.stringify(bad)} is not an integer from 1 to 100`);
  }
  // min is never below 1: the type is for counts and sizes.
  const any = t.integer({ min: -5 });
  assert.equal(any.doc, 'integer >= 1');
  assert.equal(problem(any, '0'), '"0" is not an integer from 1 to up');
  assert.equal(value(any, '123456789012345'), 123456789012345);
});

test('number: 0 allowed, fractions unless integer, within min and max', () => {
  const n = t.number({ max: 1000 });
  assert.equal(n.doc, 'number 0-1000');
  assert.equal(value(n, '0'), 0);
  assert.equal(value(n, '2.5'), 2.5);
  assert.equal(value(n, '1000'), 1000);
  for (const bad of ['-1', '1001', '', '.5', '5.', '1e2', ' 3', 'three', '0x10']) {
    assert.equal(problem(n, bad), `${JSON.stringify(bad)} is not a number from 0 to 1000`);
  }
  const i = t.number({ integer: true, max: 10 });
  assert.equal(i.doc, 'integer 0-10');
  assert.equal(value(i, '0'), 0);
  assert.equal(problem(i, '1.5'), '"1.5" is not an integer from 0 to 10');
  assert.equal(t.number({ min: 1 }).doc, 'number >= 1');
  assert.equal(problem(t.number({ min: 1 }), '0.5'), '"0.5" is not a number from 1 to up');
});

test('max startups: start:rate:full, or one number as a hard limit', () => {
  assert.deepEqual(value(t.maxStartups, '10:30:100'), { start: 10, rate: 30, full: 100 });
  assert.deepEqual(value(t.maxStartups, '20'), { start: 20, rate: 100, full: 20 });
  assert.deepEqual(value(t.maxStartups, '1:0:1'), { start: 1, rate: 0, full: 1 });
  for (const bad of ['', '10:30', 'a:b:c', '10:30:100:5', ' 10', '-1']) {
    assert.equal(problem(t.maxStartups, bad), `${JSON.stringify(bad)} is not start:rate:full (e.g. 10:30:100) or a single number`);
  }
  for (const bad of ['10:130:100', '50:30:10', '0:30:100', '0']) {
    assert.equal(problem(t.maxStartups, bad), `${JSON.stringify(bad)} needs 1 <= start <= full and rate (a percentage) at most 100`);
  }
});

test('string, enum and ip address types', () => {
  assert.equal(value(t.string, ''), '');
  assert.equal(value(t.string, 'a b'), 'a b');
  const e = t.oneOf('a', 'b');
  assert.equal(e.doc, 'a | b');
  assert.equal(value(e, 'b'), 'b');
  assert.equal(problem(e, 'A'), `"A" is not one of 'a', 'b'`);
  assert.equal(value(t.ipAddress, '::'), '::');
  assert.equal(problem(t.ipAddress, '1.2.3'), '"1.2.3" is not an IPv4 or IPv6 address');
});

test('url keeps the text as written and refuses other schemes', () => {
  assert.equal(value(t.url, 'http://127.0.0.1:3456'), 'http://127.0.0.1:3456');
  assert.equal(value(t.url, 'HTTPS://Example.com/login?x=1'), 'HTTPS://Example.com/login?x=1');
  assert.equal(problem(t.url, 'file:///etc/passwd'), '"file:///etc/passwd" is not an http:// or https:// URL');
  assert.equal(problem(t.url, ''), '"" is not a URL; use http://HOST[:PORT]/... or https://...');
});

test('path refuses NUL characters', () => {
  assert.equal(problem(t.path, 'a\0b'), '"a\\u0000b" is not a path: it contains a NUL character');
});

test('fuzz: every type either parses or returns a problem; never throws', () => {
  const types: t.ValueType<unknown>[] = [
    t.boolean, t.endpoint, t.path, t.url, t.oneOf('x', 'y'), t.integer({ max: 9 }), t.duration(), t.portRange, t.ipAddress, t.string,
    t.number(), t.number({ integer: true, max: 9 }), t.maxStartups,
  ];
  fc.assert(fc.property(fc.string({ maxLength: 40 }), (raw) => {
    for (const type of types) {
      const r = type.parse(raw, ctx);
      if (!r.ok) assert.ok(r.problem.includes(JSON.stringify(raw)) || raw === '', `${type.doc}: ${r.problem}`);
    }
  }), { numRuns: 1000 });
});

test('size: bytes, or binary units K M G T P (any case, optional B or iB), within range', () => {
  const s = t.byteSize();
  assert.equal(value(s, '0'), 0);
  assert.equal(value(s, '1048576'), 1048576);
  assert.equal(value(s, '64K'), 64 * 1024);
  assert.equal(value(s, '64k'), 64 * 1024);
  assert.equal(value(s, '100M'), 100 * 1024 ** 2);
  assert.equal(value(s, '64MiB'), 64 * 1024 ** 2);
  assert.equal(value(s, '10GB'), 10 * 1024 ** 3);
  assert.equal(value(s, '1T'), 1024 ** 4);
  assert.equal(value(s, '2 P'), 2 * 1024 ** 5);
  assert.equal(value(s, '12B'), 12);
  for (const bad of ['', 'M', '1.5G', '-1', '1E', '1 iB', '1iB', '10X', '1e9', '999999999999999P']) {
    assert.equal(problem(s, bad), `${JSON.stringify(bad)} is not a size; use bytes or a unit, e.g. 64M, 100G or 1T`, bad);
  }
  assert.match(problem(t.byteSize({ min: 1 }), '0'), /out of range 1 to/);
  assert.match(problem(t.byteSize({ max: 1024 }), '2K'), /out of range 0 to 1024 bytes/);
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 2 ** 30 }), fc.constantFrom('', 'K', 'M', 'G'), (n, unit) => {
      const expected = n * { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 }[unit]!;
      assert.equal(t.parseByteSize(`${n}${unit}`), Number.isSafeInteger(expected) ? expected : undefined);
    }),
  );
});
