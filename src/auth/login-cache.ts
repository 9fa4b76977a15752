// Logins that succeeded, remembered for a while, so that a client connecting again with the
// same credentials is not decided from scratch (the accounts file's password hash: 63-160 ms of
// CPU and 32 MiB per check on the build machines; the account service's round trip). FTP
// clients log in once per connection, and curl, FileZilla and lftp open one per transfer or per
// parallel stream. SFTPGo caches verified passwords the same way, by default.
//
// Keys are HMACs under a per-process random key over the length-prefixed parts: the cache never
// holds a password, nor an unsalted digest that a memory dump could turn back into one by
// dictionary. Only the right password finds an entry, so a hit tells nothing to someone who
// does not already know it.
import { createHmac, randomBytes } from 'node:crypto';
import { TtlCache } from './ttl-cache.js';

export class LoginCache<V> {
  private readonly entries: TtlCache<V>;
  private readonly secret = randomBytes(32);

  /** `ttlMs` or `maxEntries` 0 disables the cache (get always misses). */
  constructor(ttlMs: number, maxEntries: number, now: () => number = Date.now) {
    this.entries = new TtlCache(ttlMs, maxEntries, now);
  }

  get size(): number {
    return this.entries.size;
  }

  /** The entry's key: an HMAC of the parts, which a caller may also use to join work under way. */
  key(parts: readonly string[]): string {
    const mac = createHmac('sha256', this.secret);
    // Length prefixes keep ('ab', 'c') and ('a', 'bc') apart, whatever bytes the parts hold.
    for (const part of parts) mac.update(`${Buffer.byteLength(part, 'utf8')}:`).update(part, 'utf8');
    return mac.digest('base64');
  }

  get(key: string): V | undefined {
    return this.entries.get(key);
  }

  set(key: string, value: V): void {
    this.entries.set(key, value);
  }

  clear(): void {
    this.entries.clear();
  }
}
