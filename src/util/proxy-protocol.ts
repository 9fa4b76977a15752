// The PROXY protocol (HAProxy's `send-proxy` v1 text and `send-proxy-v2` binary headers): a
// load balancer in TCP mode starts each connection it forwards with a header naming the client,
// so the defender, the per-address limits, the logs and FTP's data-connection checks see the
// client and not the balancer. Only connections from configured balancer addresses may (and
// must) start with one; anyone else could claim any address with it.
import { isIP } from 'node:net';
import type { Socket } from 'node:net';
import { normalizeAddress } from './net.js';

export interface ProxySource {
  address: string;
  port: number;
}

/** A complete header (its length, and the client unless it is the balancer's own LOCAL/UNKNOWN), more bytes needed, or garbage. */
export type ProxyParse = { done: true; length: number; source?: ProxySource } | { done: false } | { error: string };

const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
const V1_MAX = 107;

function parseV1(buf: Buffer): ProxyParse {
  const end = buf.indexOf('\r\n');
  if (end < 0) return buf.length >= V1_MAX ? { error: 'PROXY v1 header too long' } : { done: false };
  if (end + 2 > V1_MAX) return { error: 'PROXY v1 header too long' };
  const parts = buf.toString('latin1', 0, end).split(' ');
  if (parts[1] === 'UNKNOWN') return { done: true, length: end + 2 };
  if (parts.length !== 6 || (parts[1] !== 'TCP4' && parts[1] !== 'TCP6')) return { error: 'malformed PROXY v1 header' };
  const [, family, src, , sport] = parts as [string, string, string, string, string, string];
  const port = Number(sport);
  if (isIP(src) !== (family === 'TCP4' ? 4 : 6) || !/^\d{1,5}$/.test(sport) || port > 65535) return { error: 'malformed PROXY v1 header' };
  return { done: true, length: end + 2, source: { address: family === 'TCP6' ? normalizeAddress(new URL(`http://[${src}]/`).hostname.slice(1, -1)) : src, port } };
}

/** 16 bytes as an IPv6 address in the compressed form Node gives socket addresses. */
function ipv6(bytes: Buffer): string {
  if (bytes.subarray(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff) return `${bytes[12]}.${bytes[13]}.${bytes[14]}.${bytes[15]}`;
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(bytes.readUInt16BE(i).toString(16));
  return normalizeAddress(new URL(`http://[${groups.join(':')}]/`).hostname.slice(1, -1));
}

function parseV2(buf: Buffer): ProxyParse {
  if (buf.length < 16) return { done: false };
  const verCmd = buf[12]!;
  if (verCmd >> 4 !== 2) return { error: 'unknown PROXY protocol version' };
  const length = 16 + buf.readUInt16BE(14);
  if (buf.length < length) return { done: false };
  const command = verCmd & 0x0f;
  if (command === 0) return { done: true, length }; // LOCAL: the balancer's own connection (health checks)
  if (command !== 1) return { error: 'unknown PROXY v2 command' };
  const family = buf[13]!;
  if (family === 0x11 && length >= 16 + 12) {
    const a = buf.subarray(16, 20);
    return { done: true, length, source: { address: `${a[0]}.${a[1]}.${a[2]}.${a[3]}`, port: buf.readUInt16BE(24) } };
  }
  if (family === 0x21 && length >= 16 + 36) return { done: true, length, source: { address: ipv6(buf.subarray(16, 32)), port: buf.readUInt16BE(48) } };
  return { done: true, length }; // UNSPEC or another family: no client address to use
}

/** Parses a PROXY header at the start of `buf`. */
export function parseProxyHeader(buf: Buffer): ProxyParse {
  const head = buf.subarray(0, Math.min(buf.length, 12));
  if (V2_SIGNATURE.subarray(0, head.length).equals(head)) return head.length < 12 ? { done: false } : parseV2(buf);
  const v1 = Buffer.from('PROXY ');
  if (v1.subarray(0, Math.min(buf.length, 6)).equals(buf.subarray(0, 6))) return buf.length < 6 ? { done: false } : parseV1(buf);
  return { error: 'the connection did not start with a PROXY protocol header' };
}

/**
 * Reads the PROXY header a balancer sends first on `sock` and gives back the client it names
 * (undefined: the balancer's own connection). The bytes after the header are put back and the
 * socket is left paused, for whoever reads it next. Rejects on garbage, close or timeout.
 */
export function readProxyHeader(sock: Socket, timeoutMs: number): Promise<ProxySource | undefined> {
  return new Promise((resolve, reject) => {
    let buf: Buffer = Buffer.alloc(0);
    const done = (err?: Error, source?: ProxySource, rest?: Buffer) => {
      clearTimeout(timer);
      sock.off('data', onData);
      sock.off('close', onClose);
      sock.pause();
      if (err) return reject(err);
      if (rest && rest.length > 0) sock.unshift(rest);
      resolve(source);
    };
    const onData = (chunk: Buffer) => {
      buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
      const r = parseProxyHeader(buf);
      if ('error' in r) done(new Error(r.error));
      else if (r.done) done(undefined, r.source, buf.subarray(r.length));
      else if (buf.length > 16 + 65535) done(new Error('PROXY header too long'));
    };
    const onClose = () => done(new Error('closed before a PROXY header'));
    const timer = setTimeout(() => done(new Error('no PROXY header in time')), timeoutMs);
    sock.on('data', onData);
    sock.once('close', onClose);
    sock.resume();
  });
}

/** The set of balancer addresses (normalised), and whether a connection's peer is one of them. */
export class ProxyTrust {
  private readonly from: Set<string>;
  constructor(addresses: readonly string[] = []) {
    this.from = new Set(addresses.map((a) => normalizeAddress(a)));
  }
  get enabled(): boolean {
    return this.from.size > 0;
  }
  trusts(peer: string | undefined): boolean {
    return this.from.has(normalizeAddress(peer));
  }
}

/** How long a balancer may take to send its header (it sends it at once). */
export const PROXY_HEADER_TIMEOUT_MS = 10_000;
