// The value types a tahoe.cfg key can have. Each type turns the raw text into a typed value or a
// problem phrase that completes the sentence `[section] key: <problem>`; each also carries the
// short name shown in the README's Type column.
import { resolve } from 'node:path';
import { isIP } from 'node:net';
import { checkEndpoint, endpointProblem, type Endpoint } from './endpoint.js';

export interface ValueContext {
  /** The node directory; relative paths are resolved against it. */
  basedir: string;
}

export type Parsed<T> = { ok: true; value: T } | { ok: false; problem: string };

export interface ValueType<T> {
  /** Plain text for the reference table, e.g. `boolean` or `integer 1-100`. */
  readonly doc: string;
  parse(raw: string, ctx: ValueContext): Parsed<T>;
}

const ok = <T>(value: T): Parsed<T> => ({ ok: true, value });
const bad = <T>(problem: string): Parsed<T> => ({ ok: false, problem });
const q = (raw: string) => JSON.stringify(raw);

// ConfigParser.getboolean's table (BOOLEAN_STATES), matched case-insensitively like Tahoe.
const BOOLEANS: Record<string, boolean> = {
  '1': true, yes: true, true: true, on: true,
  '0': false, no: false, false: false, off: false,
};

export const boolean: ValueType<boolean> = {
  doc: 'boolean',
  parse(raw) {
    const v = Object.hasOwn(BOOLEANS, raw.toLowerCase()) ? BOOLEANS[raw.toLowerCase()] : undefined;
    return v === undefined ? bad(`${q(raw)} is not a boolean; use true/false, yes/no, on/off or 1/0`) : ok(v);
  },
};

export const endpoint: ValueType<Endpoint> = {
  doc: 'endpoint',
  parse(raw) {
    const ep = checkEndpoint(raw);
    return typeof ep === 'string' ? bad(endpointProblem(raw, ep)) : ok(ep);
  },
};

// Like Tahoe's get_config_path: joined to BASEDIR first, so `~` is not expanded and an absolute
// path stays as it is.
export const path: ValueType<string> = {
  doc: 'path',
  parse(raw, ctx) {
    if (raw === '') return bad('"" is not a path; give a file or folder name');
    if (raw.includes('\0')) return bad(`${q(raw)} is not a path: it contains a NUL character`);
    return ok(resolve(ctx.basedir, raw));
  },
};

/** An http:// or https:// URL, kept as written (callers build request URLs from it). */
export const url: ValueType<string> = {
  doc: 'URL',
  parse(raw) {
    let u: URL;
    try {
      u = new URL(raw);
    } catch {
      return bad(`${q(raw)} is not a URL; use http://HOST[:PORT]/... or https://...`);
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') {
      return bad(`${q(raw)} is not an http:// or https:// URL`);
    }
    return ok(raw);
  },
};

export function oneOf<const V extends string>(...values: V[]): ValueType<V> {
  return {
    doc: values.join(' | '),
    parse(raw) {
      return (values as string[]).includes(raw)
        ? ok(raw as V)
        : bad(`${q(raw)} is not one of ${values.map((v) => `'${v}'`).join(', ')}`);
    },
  };
}

/** A positive integer within [min, max] (min is at least 1). */
export function integer(opts: { min?: number; max?: number } = {}): ValueType<number> {
  const min = Math.max(1, opts.min ?? 1);
  const max = opts.max ?? Number.MAX_SAFE_INTEGER;
  return {
    doc: opts.max === undefined ? `integer >= ${min}` : `integer ${min}-${max}`,
    parse(raw) {
      const n = /^[0-9]{1,15}$/.test(raw) ? Number(raw) : NaN;
      if (!(n >= min && n <= max)) {
        return bad(`${q(raw)} is not an integer from ${min} to ${opts.max === undefined ? 'up' : max}`);
      }
      return ok(n);
    },
  };
}

/**
 * A number within [min, max] (default 0 up); `integer: true` refuses fractions. For scores,
 * factors and counts where 0 is meaningful (`integer` starts at 1).
 */
export function number(opts: { min?: number; max?: number; integer?: boolean } = {}): ValueType<number> {
  const min = opts.min ?? 0;
  const max = opts.max ?? Number.MAX_SAFE_INTEGER;
  const kind = opts.integer ? 'integer' : 'number';
  const range = opts.max === undefined ? `>= ${min}` : `${min}-${max}`;
  return {
    doc: `${kind} ${range}`,
    parse(raw) {
      const shape = opts.integer ? /^[0-9]{1,15}$/ : /^[0-9]{1,15}(\.[0-9]{1,9})?$/;
      const n = shape.test(raw) ? Number(raw) : NaN;
      if (!(n >= min && n <= max)) {
        return bad(`${q(raw)} is not ${opts.integer ? 'an integer' : 'a number'} from ${min} to ${opts.max === undefined ? 'up' : max}`);
      }
      return ok(n);
    },
  };
}

const UNIT_MS: Record<string, number> = { '': 1000, s: 1000, m: 60_000, h: 3_600_000 };

/** A time span: `30` or `30s` (seconds), `5m`, `1h`. The value is in milliseconds. */
export function duration(opts: { minMs?: number; maxMs?: number } = {}): ValueType<number> {
  const minMs = opts.minMs ?? 0;
  const maxMs = opts.maxMs ?? 365 * 24 * 3_600_000;
  return {
    doc: 'duration',
    parse(raw) {
      const m = /^([0-9]{1,9})\s*([smh]?)$/i.exec(raw);
      const ms = m ? Number(m[1]) * (UNIT_MS[(m[2] ?? '').toLowerCase()] ?? NaN) : NaN;
      if (Number.isNaN(ms)) return bad(`${q(raw)} is not a duration; use e.g. 30s, 5m or 1h`);
      if (ms < minMs || ms > maxMs) {
        return bad(`${q(raw)} is out of range ${formatMs(minMs)} to ${formatMs(maxMs)}`);
      }
      return ok(ms);
    },
  };
}

function formatMs(ms: number): string {
  if (ms % 3_600_000 === 0 && ms > 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0 && ms > 0) return `${ms / 60_000}m`;
  return `${ms / 1000}s`;
}

const SIZE_UNITS: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4, p: 1024 ** 5 };

/**
 * A byte count: `1048576`, or with a binary unit `64K`, `100M`, `2G`, `1T` (a trailing `B` or
 * `iB` is allowed: `64MiB`). Undefined when it is not one, or too large to count exactly.
 */
export function parseByteSize(raw: string): number | undefined {
  const m = /^([0-9]{1,15})\s*([kmgtp]?)(i?b)?$/i.exec(raw.trim());
  if (!m) return undefined;
  const unit = SIZE_UNITS[(m[2] ?? '').toLowerCase()]!;
  if (m[3] !== undefined && m[2] === '' && m[3].toLowerCase() !== 'b') return undefined;
  const n = Number(m[1]) * unit;
  return Number.isSafeInteger(n) ? n : undefined;
}

/** A byte count (parseByteSize) within [min, max]. */
export function byteSize(opts: { min?: number; max?: number } = {}): ValueType<number> {
  const min = opts.min ?? 0;
  const max = opts.max ?? Number.MAX_SAFE_INTEGER;
  return {
    doc: 'size',
    parse(raw) {
      const n = parseByteSize(raw);
      if (n === undefined) return bad(`${q(raw)} is not a size; use bytes or a unit, e.g. 64M, 100G or 1T`);
      if (n < min || n > max) return bad(`${q(raw)} is out of range ${min} to ${max} bytes`);
      return ok(n);
    },
  };
}

export interface PortRange {
  min: number;
  max: number;
}

// Unprivileged ports only: a passive data port range never needs root.
export const portRange: ValueType<PortRange> = {
  doc: 'port range',
  parse(raw) {
    const m = /^([0-9]{1,5})\s*-\s*([0-9]{1,5})$/.exec(raw);
    if (!m) return bad(`${q(raw)} is not a port range; use LOW-HIGH, e.g. 50000-50100`);
    const min = Number(m[1]);
    const max = Number(m[2]);
    if (min < 1024 || max > 65535) return bad(`${q(raw)} is not within 1024-65535`);
    if (min > max) return bad(`${q(raw)} is not a port range: ${min} is above ${max}`);
    return ok({ min, max });
  },
};

export const ipAddress: ValueType<string> = {
  doc: 'IP address',
  parse(raw) {
    return isIP(raw) ? ok(raw) : bad(`${q(raw)} is not an IPv4 or IPv6 address`);
  },
};

/** IP addresses separated by commas or spaces (empty: none). */
export const ipAddressList: ValueType<string[]> = {
  doc: 'IP addresses',
  parse(raw) {
    const items = raw.split(/[\s,]+/).filter(Boolean);
    const badOne = items.find((a) => !isIP(a));
    return badOne !== undefined ? bad(`${q(badOne)} is not an IPv4 or IPv6 address`) : ok(items);
  },
};

export const string: ValueType<string> = {
  doc: 'text',
  parse: (raw) => ok(raw),
};

export interface MaxStartups {
  /** Below this many unauthenticated connections, none is dropped. */
  start: number;
  /** Drop probability (percent) at `start`, rising linearly to 100 at `full`. */
  rate: number;
  /** At this many, every new connection is dropped. */
  full: number;
}

/** OpenSSH's MaxStartups `start:rate:full`; a single number is a hard limit (`n:100:n`). */
export const maxStartups: ValueType<MaxStartups> = {
  doc: 'start:rate:full',
  parse(raw) {
    const m = /^([0-9]{1,9})(?::([0-9]{1,9}):([0-9]{1,9}))?$/.exec(raw);
    if (!m) return bad(`${q(raw)} is not start:rate:full (e.g. 10:30:100) or a single number`);
    const start = Number(m[1]);
    const v = m[2] === undefined ? { start, rate: 100, full: start } : { start, rate: Number(m[2]), full: Number(m[3]) };
    if (v.start < 1 || v.rate > 100 || v.full < v.start) {
      return bad(`${q(raw)} needs 1 <= start <= full and rate (a percentage) at most 100`);
    }
    return ok(v);
  },
};
