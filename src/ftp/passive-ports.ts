// Where FTP data connections find a local port when `passive_ports` is not set: passive
// listeners listen on it, active connections connect from it.
//
// Not port 0. With port 0 Linux searches its ephemeral range for a port that no socket holds,
// TIME_WAIT ones included, and every download leaves one behind (the server closes the data
// connection, so its side waits out TIME_WAIT on that port for 60 s). A busy server's searches
// then get long: on this machine a listen on port 0 cost 25 µs with 6,000 TIME_WAITs, 100-900 µs
// with 18,000 and 700 µs with 27,000, while a listen on a random port of the same range cost
// 12-22 µs at 27,000 (Node's sockets set SO_REUSEADDR, which lets a new one share a port with
// old connections in TIME_WAIT, as vsftpd's passive ports do). curl's small FTP downloads slowed
// from 1.8 to 2.9 s per 1,000 files over five rounds because of it. An active connection binds
// its local address first, and that bind searches the same way (bench/passive-ports.sh).
//
// So we pick random ports of the kernel's ephemeral range ourselves, skip the ones the
// administrator reserved (`ip_local_reserved_ports`, which port 0 would also skip), and leave the
// choice to the kernel only after a few ports in a row are taken.
import { readFileSync } from 'node:fs';
import { randomInt } from 'node:crypto';
import type { PortRange } from './data.js';

/** Linux's default ephemeral range, for machines where /proc does not say. */
const LINUX_DEFAULT: PortRange = { min: 32768, max: 60999 };

/** Random ports tried before port 0: with 95% of the range taken, 16 tries all fail 44% of the time. */
export const RANDOM_TRIES = 16;

export interface EphemeralPorts {
  range: PortRange;
  /** Ports inside `range` that must not be chosen. */
  reserved: (port: number) => boolean;
}

/** `ip_local_port_range`'s text ("32768\t60999\n"); undefined when it is not two ports in order. */
export function parsePortRange(text: string): PortRange | undefined {
  const m = /^\s*(\d{1,5})\s+(\d{1,5})\s*$/.exec(text);
  if (!m) return undefined;
  const min = Number(m[1]);
  const max = Number(m[2]);
  return min >= 1 && min <= max && max <= 65535 ? { min, max } : undefined;
}

/**
 * `ip_local_reserved_ports`' text ("8080,9000-9100\n", or empty): a test for membership.
 * Undefined when the text is not such a list (then nothing is chosen by us: see `ephemeralPorts`).
 */
export function parseReservedPorts(text: string): ((port: number) => boolean) | undefined {
  const trimmed = text.trim();
  if (trimmed === '') return () => false;
  const ranges: PortRange[] = [];
  for (const part of trimmed.split(',')) {
    const m = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(part.trim());
    if (!m) return undefined;
    const min = Number(m[1]);
    const max = m[2] === undefined ? min : Number(m[2]);
    if (min > max || max > 65535) return undefined;
    ranges.push({ min, max });
  }
  return (port) => ranges.some((r) => port >= r.min && port <= r.max);
}

function readProc(name: string): string | undefined {
  try {
    return readFileSync(`/proc/sys/net/ipv4/${name}`, 'utf8');
  } catch {
    return undefined;
  }
}

let cached: EphemeralPorts | null | undefined;

/**
 * The kernel's ephemeral ports (read once), or null where we cannot know them safely (not
 * Linux, unreadable or odd values): then passive listeners use port 0 as before.
 */
export function ephemeralPorts(): EphemeralPorts | null {
  if (cached !== undefined) return cached;
  if (process.platform !== 'linux') return (cached = null);
  const rangeText = readProc('ip_local_port_range');
  const range = rangeText === undefined ? LINUX_DEFAULT : parsePortRange(rangeText);
  const reserved = parseReservedPorts(readProc('ip_local_reserved_ports') ?? '');
  cached = range && reserved ? { range, reserved } : null;
  return cached;
}

/**
 * Up to `tries` random ports of `ports` (reserved ones left out), for a data connection to try
 * in order before port 0. Drawn one at a time: the first is usually free.
 */
export function* randomEphemeralPorts(ports: EphemeralPorts | null = ephemeralPorts(), tries = RANDOM_TRIES): Generator<number> {
  if (!ports) return;
  for (let i = 0; i < tries; i++) {
    const port = randomInt(ports.range.min, ports.range.max + 1);
    if (!ports.reserved(port)) yield port;
  }
}
