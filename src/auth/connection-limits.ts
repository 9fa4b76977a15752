// Limits on connections, counted per client address (IPv6: per network) and in total:
// - ConnectionLimits: those that have not authenticated yet, so a flood of idle sockets cannot
//   use up memory or the hashing pool. Total: OpenSSH MaxStartups "start:rate:full" random early
//   drop (tahoe.cfg's `max_startups` text is parsed by src/config). Per address: a plain cap.
// - OpenConnections: all of them, logged in or not, from accept to close (as SFTPGo's
//   max_per_host_connections and max_total_connections), so one client cannot make the server
//   hold thousands of sessions' state, sockets and file descriptors.
// Counters exist only for live connections, so the per-address tables can never hold more
// entries than there are connections.
import { AuthError } from './errors.js';

export interface MaxStartups {
  /** Below this many unauthenticated connections, nothing is dropped. */
  start: number;
  /** Drop probability (percent) at `start`, rising linearly to 100 at `full`. */
  rate: number;
  /** At this many, every new connection is dropped. */
  full: number;
}

export function checkMaxStartups(l: MaxStartups): void {
  const ints = [l.start, l.rate, l.full].every((n) => Number.isInteger(n) && n >= 0);
  if (!ints || l.start < 1 || l.rate > 100 || l.full < l.start) {
    throw new AuthError('max_startups needs 1 ≤ start ≤ full and 0 ≤ rate ≤ 100');
  }
}

/** Live connections by address key, and their total; entries exist only while counts are > 0. */
class KeyCounts {
  total = 0;
  private readonly perKey = new Map<string, number>();

  countFor(key: string): number {
    return this.perKey.get(key) ?? 0;
  }

  add(key: string): void {
    this.perKey.set(key, this.countFor(key) + 1);
    this.total++;
  }

  /** Extra calls are harmless (counts stay ≥ 0). */
  remove(key: string): void {
    const mine = this.perKey.get(key);
    if (!mine) return;
    if (mine === 1) this.perKey.delete(key);
    else this.perKey.set(key, mine - 1);
    this.total--;
  }
}

export class ConnectionLimits {
  private readonly counts = new KeyCounts();

  constructor(
    private readonly limits: MaxStartups,
    private readonly perAddress: number,
    private readonly random: () => number = Math.random,
  ) {}

  get unauthenticated(): number {
    return this.counts.total;
  }

  countFor(key: string): number {
    return this.counts.countFor(key);
  }

  /** Counts a new unauthenticated connection, or says why it must be dropped. */
  tryAdd(key: string): 'ok' | 'per-address' | 'max-startups' {
    if (this.counts.countFor(key) >= this.perAddress) return 'per-address';
    if (this.shouldDrop()) return 'max-startups';
    this.counts.add(key);
    return 'ok';
  }

  /** The connection authenticated or closed. Extra calls are harmless. */
  remove(key: string): void {
    this.counts.remove(key);
  }

  private shouldDrop(): boolean {
    const { start, rate, full } = this.limits;
    const total = this.counts.total;
    if (total >= full) return true;
    if (total < start) return false;
    const percent = rate + ((100 - rate) * (total - start)) / (full - start);
    return this.random() * 100 < percent;
  }
}

/** Why a connection may not open: its address or the server is at its limit of open connections. */
export type OpenRefusal = 'connections-per-address' | 'connections';

export class OpenConnections {
  private readonly counts = new KeyCounts();

  constructor(
    /** Open connections from one address; 0: no limit. */
    private readonly perAddress: number,
    /** Open connections in total; 0: no limit. */
    private readonly limit: number,
  ) {}

  get open(): number {
    return this.counts.total;
  }

  countFor(key: string): number {
    return this.counts.countFor(key);
  }

  /** Whether one more connection from `key` may open (nothing is counted yet). */
  refusal(key: string): OpenRefusal | undefined {
    if (this.perAddress > 0 && this.counts.countFor(key) >= this.perAddress) return 'connections-per-address';
    if (this.limit > 0 && this.counts.total >= this.limit) return 'connections';
    return undefined;
  }

  add(key: string): void {
    this.counts.add(key);
  }

  /** The connection closed. Extra calls are harmless. */
  remove(key: string): void {
    this.counts.remove(key);
  }
}
