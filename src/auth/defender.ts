// Brute-force and flood defence, on by default (hardening.md §3a, §3d.5).
//
// - Each failure adds a score to its address; when the score within the observation window
//   reaches the threshold, the address is banned. Each further ban within `offenceMemoryMs` of
//   the previous one lasts `banMultiplier` times longer, up to `banMaxMs`.
// - A successful login does NOT lift an active ban and does NOT reset the score: otherwise an
//   attacker holding one valid account could launder failures against other accounts.
// - Bans are enforced by `admit`, which frontends call when a TCP connection arrives, before any
//   SSH key exchange or FTP greeting, so a banned client costs almost nothing.
// - Unauthenticated connections are limited in total (MaxStartups-style random early drop) and
//   per address; all open connections, logged in or not, per address and in total.
// - The host table has a hard size limit; when full, idle entries go first, then the oldest
//   scores, and only if everything is an active ban, the ban that ends soonest.
import type { AdmitResult, Defender, FailureReason } from './types.js';
import { addressKey } from './address-key.js';
import { checkMaxStartups, ConnectionLimits, OpenConnections, type MaxStartups } from './connection-limits.js';
import { AuthError } from './errors.js';
import type { AuthLogger } from './logger.js';
import { silentLogger } from './logger.js';

export interface DefenderOptions {
  /** Scoring and bans. Connection limits apply even when false. Default true. */
  enabled: boolean;
  /** Score at which an address is banned. Default 15. */
  threshold: number;
  /** Failures older than this no longer count. Default 10 min. */
  observationMs: number;
  /** First ban. Default 5 min. */
  banMs: number;
  /** Each repeat ban lasts this many times the previous one. Default 2. */
  banMultiplier: number;
  /** Ban length cap. Default 1 h. */
  banMaxMs: number;
  /** A new ban within this long after the previous one counts as a repeat. Default 24 h. */
  offenceMemoryMs: number;
  /** Score per failure reason. */
  scores: Record<FailureReason, number>;
  /** Hard limit on addresses tracked (scores, bans, repeat history). Default 10 000. */
  maxHosts: number;
  /** IPv6 addresses are grouped by this prefix length (128 = each address). Default 64. */
  ipv6Prefix: number;
  /** Unauthenticated connections in total. Default 10:30:100. */
  maxStartups: MaxStartups;
  /** Unauthenticated connections per address. Default 10. */
  maxStartupsPerAddress: number;
  /** Open connections (logged in or not) per address; 0: no limit. Default 20. */
  maxConnectionsPerAddress: number;
  /** Open connections in total; 0: no limit. Default 0. */
  maxConnections: number;
  /** Clock in ms (tests inject one). Default Date.now. */
  now: () => number;
  /** Uniform [0,1) source for random early drop. Default Math.random. */
  random: () => number;
  logger: AuthLogger;
}

export const DEFAULT_SCORES: Readonly<Record<FailureReason, number>> = {
  'bad-password': 3,
  'unknown-user': 3,
  'bad-key': 1,
  'grace-timeout': 2,
  'too-many-attempts': 5,
  'protocol-error': 1,
};

export const DEFENDER_DEFAULTS: Readonly<Omit<DefenderOptions, 'now' | 'random' | 'logger'>> = {
  enabled: true,
  threshold: 15,
  observationMs: 10 * 60_000,
  banMs: 5 * 60_000,
  banMultiplier: 2,
  banMaxMs: 60 * 60_000,
  offenceMemoryMs: 24 * 60 * 60_000,
  scores: DEFAULT_SCORES,
  maxHosts: 10_000,
  ipv6Prefix: 64,
  maxStartups: { start: 10, rate: 30, full: 100 },
  maxStartupsPerAddress: 10,
  maxConnectionsPerAddress: 20,
  maxConnections: 0,
};

export type { AdmitResult };

export interface HostStatus {
  key: string;
  banned: boolean;
  /** When the active ban ends (ms, clock of the defender). */
  banUntil?: number;
  score: number;
  offences: number;
  unauthenticated: number;
  /** Connections open from this address, logged in or not. */
  open: number;
}

interface Host {
  // Failures coalesced into buckets of observationMs/16, so an entry stays small however many
  // failures arrive: at most 17 buckets are ever inside the window.
  events: { t: number; score: number }[];
  banUntil: number;
  offences: number;
  lastBanAt: number;
}

const BUCKETS = 16;

export class LoginDefender implements Defender {
  readonly options: Readonly<DefenderOptions>;
  private readonly hosts = new Map<string, Host>(); // insertion order = least recently touched first
  private readonly conns: ConnectionLimits;
  private readonly open: OpenConnections;

  constructor(options: Partial<DefenderOptions> = {}) {
    const o: DefenderOptions = {
      ...DEFENDER_DEFAULTS,
      now: Date.now,
      random: Math.random,
      logger: silentLogger,
      ...options,
      scores: { ...DEFAULT_SCORES, ...options.scores },
    };
    validate(o);
    this.options = o;
    this.conns = new ConnectionLimits(o.maxStartups, o.maxStartupsPerAddress, o.random);
    this.open = new OpenConnections(o.maxConnectionsPerAddress, o.maxConnections);
  }

  /** `admission` as a yes or no. */
  admit(remoteAddress: string): boolean {
    return this.admission(remoteAddress) === 'ok';
  }

  admission(remoteAddress: string): AdmitResult {
    const key = this.key(remoteAddress);
    if (this.bannedUntil(key) !== undefined) return 'banned';
    const refusal = this.open.refusal(key);
    if (refusal) return refusal;
    const result = this.conns.tryAdd(key);
    if (result === 'ok') this.open.add(key);
    return result;
  }

  release(remoteAddress: string, _authenticated: boolean): void {
    this.conns.remove(this.key(remoteAddress));
  }

  closed(remoteAddress: string): void {
    this.open.remove(this.key(remoteAddress));
  }

  recordFailure(remoteAddress: string, reason: FailureReason): void {
    const o = this.options;
    if (!o.enabled) return;
    const score = o.scores[reason] ?? 0;
    if (score <= 0) return;
    const key = this.key(remoteAddress);
    const now = o.now();
    const host = this.touch(key, now);
    if (host.banUntil > now) return; // already banned; a failure in flight does not extend it
    const last = host.events[host.events.length - 1];
    if (last && now - last.t < o.observationMs / BUCKETS) last.score += score;
    else host.events.push({ t: now, score });
    this.prune(host, now);
    if (this.score(host, now) >= o.threshold) this.ban(key, host, now);
  }

  /** Deliberately changes nothing: see the header comment. */
  recordSuccess(_remoteAddress: string): void {}

  isBanned(remoteAddress: string): boolean {
    return this.bannedUntil(this.key(remoteAddress)) !== undefined;
  }

  status(remoteAddress: string): HostStatus {
    const key = this.key(remoteAddress);
    const now = this.options.now();
    const host = this.hosts.get(key);
    const until = this.bannedUntil(key);
    const out: HostStatus = {
      key,
      banned: until !== undefined,
      score: host ? this.score(host, now) : 0,
      offences: host?.offences ?? 0,
      unauthenticated: this.conns.countFor(key),
      open: this.open.countFor(key),
    };
    if (until !== undefined) out.banUntil = until;
    return out;
  }

  /** Addresses currently tracked (bounded by maxHosts). */
  get trackedHosts(): number {
    return this.hosts.size;
  }

  /** Addresses (IPv6: networks) banned right now. */
  get bannedHosts(): number {
    const now = this.options.now();
    let n = 0;
    for (const host of this.hosts.values()) if (host.banUntil > now) n++;
    return n;
  }

  get unauthenticatedConnections(): number {
    return this.conns.unauthenticated;
  }

  get openConnections(): number {
    return this.open.open;
  }

  private key(address: string): string {
    return addressKey(address, this.options.ipv6Prefix);
  }

  private bannedUntil(key: string): number | undefined {
    const host = this.hosts.get(key);
    return host && host.banUntil > this.options.now() ? host.banUntil : undefined;
  }

  private score(host: Host, now: number): number {
    let sum = 0;
    for (const e of host.events) if (now - e.t < this.options.observationMs) sum += e.score;
    return sum;
  }

  private prune(host: Host, now: number): void {
    while (host.events.length && now - host.events[0]!.t >= this.options.observationMs) host.events.shift();
  }

  private ban(key: string, host: Host, now: number): void {
    const o = this.options;
    const repeat = host.offences > 0 && now - host.lastBanAt <= o.offenceMemoryMs;
    host.offences = repeat ? host.offences + 1 : 1;
    const duration = Math.min(o.banMaxMs, o.banMs * o.banMultiplier ** (host.offences - 1));
    host.banUntil = now + duration;
    host.lastBanAt = now;
    host.events = [];
    o.logger.warn({ address: key, offences: host.offences, banSeconds: Math.round(duration / 1000) }, 'address banned after repeated failures');
  }

  /** Gets or creates the entry, marking it most recently used, evicting if the table is full. */
  private touch(key: string, now: number): Host {
    let host = this.hosts.get(key);
    if (host) {
      this.hosts.delete(key);
    } else {
      if (this.hosts.size >= this.options.maxHosts) this.makeRoom(now);
      host = { events: [], banUntil: 0, offences: 0, lastBanAt: 0 };
    }
    this.hosts.set(key, host);
    return host;
  }

  /**
   * Frees about 10 % of the table at once, so a flood of new addresses costs one scan per
   * many insertions rather than one per insertion.
   */
  private makeRoom(now: number): void {
    const o = this.options;
    const target = Math.max(1, Math.floor(o.maxHosts * 0.9));
    const idle = (h: Host) =>
      h.banUntil <= now && this.score(h, now) === 0 && (h.offences === 0 || now - h.lastBanAt > o.offenceMemoryMs);
    for (const [k, h] of this.hosts) if (idle(h)) this.hosts.delete(k);
    if (this.hosts.size < target) return;
    for (const [k, h] of this.hosts) {
      if (this.hosts.size < target) return;
      if (h.banUntil <= now) this.hosts.delete(k); // scores and repeat history, oldest first
    }
    if (this.hosts.size < target) return;
    const bans = [...this.hosts].sort((a, b) => a[1].banUntil - b[1].banUntil);
    const evict = bans.slice(0, this.hosts.size - target + 1);
    for (const [k] of evict) this.hosts.delete(k);
    o.logger.warn({ evicted: evict.length, maxHosts: o.maxHosts }, 'ban table full: lifted the bans that end soonest');
  }
}

function validate(o: DefenderOptions): void {
  const problems = defenderOptionProblems(o);
  if (problems.length) throw new AuthError('invalid defender options', problems);
}

/** What is wrong with a set of defender options (empty when they are usable). */
export function defenderOptionProblems(o: Omit<DefenderOptions, 'now' | 'random' | 'logger'>): string[] {
  const problems: string[] = [];
  const positive = (name: string, v: number) => {
    if (!(Number.isFinite(v) && v > 0)) problems.push(`${name} must be a positive number`);
  };
  positive('threshold', o.threshold);
  positive('observation time', o.observationMs);
  positive('ban time', o.banMs);
  positive('maximum ban time', o.banMaxMs);
  positive('offence memory', o.offenceMemoryMs);
  if (!(Number.isFinite(o.banMultiplier) && o.banMultiplier >= 1)) problems.push('ban multiplier must be ≥ 1');
  if (o.banMaxMs < o.banMs) problems.push('maximum ban time must be ≥ ban time');
  if (!(Number.isInteger(o.maxHosts) && o.maxHosts >= 1)) problems.push('max hosts must be a positive integer');
  if (!(Number.isInteger(o.ipv6Prefix) && o.ipv6Prefix >= 0 && o.ipv6Prefix <= 128)) problems.push('IPv6 prefix must be 0-128');
  if (!(Number.isInteger(o.maxStartupsPerAddress) && o.maxStartupsPerAddress >= 1)) problems.push('per-address connection limit must be a positive integer');
  if (!(Number.isInteger(o.maxConnectionsPerAddress) && o.maxConnectionsPerAddress >= 0)) problems.push('open connections per address must be an integer ≥ 0 (0: no limit)');
  if (!(Number.isInteger(o.maxConnections) && o.maxConnections >= 0)) problems.push('open connections must be an integer ≥ 0 (0: no limit)');
  for (const [reason, s] of Object.entries(o.scores)) {
    if (!(Number.isFinite(s) && s >= 0)) problems.push(`score for ${reason} must be ≥ 0`);
  }
  try {
    checkMaxStartups(o.maxStartups);
  } catch (err) {
    problems.push((err as Error).message);
  }
  return problems;
}
