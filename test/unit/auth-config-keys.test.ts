import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AUTH_CONFIG_KEYS, AuthError, DEFENDER_DEFAULTS, URL_DEFAULTS, parseDuration, resolveAuthSection } from '../../src/auth/index.js';

test('an empty [auth] section gives exactly the code defaults (the table cannot drift)', () => {
  const r = resolveAuthSection({});
  assert.deepEqual(r.defender, DEFENDER_DEFAULTS);
  assert.deepEqual(r.url, URL_DEFAULTS);
  assert.equal(r.passwordHash, 'scrypt');
  assert.equal(r.watchAccountsFile, true);
  assert.equal(r.maxAuthTries, 6);
  assert.equal(r.loginGraceMs, 120_000);
});

test('every key is documented, typed and unique', () => {
  const names = AUTH_CONFIG_KEYS.map((k) => k.name);
  assert.equal(new Set(names).size, names.length);
  for (const k of AUTH_CONFIG_KEYS) {
    assert.ok(k.doc.length > 10, k.name);
    assert.match(k.name, /^[a-z0-9_.]+$/);
  }
});

test('values are parsed: durations, booleans (Tahoe spellings), max_startups, scores', () => {
  const r = resolveAuthSection({
    'accounts.url.timeout': '2.5s',
    'accounts.url.cache_ttl': '0',
    'accounts.watch': 'Off',
    'defender.enabled': 'YES',
    'defender.ban_time': '90',
    'defender.ban_time_max': '2h',
    'defender.score.bad_key': '0',
    'defender.ipv6_prefix': '128',
    max_startups: '5:50:20',
    password_hash: 'argon2id',
  });
  assert.equal(r.url.timeoutMs, 2500);
  assert.equal(r.url.cacheTtlMs, 0);
  assert.equal(r.watchAccountsFile, false);
  assert.equal(r.defender.enabled, true);
  assert.equal(r.defender.banMs, 90_000);
  assert.equal(r.defender.banMaxMs, 7_200_000);
  assert.equal(r.defender.scores['bad-key'], 0);
  assert.equal(r.defender.scores['bad-password'], 3);
  assert.equal(r.defender.ipv6Prefix, 128);
  assert.deepEqual(r.defender.maxStartups, { start: 5, rate: 50, full: 20 });
  assert.equal(r.passwordHash, 'argon2id');
  assert.equal(parseDuration('500ms'), 500);
  assert.equal(parseDuration('5m'), 300_000);
  assert.equal(parseDuration('5 minutes'), undefined);
});

test('all bad and unknown keys are reported together', () => {
  let err: unknown;
  try {
    resolveAuthSection({ 'accounts.url.timeout': 'soon', 'defender.enabled': 'maybe', 'defender.tresh': '3', password_hash: 'md5', max_startups: '1:2' });
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof AuthError);
  assert.deepEqual(err.problems.map((p) => p.split(':')[0]), [
    '[auth]defender.tresh', '[auth]password_hash', '[auth]accounts.url.timeout', '[auth]max_startups', '[auth]defender.enabled',
  ]);
  assert.throws(() => resolveAuthSection({ 'defender.ban_time': '1h', 'defender.ban_time_max': '5m' }), /maximum ban time must be ≥ ban time/);
  assert.throws(() => resolveAuthSection({ max_auth_tries: '0' }), /max_auth_tries: must be at least 1/);
});
