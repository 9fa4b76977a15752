// Data-connection addresses: PORT/EPRT arguments, PASV/EPSV replies, and the bounce rules.
//
// FTP bounce (CVE-1999-0017): PORT lets a client make the server connect anywhere, e.g. to send
// a crafted file to a third party's mail port. We connect only back to the address the control
// connection comes from, and only to ports >= 1024, as vsftpd and ProFTPD do.
import { isIPv4, isIPv6 } from 'node:net';
import { normalizeAddress } from '../util/net.js';

export interface HostPort {
  host: string;
  port: number;
}

export type Family = 4 | 6;

/** The family of a normalised address (IPv4-mapped IPv6 counts as IPv4). */
export function familyOf(address: string): Family {
  return isIPv4(normalizeAddress(address)) ? 4 : 6;
}

/** `h1,h2,h3,h4,p1,p2` (RFC 959) → address and port, or undefined when malformed. */
export function parsePortArg(text: string): HostPort | undefined {
  const m = /^\s*(\d{1,3}),(\d{1,3}),(\d{1,3}),(\d{1,3}),(\d{1,3}),(\d{1,3})\s*$/.exec(text);
  if (!m) return undefined;
  const n = m.slice(1).map(Number);
  if (n.some((x) => x > 255)) return undefined;
  const port = n[4]! * 256 + n[5]!;
  if (port === 0) return undefined;
  return { host: n.slice(0, 4).join('.'), port };
}

export type EprtResult = ({ ok: true; family: Family } & HostPort) | { ok: false; reason: 'syntax' | 'protocol' };

/** `<d>proto<d>address<d>port<d>` (RFC 2428 §2): any printable delimiter, proto 1 (IPv4) or 2 (IPv6). */
export function parseEprtArg(text: string): EprtResult {
  const d = text[0];
  if (d === undefined || d < '!' || d > '~' || /[0-9.:a-fA-F]/.test(d)) return { ok: false, reason: 'syntax' };
  const fields = text.split(d);
  if (fields.length !== 5 || fields[0] !== '' || fields[4] !== '') return { ok: false, reason: 'syntax' };
  const [, proto, host, portText] = fields as [string, string, string, string, string];
  if (proto !== '1' && proto !== '2') return { ok: false, reason: /^\d+$/.test(proto) ? 'protocol' : 'syntax' };
  if (proto === '1' ? !isIPv4(host) : !isIPv6(host)) return { ok: false, reason: 'syntax' };
  if (!/^\d{1,5}$/.test(portText)) return { ok: false, reason: 'syntax' };
  const port = Number(portText);
  if (port < 1 || port > 65535) return { ok: false, reason: 'syntax' };
  return { ok: true, family: proto === '1' ? 4 : 6, host, port };
}

export type ActiveCheck = { ok: true } | { ok: false; code: number; text: string };

/**
 * May we connect to `target` for a client whose control connection comes from `peer`?
 * `family` is the EPRT protocol (undefined for PORT, which is IPv4 by definition).
 */
export function checkActiveTarget(target: HostPort, family: Family, peer: string): ActiveCheck {
  const peerAddr = normalizeAddress(peer);
  if (family !== familyOf(peerAddr)) {
    // RFC 2428: a protocol the control connection does not use is refused with 522.
    return { ok: false, code: 522, text: `Network protocol not supported, use (${familyOf(peerAddr) === 4 ? 1 : 2})` };
  }
  if (normalizeAddress(target.host) !== peerAddr) {
    return { ok: false, code: 500, text: 'Illegal PORT command: data connections go only to the client address' };
  }
  if (target.port < 1024) return { ok: false, code: 500, text: 'Illegal PORT command: port below 1024' };
  return { ok: true };
}

/** The PASV reply text for an IPv4 address. */
export function formatPasv(host: string, port: number): string {
  if (!isIPv4(host)) throw new RangeError('PASV needs an IPv4 address');
  return `Entering Passive Mode (${host.split('.').join(',')},${port >> 8},${port & 255}).`;
}

/** The EPSV reply text (RFC 2428 §3). */
export function formatEpsv(port: number): string {
  return `Entering Extended Passive Mode (|||${port}|)`;
}

export type EpsvArg = { kind: 'any' } | { kind: 'all' } | { kind: 'protocol'; family: Family } | { kind: 'bad' } | { kind: 'unsupported' };

/** The argument of EPSV: none, `ALL`, or a protocol number. */
export function parseEpsvArg(text: string): EpsvArg {
  const t = text.trim();
  if (t === '') return { kind: 'any' };
  if (t.toUpperCase() === 'ALL') return { kind: 'all' };
  if (t === '1') return { kind: 'protocol', family: 4 };
  if (t === '2') return { kind: 'protocol', family: 6 };
  return /^\d+$/.test(t) ? { kind: 'unsupported' } : { kind: 'bad' };
}
