// Which "address" the defender counts. IPv4-mapped IPv6 is its IPv4 (normalizeAddress). An IPv6
// client usually owns a whole /64, so by default every address in one /64 shares a score, a ban
// and a connection count; otherwise one host could rotate through 2^64 addresses.
import { isIPv4, isIPv6 } from 'node:net';
import { normalizeAddress } from '../util/net.js';

/** Expands an IPv6 address to its 8 groups, or undefined when it is not one. */
export function ipv6Groups(address: string): number[] | undefined {
  const bare = address.replace(/%.*$/, ''); // zone id (fe80::1%eth0)
  if (!isIPv6(bare)) return undefined;
  let text = bare;
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (v4) {
    const [a, b, c, d] = v4.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, v4.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.split('::') as [string, string | undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const fill = tail === undefined ? [] : new Array<string>(8 - h.length - t.length).fill('0');
  const groups = [...h, ...fill, ...t].map((g) => parseInt(g, 16));
  return groups.length === 8 && groups.every((g) => g >= 0 && g <= 0xffff) ? groups : undefined;
}

/** The defender's table key for a client address. */
export function addressKey(address: string, ipv6Prefix = 64): string {
  const addr = normalizeAddress(address);
  if (isIPv4(addr)) return addr;
  const groups = ipv6Groups(addr);
  if (!groups) return addr; // not an IP (e.g. a unix socket): count it verbatim
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    // IPv4-mapped written in hex (::ffff:102:304): still the IPv4 client.
    return [groups[6]! >> 8, groups[6]! & 0xff, groups[7]! >> 8, groups[7]! & 0xff].join('.');
  }
  const prefix = Math.max(0, Math.min(128, ipv6Prefix));
  const masked = groups.map((g, i) => {
    const bits = Math.max(0, Math.min(16, prefix - i * 16));
    return bits === 0 ? 0 : g & (0xffff << (16 - bits)) & 0xffff;
  });
  return `${masked.map((g) => g.toString(16)).join(':')}/${prefix}`;
}
