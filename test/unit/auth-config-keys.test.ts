// The [auth] section of tahoe.cfg: read by the config layer (one schema table), turned into the
// auth classes' option objects by authOptions().
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFENDER_DEFAULTS, FILE_CACHE_DEFAULTS, LoginDefender, URL_DEFAULTS, authOptions } from '../../src/auth/index.js';
import { ConfigError, SCHEMA, parseNodeConfig, renderConfigReference } from '../../src/config/index.js';
import { DEFAULT_LIMITS as FTP_LIMITS } from '../../src/ftp/types.js';
import { DEFAULT_LIMITS as SSH_LIMITS } from '../../src/ssh/types.js';

const FILE = '/srv/node/tahoe.cfg';
const auth = (text: string) => authOptions(parseNodeConfig(`[auth]\n${text}`, '/srv/node', FILE).auth);

function problems(text: string): string[] {
  try {
    auth(text);
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return [...err.problems];
  }
  assert.fail('expected a ConfigError');
}

test('an empty [auth] section gives exactly the code defaults (the table cannot drift)', () => {
  const r = auth('');
  assert.deepEqual(r.defender, DEFENDER_DEFAULTS);
  assert.deepEqual(r.url, URL_DEFAULTS);
  assert.deepEqual(r.file, FILE_CACHE_DEFAULTS);
  assert.equal(r.passwordHash, 'scrypt');
  assert.equal(r.watchAccountsFile, true);
  assert.equal(r.maxAuthTries, SSH_LIMITS.maxAuthTries);
  assert.equal(r.loginGraceMs, SSH_LIMITS.loginGraceMs);
  assert.equal(r.maxAuthTries, FTP_LIMITS.maxAuthTries);
  assert.equal(r.loginGraceMs, FTP_LIMITS.loginGraceMs);
  // Every scored reason has a key (the defender would silently use its default otherwise).
  assert.deepEqual(Object.keys(r.defender.scores).sort(), Object.keys(DEFENDER_DEFAULTS.scores).sort());
});

test('values are parsed: durations, booleans (Tahoe spellings), max_startups, scores', () => {
  const r = auth([
    'accounts.url.timeout = 2s',
    'accounts.url.cache_ttl = 0',
    'accounts.url.max_redirects = 0',
    'accounts.watch = Off',
    'defender.enabled = YES',
    'defender.ban_time = 90',
    'defender.ban_time_max = 2h',
    'defender.score.bad_key = 0',
    'defender.score.bad_password = 2.5',
    'defender.ipv6_prefix = 128',
    'max_startups = 5:50:20',
    'max_auth_tries = 3',
    'login_grace_time = 30s',
    'password_hash = argon2id',
    'password_cache_ttl = 0',
    'password_cache_size = 20',
  ].join('\n'));
  assert.equal(r.url.timeoutMs, 2000);
  assert.equal(r.url.cacheTtlMs, 0);
  assert.equal(r.url.maxRedirects, 0);
  assert.equal(r.watchAccountsFile, false);
  assert.equal(r.defender.enabled, true);
  assert.equal(r.defender.banMs, 90_000);
  assert.equal(r.defender.banMaxMs, 7_200_000);
  assert.equal(r.defender.scores['bad-key'], 0);
  assert.equal(r.defender.scores['bad-password'], 2.5);
  assert.equal(r.defender.ipv6Prefix, 128);
  assert.deepEqual(r.defender.maxStartups, { start: 5, rate: 50, full: 20 });
  assert.equal(r.maxAuthTries, 3);
  assert.equal(r.loginGraceMs, 30_000);
  assert.equal(r.passwordHash, 'argon2id');
  assert.deepEqual(r.file, { cacheTtlMs: 0, cacheMax: 20 });
  // What the config layer accepts, the defender accepts.
  assert.doesNotThrow(() => new LoginDefender(r.defender));
});

test('each score key reaches its own failure reason (the defaults alone could hide a swap)', () => {
  const r = auth([
    'defender.score.bad_password = 11', 'defender.score.unknown_user = 12', 'defender.score.bad_key = 13',
    'defender.score.grace_timeout = 14', 'defender.score.too_many_attempts = 15', 'defender.score.protocol_error = 16',
    'defender.observation_time = 1m', 'defender.offence_memory = 2h', 'defender.max_hosts = 77', 'max_startups_per_address = 3', 'max_connections_per_address = 0', 'max_connections = 500',
    'accounts.url.cache_size = 5',
  ].join('\n'));
  assert.deepEqual(r.defender.scores, {
    'bad-password': 11, 'unknown-user': 12, 'bad-key': 13, 'grace-timeout': 14, 'too-many-attempts': 15, 'protocol-error': 16,
  });
  assert.equal(r.defender.observationMs, 60_000);
  assert.equal(r.defender.offenceMemoryMs, 7_200_000);
  assert.equal(r.defender.maxHosts, 77);
  assert.equal(r.defender.maxStartupsPerAddress, 3);
  assert.equal(r.defender.maxConnectionsPerAddress, 0);
  assert.equal(r.defender.maxConnections, 500);
  assert.equal(r.url.cacheMax, 5);
});

test('all bad and unknown keys are reported together, with their lines', () => {
  const ps = problems([
    'accounts.url.timeout = soon',
    'defender.enabled = maybe',
    'defender.tresh = 3',
    'password_hash = md5',
    'max_startups = 1:2',
    'max_auth_tries = 0',
    'defender.threshold = 0',
  ].join('\n'));
  assert.deepEqual(ps.map((p) => p.replace(/ .*/, '')), [2, 3, 4, 5, 6, 7, 8].map((n) => `${FILE}:${n}:`));
  assert.match(ps[0]!, /\[auth\] accounts\.url\.timeout: "soon" is not a duration/);
  assert.match(ps[2]!, /\[auth\] contains unknown option 'defender\.tresh'; accepted: password_hash, accounts\.watch, /);
  assert.match(ps[3]!, /\[auth\] password_hash: "md5" is not one of 'scrypt', 'argon2id', 'bcrypt'/);
  assert.match(ps[4]!, /\[auth\] max_startups: "1:2" is not start:rate:full/);
  assert.match(ps[5]!, /\[auth\] max_auth_tries: "0" is not an integer from 1 to 100/);
  assert.match(ps[6]!, /\[auth\] defender\.threshold: "0" is not a number from 1 to 1000000/);
});

test('cross-key rule: defender.ban_time_max at least defender.ban_time', () => {
  assert.deepEqual(problems('defender.ban_time = 1h\ndefender.ban_time_max = 5m'), [
    `${FILE}:3: [auth] defender.ban_time_max: must be at least defender.ban_time`,
  ]);
  // Only ban_time given: the default maximum (1h) is too short, and the section line is blamed.
  assert.deepEqual(problems('defender.ban_time = 2h'), [`${FILE}:2: [auth] defender.ban_time_max: must be at least defender.ban_time`]);
});

test('the account-service keys live in [auth] only, and the reference says so', () => {
  assert.match(parseErr('[sftpd]\naccounts.url.timeout = 2s\n'), /\[sftpd\] contains unknown option 'accounts\.url\.timeout'/);
  assert.match(parseErr('[ftpd]\nmax_auth_tries = 2\n'), /\[ftpd\] contains unknown option 'max_auth_tries'/);
  assert.match(SCHEMA.sftpd.accountsUrl.doc, /\[auth\]/);
  const md = renderConfigReference();
  assert.ok(md.includes('| `[auth]` | `defender.ban_time` | duration | `5m` |'));
  assert.ok(md.includes('| `[auth]` | `max_startups` | start:rate:full | `10:30:100` |'));
});

function parseErr(text: string): string {
  try {
    parseNodeConfig(text, '/srv/node', FILE);
  } catch (err) {
    return String((err as Error).message);
  }
  return '';
}
