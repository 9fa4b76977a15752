// Proposed `[auth]` section of tahoe.cfg. The config module (src/config/) owns reading the file;
// this table and resolveAuthSection() are what it needs to wire auth in: names, types,
// defaults and docs for the README, and the conversion to the option objects used here.
import type { FailureReason } from './types.js';
import { AuthError } from './errors.js';
import { parseMaxStartups } from './connection-limits.js';
import { defenderOptionProblems, type DefenderOptions } from './defender.js';
import type { HashKind } from './passwords.js';

export type ConfigKeyType = 'boolean' | 'integer' | 'number' | 'duration' | 'max-startups' | 'enum';

export interface ConfigKeySpec {
  name: string;
  type: ConfigKeyType;
  /** Default as it would be written in tahoe.cfg. */
  default: string;
  values?: readonly string[];
  doc: string;
}

export const AUTH_SECTION = 'auth';

const SCORE_KEYS: Record<string, FailureReason> = {
  'defender.score.bad_password': 'bad-password',
  'defender.score.unknown_user': 'unknown-user',
  'defender.score.bad_key': 'bad-key',
  'defender.score.grace_timeout': 'grace-timeout',
  'defender.score.too_many_attempts': 'too-many-attempts',
  'defender.score.protocol_error': 'protocol-error',
};

/** Durations are seconds, or a number with a unit: `500ms`, `10s`, `5m`, `1h`. */
export const AUTH_CONFIG_KEYS: readonly ConfigKeySpec[] = [
  { name: 'password_hash', type: 'enum', values: ['scrypt', 'argon2id', 'bcrypt'], default: 'scrypt', doc: 'Hash written by `lafsd add-user` and `lafsd passwd`. scrypt (ln=15,r=8,p=1, 32 MiB) costs ~63 ms per login; argon2id (m=32 MiB, t=8) ~54 ms; bcrypt (cost 10) ~59 ms. Existing hashes of every kind keep working.' },
  { name: 'accounts.watch', type: 'boolean', default: 'true', doc: 'Reload the accounts file when it changes (SIGHUP always reloads). A broken file keeps the previous accounts.' },
  { name: 'accounts.url.timeout', type: 'duration', default: '10s', doc: 'Time allowed for the account service to answer (redirects included). No answer in time refuses the login.' },
  { name: 'accounts.url.cache_ttl', type: 'duration', default: '60s', doc: 'How long a successful account-service answer is reused for the same user, password and client address. A password change at the service takes effect within this time. 0 disables the cache.' },
  { name: 'accounts.url.cache_size', type: 'integer', default: '1000', doc: 'Most account-service answers kept in the cache.' },
  { name: 'accounts.url.max_redirects', type: 'integer', default: '3', doc: 'Same-host redirects followed. A redirect to another host always refuses the login.' },
  { name: 'max_auth_tries', type: 'integer', default: '6', doc: 'Failed authentication attempts allowed on one connection before it is closed (counted as too_many_attempts).' },
  { name: 'login_grace_time', type: 'duration', default: '120s', doc: 'Time from connect to successful login before the connection is closed (counted as grace_timeout).' },
  { name: 'max_startups', type: 'max-startups', default: '10:30:100', doc: 'Unauthenticated connections in total, as OpenSSH MaxStartups start:rate:full: from `start` on, new connections are refused with probability `rate`%, rising to 100% at `full`. A single number is a hard limit.' },
  { name: 'max_startups_per_address', type: 'integer', default: '10', doc: 'Unauthenticated connections from one client address (IPv6: one /ipv6_prefix network).' },
  { name: 'defender.enabled', type: 'boolean', default: 'true', doc: 'Score login failures per client address and ban addresses that reach the threshold. The connection limits apply either way.' },
  { name: 'defender.threshold', type: 'number', default: '15', doc: 'Score within observation_time that bans an address.' },
  { name: 'defender.observation_time', type: 'duration', default: '10m', doc: 'Failures older than this stop counting.' },
  { name: 'defender.ban_time', type: 'duration', default: '5m', doc: 'Length of a first ban. Connections from a banned address are closed before any greeting or key exchange; a correct password does not lift a ban.' },
  { name: 'defender.ban_time_multiplier', type: 'number', default: '2', doc: 'Each repeat ban (within offence_memory of the previous one) lasts this many times longer.' },
  { name: 'defender.ban_time_max', type: 'duration', default: '1h', doc: 'Longest ban.' },
  { name: 'defender.offence_memory', type: 'duration', default: '24h', doc: 'How long a past ban makes the next one a repeat.' },
  { name: 'defender.score.bad_password', type: 'number', default: '3', doc: 'Score of a wrong password.' },
  { name: 'defender.score.unknown_user', type: 'number', default: '3', doc: 'Score of a login as a user that does not exist.' },
  { name: 'defender.score.bad_key', type: 'number', default: '1', doc: 'Score of a connection whose offered public keys were all refused (counted once per connection).' },
  { name: 'defender.score.grace_timeout', type: 'number', default: '2', doc: 'Score of a connection that did not log in within login_grace_time.' },
  { name: 'defender.score.too_many_attempts', type: 'number', default: '5', doc: 'Score of a connection closed after max_auth_tries failures.' },
  { name: 'defender.score.protocol_error', type: 'number', default: '1', doc: 'Score of a connection that broke the protocol before logging in.' },
  { name: 'defender.max_hosts', type: 'integer', default: '10000', doc: 'Most client addresses tracked (scores and bans). When full, idle entries go first, active bans last.' },
  { name: 'defender.ipv6_prefix', type: 'integer', default: '64', doc: 'IPv6 clients are scored, banned and limited per network of this prefix length (128: per address).' },
];

export interface ResolvedAuthConfig {
  passwordHash: HashKind;
  watchAccountsFile: boolean;
  url: { timeoutMs: number; cacheTtlMs: number; cacheMax: number; maxRedirects: number };
  /** Enforced by the frontends (per connection). */
  maxAuthTries: number;
  loginGraceMs: number;
  defender: Omit<DefenderOptions, 'now' | 'random' | 'logger'>;
}

export function parseDuration(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h)?$/.exec(text.trim());
  if (!m) return undefined;
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? 's') as 'ms' | 's' | 'm' | 'h'];
  return Math.round(Number(m[1]) * unit);
}

function parseBoolean(text: string): boolean | undefined {
  const t = text.trim().toLowerCase();
  if (['1', 'yes', 'true', 'on'].includes(t)) return true;
  if (['0', 'no', 'false', 'off'].includes(t)) return false;
  return undefined;
}

type Value = string | number | boolean | ReturnType<typeof parseMaxStartups>;

function parseValue(spec: ConfigKeySpec, raw: string): Value | undefined {
  const text = raw.trim();
  switch (spec.type) {
    case 'boolean':
      return parseBoolean(text);
    case 'integer':
      return /^\d+$/.test(text) ? Number(text) : undefined;
    case 'number':
      return /^\d+(\.\d+)?$/.test(text) ? Number(text) : undefined;
    case 'duration':
      return parseDuration(text);
    case 'enum':
      return spec.values?.includes(text) ? text : undefined;
    case 'max-startups':
      try {
        return parseMaxStartups(text);
      } catch {
        return undefined;
      }
  }
}

const TYPE_HINT: Record<ConfigKeyType, string> = {
  boolean: 'true or false',
  integer: 'a whole number',
  number: 'a number',
  duration: 'a duration such as 30s, 5m or 1h',
  'max-startups': 'start:rate:full, e.g. 10:30:100',
  enum: 'one of',
};

/**
 * Turns the raw `[auth]` section into option objects. Every bad or unknown key is reported in
 * one AuthError (`[auth]key: problem`).
 */
export function resolveAuthSection(section: Readonly<Record<string, string | undefined>>): ResolvedAuthConfig {
  const problems: string[] = [];
  const values = new Map<string, Value>();
  const specs = new Map(AUTH_CONFIG_KEYS.map((s) => [s.name, s]));
  for (const name of Object.keys(section)) {
    if (!specs.has(name)) problems.push(`[${AUTH_SECTION}]${name}: unknown option`);
  }
  for (const spec of AUTH_CONFIG_KEYS) {
    const raw = section[spec.name] ?? spec.default;
    const v = parseValue(spec, raw);
    if (v === undefined) {
      const hint = spec.type === 'enum' ? `one of ${spec.values!.join(', ')}` : TYPE_HINT[spec.type];
      problems.push(`[${AUTH_SECTION}]${spec.name}: expected ${hint}, got ${JSON.stringify(raw)}`);
    } else {
      values.set(spec.name, v);
    }
  }
  if (problems.length) throw new AuthError(`tahoe.cfg [${AUTH_SECTION}] has ${problems.length} problem(s)`, problems);
  const num = (k: string) => values.get(k) as number;
  const scores = {} as Record<FailureReason, number>;
  for (const [key, reason] of Object.entries(SCORE_KEYS)) scores[reason] = num(key);
  const resolved: ResolvedAuthConfig = {
    passwordHash: values.get('password_hash') as HashKind,
    watchAccountsFile: values.get('accounts.watch') as boolean,
    url: {
      timeoutMs: num('accounts.url.timeout'),
      cacheTtlMs: num('accounts.url.cache_ttl'),
      cacheMax: num('accounts.url.cache_size'),
      maxRedirects: num('accounts.url.max_redirects'),
    },
    maxAuthTries: num('max_auth_tries'),
    loginGraceMs: num('login_grace_time'),
    defender: {
      enabled: values.get('defender.enabled') as boolean,
      threshold: num('defender.threshold'),
      observationMs: num('defender.observation_time'),
      banMs: num('defender.ban_time'),
      banMultiplier: num('defender.ban_time_multiplier'),
      banMaxMs: num('defender.ban_time_max'),
      offenceMemoryMs: num('defender.offence_memory'),
      scores,
      maxHosts: num('defender.max_hosts'),
      ipv6Prefix: num('defender.ipv6_prefix'),
      maxStartups: values.get('max_startups') as ReturnType<typeof parseMaxStartups>,
      maxStartupsPerAddress: num('max_startups_per_address'),
    },
  };
  // Cross-key rules (e.g. ban_time_max ≥ ban_time) are the defender's own checks.
  const cross = defenderOptionProblems(resolved.defender).map((p) => `[${AUTH_SECTION}] ${p}`);
  if (resolved.maxAuthTries < 1) cross.push(`[${AUTH_SECTION}]max_auth_tries: must be at least 1`);
  if (resolved.loginGraceMs < 1) cross.push(`[${AUTH_SECTION}]login_grace_time: must be positive`);
  if (cross.length) throw new AuthError(`tahoe.cfg [${AUTH_SECTION}] has ${cross.length} problem(s)`, cross);
  return resolved;
}
