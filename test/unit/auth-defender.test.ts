import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { AuthError, DEFENDER_DEFAULTS, LoginDefender, addressKey, type AuthLogger, type DefenderOptions } from '../../src/auth/index.js';

const MIN = 60_000;

function make(opts: Partial<DefenderOptions> = {}) {
  const clock = { t: 1_700_000_000_000 };
  const warnings: string[] = [];
  const logger: AuthLogger = { info() {}, warn: (_o, m) => void warnings.push(m ?? ''), error() {} };
  const d = new LoginDefender({ now: () => clock.t, logger, ...opts });
  return { d, clock, warnings };
}

function fail(d: LoginDefender, addr: string, n: number, reason: 'bad-password' | 'unknown-user' | 'bad-key' = 'bad-password') {
  for (let i = 0; i < n; i++) d.recordFailure(addr, reason);
}

test('defaults: 5 wrong passwords ban an address for 5 minutes; 4 do not', () => {
  const { d, clock, warnings } = make();
  fail(d, '203.0.113.5', 4);
  assert.equal(d.admit('203.0.113.5'), true);
  d.release('203.0.113.5', false);
  d.recordFailure('203.0.113.5', 'unknown-user');
  assert.equal(d.admit('203.0.113.5'), false);
  assert.equal(d.admission('203.0.113.5'), 'banned');
  assert.equal(d.status('203.0.113.5').banUntil, clock.t + 5 * MIN);
  assert.match(warnings[0]!, /address banned/);
  clock.t += 5 * MIN - 1;
  assert.equal(d.admit('203.0.113.5'), false);
  clock.t += 1;
  assert.equal(d.admit('203.0.113.5'), true, 'the ban expires');
});

test('a correct login does not lift a ban, and another address is unaffected', () => {
  const { d } = make({ threshold: 6, scores: { ...DEFENDER_DEFAULTS.scores, 'bad-password': 2 } });
  fail(d, '198.51.100.1', 3);
  d.recordSuccess('198.51.100.1');
  assert.equal(d.isBanned('198.51.100.1'), true);
  assert.equal(d.admit('198.51.100.1'), false);
  assert.equal(d.admit('198.51.100.2'), true);
  // A success before the threshold does not reset the score either.
  fail(d, '198.51.100.3', 2);
  d.recordSuccess('198.51.100.3');
  fail(d, '198.51.100.3', 1);
  assert.equal(d.isBanned('198.51.100.3'), true);
});

test('IPv4-mapped IPv6 counts as the IPv4; IPv6 is grouped by /64 by default', () => {
  const { d } = make();
  fail(d, '::ffff:192.0.2.9', 2);
  fail(d, '192.0.2.9', 2);
  fail(d, '::FFFF:192.0.2.9', 1);
  assert.equal(d.admit('192.0.2.9'), false);
  assert.equal(d.admit('::ffff:192.0.2.9'), false);
  assert.equal(d.admit('::ffff:c000:209'), false, 'the hex spelling too');
  fail(d, '2001:db8:1:2::1', 3);
  fail(d, '2001:db8:1:2:aaaa:bbbb:cccc:dddd', 2);
  assert.equal(d.admit('2001:db8:1:2:ffff::1'), false, 'same /64');
  assert.equal(d.admit('2001:db8:1:3::1'), true, 'next /64');
  const exact = make({ ipv6Prefix: 128 }).d;
  fail(exact, '2001:db8::1', 5);
  assert.equal(exact.admit('2001:db8::2'), true);
  assert.equal(exact.admit('2001:db8:0:0::1'), false);
});

test('addressKey masks IPv6 correctly', () => {
  assert.equal(addressKey('2001:db8:aaaa:bbbb:cccc:dddd:eeee:ffff', 64), '2001:db8:aaaa:bbbb:0:0:0:0/64');
  assert.equal(addressKey('2001:db8:aaaa:bbbb:cccc::1', 56), '2001:db8:aaaa:bb00:0:0:0:0/56');
  assert.equal(addressKey('fe80::1%eth0', 128), 'fe80:0:0:0:0:0:0:1/128');
  assert.equal(addressKey('::1', 64), '0:0:0:0:0:0:0:0/64');
  assert.equal(addressKey('::ffff:10.0.0.1'), '10.0.0.1');
  assert.equal(addressKey('10.0.0.1'), '10.0.0.1');
  assert.equal(addressKey('/run/lafsd.sock'), '/run/lafsd.sock');
});

test('repeat offences ban longer (doubling, capped), and are forgotten after offence memory', () => {
  const { d, clock } = make({ banMs: MIN, banMaxMs: 5 * MIN, offenceMemoryMs: 60 * MIN });
  const a = '192.0.2.50';
  const lengths: number[] = [];
  for (let i = 0; i < 5; i++) {
    fail(d, a, 5);
    lengths.push(d.status(a).banUntil! - clock.t);
    clock.t = d.status(a).banUntil!;
    assert.equal(d.admit(a), true);
    d.release(a, false);
  }
  assert.deepEqual(lengths, [1, 2, 4, 5, 5].map((m) => m * MIN));
  assert.equal(d.status(a).offences, 5);
  clock.t += 61 * MIN;
  fail(d, a, 5);
  assert.equal(d.status(a).banUntil! - clock.t, MIN, 'a fresh start');
});

test('only failures within the observation window count', () => {
  const { d, clock } = make({ observationMs: 10 * MIN });
  const a = '192.0.2.60';
  for (let i = 0; i < 20; i++) {
    d.recordFailure(a, 'bad-password');
    clock.t += 3 * MIN; // at most 4 failures (12 points) inside any 10 minutes
  }
  assert.equal(d.isBanned(a), false);
  assert.ok(d.status(a).score <= 12);
  fail(d, a, 2);
  assert.equal(d.isBanned(a), true);
});

test('scores are per reason and configurable; zero-score reasons never ban; disabled means no bans', () => {
  const { d } = make({ scores: { ...DEFENDER_DEFAULTS.scores, 'bad-key': 0 } });
  fail(d, '192.0.2.70', 100, 'bad-key');
  assert.equal(d.isBanned('192.0.2.70'), false);
  d.recordFailure('192.0.2.71', 'too-many-attempts');
  d.recordFailure('192.0.2.71', 'too-many-attempts');
  assert.equal(d.status('192.0.2.71').score, 10);
  d.recordFailure('192.0.2.71', 'too-many-attempts');
  assert.equal(d.isBanned('192.0.2.71'), true);
  const off = make({ enabled: false }).d;
  fail(off, '192.0.2.72', 100);
  assert.equal(off.admit('192.0.2.72'), true);
});

test('the host table is bounded; under a flood, active bans outlive score-only entries', () => {
  const { d, clock } = make({ maxHosts: 100 });
  fail(d, '192.0.2.1', 5);
  assert.equal(d.isBanned('192.0.2.1'), true);
  for (let i = 0; i < 20_000; i++) {
    d.recordFailure(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, 'bad-password');
    assert.ok(d.trackedHosts <= 100);
    clock.t += 1;
  }
  assert.equal(d.isBanned('192.0.2.1'), true, 'the real ban survived the flood');
  // When everything is an active ban, the ones ending soonest go first.
  const full = make({ maxHosts: 10 });
  for (let i = 0; i < 30; i++) {
    full.clock.t += 1000;
    fail(full.d, `172.16.0.${i}`, 5);
    assert.ok(full.d.trackedHosts <= 10);
  }
  assert.equal(full.d.isBanned('172.16.0.29'), true);
  assert.equal(full.d.isBanned('172.16.0.0'), false);
  assert.ok(full.warnings.some((w) => /ban table full/.test(w)));
});

test('property: the table never exceeds its bound and admit never lets a banned address in', () => {
  const addr = fc.oneof(fc.ipV4(), fc.ipV6(), fc.ipV4().map((a) => `::ffff:${a}`));
  const op = fc.oneof(
    fc.record({ k: fc.constant('fail' as const), a: addr, r: fc.constantFrom('bad-password', 'unknown-user', 'bad-key', 'grace-timeout', 'too-many-attempts', 'protocol-error') as fc.Arbitrary<'bad-password'> }),
    fc.record({ k: fc.constant('tick' as const), ms: fc.integer({ min: 0, max: 20 * MIN }) }),
    fc.record({ k: fc.constant('admit' as const), a: addr }),
  );
  fc.assert(
    fc.property(fc.array(op, { maxLength: 300 }), (ops) => {
      const { d, clock } = make({ maxHosts: 20, maxStartupsPerAddress: 1000, maxStartups: { start: 1000, rate: 30, full: 1000 } });
      for (const o of ops) {
        if (o.k === 'fail') d.recordFailure(o.a, o.r);
        else if (o.k === 'tick') clock.t += o.ms;
        else {
          const banned = d.isBanned(o.a);
          const ok = d.admit(o.a);
          assert.equal(ok, !banned);
          if (ok) {
            d.release(o.a, false);
            d.closed(o.a);
          }
        }
        assert.ok(d.trackedHosts <= 20);
      }
    }),
    { numRuns: 200 },
  );
});

test('open connections, logged in or not: per-address and total caps, freed by closed()', () => {
  const { d } = make({ maxConnectionsPerAddress: 3, maxConnections: 5 });
  for (let i = 0; i < 3; i++) {
    assert.equal(d.admission('192.0.2.90'), 'ok');
    d.release('192.0.2.90', true); // logged in: no longer unauthenticated, still open
  }
  assert.equal(d.unauthenticatedConnections, 0);
  assert.equal(d.admission('192.0.2.90'), 'connections-per-address');
  assert.equal(d.admission('::ffff:192.0.2.90'), 'connections-per-address', 'mapped form counts for the same address');
  assert.equal(d.status('192.0.2.90').open, 3);
  assert.equal(d.admission('192.0.2.91'), 'ok');
  assert.equal(d.admission('192.0.2.92'), 'ok');
  assert.equal(d.admission('192.0.2.93'), 'connections', 'five open in total');
  d.closed('192.0.2.90');
  assert.equal(d.admission('192.0.2.93'), 'ok', 'one closed: room in total');
  assert.equal(d.admission('192.0.2.90'), 'connections', 'its address has room, the server has none');
  for (let i = 0; i < 10; i++) d.closed('192.0.2.90'); // extra closes are harmless
  assert.equal(d.status('192.0.2.90').open, 0);
  assert.equal(d.openConnections, 3);
  // A refused connection was not counted.
  assert.equal(d.status('192.0.2.93').open, 1);
});

test('open connections: 0 means no limit; a refusal for open connections does not use up the unauthenticated count', () => {
  const { d } = make({ maxConnectionsPerAddress: 0, maxConnections: 0, maxStartupsPerAddress: 1000, maxStartups: { start: 1000, rate: 30, full: 1000 } });
  for (let i = 0; i < 500; i++) assert.equal(d.admission('192.0.2.95'), 'ok');
  assert.equal(d.openConnections, 500);
  const { d: e } = make({ maxConnectionsPerAddress: 1 });
  assert.equal(e.admission('192.0.2.96'), 'ok');
  assert.equal(e.admission('192.0.2.96'), 'connections-per-address');
  assert.equal(e.unauthenticatedConnections, 1);
});

test('unauthenticated connections: per-address cap, released by release()', () => {
  const { d } = make({ maxStartupsPerAddress: 3 });
  for (let i = 0; i < 3; i++) assert.equal(d.admit('192.0.2.80'), true);
  assert.equal(d.admission('192.0.2.80'), 'per-address');
  assert.equal(d.admission('::ffff:192.0.2.80'), 'per-address', 'mapped form counts for the same address');
  assert.equal(d.admit('192.0.2.81'), true);
  d.release('192.0.2.80', true);
  assert.equal(d.admit('192.0.2.80'), true);
  assert.equal(d.unauthenticatedConnections, 4);
  for (let i = 0; i < 10; i++) d.release('192.0.2.80', false); // extra releases are harmless
  d.release('192.0.2.81', false);
  assert.equal(d.unauthenticatedConnections, 0);
  assert.equal(d.status('192.0.2.80').unauthenticated, 0);
});

test('unauthenticated connections: MaxStartups random early drop start:rate:full', () => {
  let r = 0;
  const { d } = make({ maxStartups: { start: 4, rate: 50, full: 8 }, maxStartupsPerAddress: 100, random: () => r });
  const addr = (i: number) => `10.1.0.${i}`;
  // Below start: always in, whatever the dice say.
  for (let i = 0; i < 4; i++) assert.equal(d.admit(addr(i)), true);
  // At start the drop chance is rate% (50); at start+2 it is 75%; at full, 100%.
  r = 0.49;
  assert.equal(d.admission(addr(10)), 'max-startups');
  r = 0.5;
  assert.equal(d.admit(addr(4)), true); // 5 connections now
  r = 0.74;
  assert.equal(d.admit(addr(5)), true); // p at 5 = 62.5 %
  assert.equal(d.admission(addr(11)), 'max-startups'); // p at 6 = 75 %
  r = 0.9999;
  assert.equal(d.admit(addr(6)), true);
  assert.equal(d.admit(addr(7)), true); // 8 = full now
  assert.equal(d.admission(addr(12)), 'max-startups');
  d.release(addr(0), true);
  r = 0;
  assert.equal(d.admit(addr(12)), false, 'at 7 of 8 the chance is 87.5 %');
  r = 0.9;
  assert.equal(d.admit(addr(12)), true);
});

test('1000 unauthenticated connections from many addresses: early drop keeps the count at full', () => {
  const { d } = make();
  let admitted = 0;
  for (let i = 0; i < 1000; i++) if (d.admit(`10.2.${i >> 8}.${i & 255}`)) admitted++;
  assert.equal(d.unauthenticatedConnections, admitted);
  assert.ok(admitted >= 10 && admitted <= 100, `admitted ${admitted}`);
});

// The max_startups text itself is parsed by the config layer (config-types.test.ts).
test('option validation', () => {
  assert.throws(() => new LoginDefender({ maxStartups: { start: 50, rate: 30, full: 10 } }), /max_startups needs/);
  assert.throws(() => new LoginDefender({ threshold: 0 }), /threshold must be a positive number/);
  assert.throws(() => new LoginDefender({ banMs: 10, banMaxMs: 5 }), /maximum ban time must be ≥ ban time/);
  assert.throws(() => new LoginDefender({ maxHosts: 0, ipv6Prefix: 129 }), (e: unknown) => e instanceof AuthError && e.problems.length === 2);
});
