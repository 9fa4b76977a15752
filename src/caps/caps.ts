// Capabilities: parsing, formatting and diminishing, in Tahoe-LAFS's textual shapes
// (allmydata/uri.py). Pure functions; a cap we do not know is kept verbatim as "unknown".
import { b32decode, b32encode } from './base32.js';
import { chkStorageIndex, KEYLEN, sskReadKey, sskStorageIndex } from './hashes.js';

/** Immutable file or directory contents, stored elsewhere and checked against `uebHash`. */
export interface ChkFields {
  key: Buffer; // 16-byte read key
  uebHash: Buffer; // 32-byte hash of the object's header
  k: number; // shares needed (meaningful on a Tahoe grid; 1 on the embedded store)
  n: number; // shares in total
  size: number; // plaintext bytes
}

export interface SskWriteFields {
  writeKey: Buffer; // 16 bytes
  fingerprint: Buffer; // 32 bytes
}

export interface SskReadFields {
  readKey: Buffer; // 16 bytes
  fingerprint: Buffer;
}

export interface VerifierFields {
  storageIndex: Buffer;
  fingerprint: Buffer;
}

export type Cap =
  | { type: 'LIT'; data: Buffer }
  | ({ type: 'CHK' } & ChkFields)
  | ({ type: 'CHK-Verifier'; storageIndex: Buffer } & Omit<ChkFields, 'key'>)
  | ({ type: 'SSK' | 'MDMF' | 'DIR2' | 'DIR2-MDMF' } & SskWriteFields)
  | ({ type: 'SSK-RO' | 'MDMF-RO' | 'DIR2-RO' | 'DIR2-MDMF-RO' } & SskReadFields)
  | ({ type: 'SSK-Verifier' | 'MDMF-Verifier' | 'DIR2-Verifier' | 'DIR2-MDMF-Verifier' } & VerifierFields)
  | { type: 'DIR2-LIT'; data: Buffer }
  | ({ type: 'DIR2-CHK' } & ChkFields)
  | ({ type: 'DIR2-CHK-Verifier'; storageIndex: Buffer } & Omit<ChkFields, 'key'>)
  | { type: 'unknown'; text: string };

export type CapType = Cap['type'];
export type KnownCap = Exclude<Cap, { type: 'unknown' }>;

/** Largest file whose bytes Tahoe puts into a `URI:LIT:` cap instead of storing them. */
export const LIT_MAX = 55;

const WRITE_TO_READ = {
  SSK: 'SSK-RO',
  MDMF: 'MDMF-RO',
  DIR2: 'DIR2-RO',
  'DIR2-MDMF': 'DIR2-MDMF-RO',
} as const;
const READ_TO_VERIFIER = {
  'SSK-RO': 'SSK-Verifier',
  'MDMF-RO': 'MDMF-Verifier',
  'DIR2-RO': 'DIR2-Verifier',
  'DIR2-MDMF-RO': 'DIR2-MDMF-Verifier',
} as const;
type WriteType = keyof typeof WRITE_TO_READ;
type ReadType = keyof typeof READ_TO_VERIFIER;
type VerifierType = (typeof READ_TO_VERIFIER)[ReadType];

function isWriteType(t: string): t is WriteType {
  return t in WRITE_TO_READ;
}
function isReadType(t: string): t is ReadType {
  return t in READ_TO_VERIFIER;
}
const VERIFIER_TYPES = new Set<string>(Object.values(READ_TO_VERIFIER));
function isVerifierType(t: string): t is VerifierType {
  return VERIFIER_TYPES.has(t);
}

// ---------------------------------------------------------------------------------------------
// Parsing

function key128(text: string | undefined): Buffer | undefined {
  if (text === undefined || text.length !== 26) return undefined;
  const b = b32decode(text);
  return b && b.length === KEYLEN ? b : undefined;
}

function hash256(text: string | undefined): Buffer | undefined {
  if (text === undefined || text.length !== 52) return undefined;
  const b = b32decode(text);
  return b && b.length === 32 ? b : undefined;
}

function decimal(text: string | undefined): number | undefined {
  if (text === undefined || !/^\d{1,16}$/.test(text)) return undefined;
  const n = Number(text);
  return Number.isSafeInteger(n) ? n : undefined;
}

function parseChkFields(parts: string[], keyParser: (s?: string) => Buffer | undefined) {
  if (parts.length !== 5) return undefined;
  const key = keyParser(parts[0]);
  const uebHash = hash256(parts[1]);
  const k = decimal(parts[2]);
  const n = decimal(parts[3]);
  const size = decimal(parts[4]);
  if (!key || !uebHash || k === undefined || n === undefined || size === undefined) return undefined;
  if (k < 1 || n < k || n > 256) return undefined;
  return { key, uebHash, k, n, size };
}

function parseKnown(text: string): KnownCap | undefined {
  const m = /^URI:([A-Za-z0-9-]+):(.*)$/s.exec(text);
  if (!m) return undefined;
  const type = m[1]!;
  const rest = m[2]!;
  const parts = rest.split(':');
  switch (type) {
    case 'LIT':
    case 'DIR2-LIT': {
      if (rest.includes(':')) return undefined;
      const data = b32decode(rest);
      return data ? { type, data } : undefined;
    }
    case 'CHK':
    case 'DIR2-CHK': {
      const f = parseChkFields(parts, key128);
      return f ? { type, ...f } : undefined;
    }
    case 'CHK-Verifier':
    case 'DIR2-CHK-Verifier': {
      const f = parseChkFields(parts, key128);
      if (!f) return undefined;
      const { key, ...others } = f;
      return { type, storageIndex: key, ...others };
    }
  }
  // Mutable shapes: KEY:FINGERPRINT, MDMF ones may carry obsolete trailing extension fields.
  const allowsExtensions = type.includes('MDMF');
  if (parts.length < 2 || (!allowsExtensions && parts.length !== 2)) return undefined;
  if (allowsExtensions && parts.slice(2).some((p) => !/^\d*$/.test(p))) return undefined;
  const key = key128(parts[0]);
  const fingerprint = hash256(parts[1]);
  if (!key || !fingerprint) return undefined;
  if (isWriteType(type)) return { type, writeKey: key, fingerprint };
  if (isReadType(type)) return { type, readKey: key, fingerprint };
  if (isVerifierType(type)) return { type, storageIndex: key, fingerprint };
  return undefined;
}

/**
 * Parses a cap. Anything that is not a well-formed cap of a known kind comes back as
 * `{type: 'unknown', text}` with the text kept verbatim, never dropped. The `ro.` and `imm.`
 * prefixes Tahoe puts on caps in directories are understood; a write cap behind them is
 * refused (treated as unknown), because the prefix promises a read-only cap.
 */
export function parseCap(input: string): Cap {
  const text = input.trim();
  let inner = text;
  let promisedReadOnly = false;
  let promisedImmutable = false;
  if (inner.startsWith('ro.')) {
    inner = inner.slice(3);
    promisedReadOnly = true;
  } else if (inner.startsWith('imm.')) {
    inner = inner.slice(4);
    promisedImmutable = true;
  }
  const cap = parseKnown(inner);
  if (!cap) return { type: 'unknown', text };
  if ((promisedReadOnly || promisedImmutable) && !isReadOnly(cap)) return { type: 'unknown', text };
  if (promisedImmutable && isMutable(cap)) return { type: 'unknown', text };
  return cap;
}

// ---------------------------------------------------------------------------------------------
// Formatting

function formatChk(prefix: string, key: Buffer, f: Omit<ChkFields, 'key'>): string {
  return `URI:${prefix}:${b32encode(key)}:${b32encode(f.uebHash)}:${f.k}:${f.n}:${f.size}`;
}

export function formatCap(cap: Cap): string {
  switch (cap.type) {
    case 'unknown':
      return cap.text;
    case 'LIT':
    case 'DIR2-LIT':
      return `URI:${cap.type}:${b32encode(cap.data)}`;
    case 'CHK':
    case 'DIR2-CHK':
      return formatChk(cap.type, cap.key, cap);
    case 'CHK-Verifier':
    case 'DIR2-CHK-Verifier':
      return formatChk(cap.type, cap.storageIndex, cap);
    case 'SSK':
    case 'MDMF':
    case 'DIR2':
    case 'DIR2-MDMF':
      return `URI:${cap.type}:${b32encode(cap.writeKey)}:${b32encode(cap.fingerprint)}`;
    case 'SSK-RO':
    case 'MDMF-RO':
    case 'DIR2-RO':
    case 'DIR2-MDMF-RO':
      return `URI:${cap.type}:${b32encode(cap.readKey)}:${b32encode(cap.fingerprint)}`;
    case 'SSK-Verifier':
    case 'MDMF-Verifier':
    case 'DIR2-Verifier':
    case 'DIR2-MDMF-Verifier':
      return `URI:${cap.type}:${b32encode(cap.storageIndex)}:${b32encode(cap.fingerprint)}`;
  }
}

/** Parses and re-formats, so equal caps compare equal as strings. Unknown caps stay verbatim. */
export function canonicalCap(text: string): string {
  return formatCap(parseCap(text));
}

// ---------------------------------------------------------------------------------------------
// Classification

export function isDirectory(cap: Cap): boolean {
  return cap.type.startsWith('DIR2') && !isVerifier(cap);
}

export function isFile(cap: Cap): boolean {
  return cap.type !== 'unknown' && !isDirectory(cap) && !isVerifier(cap);
}

export function isVerifier(cap: Cap): boolean {
  return cap.type.endsWith('Verifier');
}

export function isMutable(cap: Cap): boolean {
  return isWriteType(cap.type) || isReadType(cap.type) || isVerifierType(cap.type);
}

/** True for every cap that grants no write authority (unknown caps count as read-only). */
export function isReadOnly(cap: Cap): boolean {
  return !isWriteType(cap.type);
}

// ---------------------------------------------------------------------------------------------
// Diminishing: write → read → verify. Nothing goes the other way.

/** The read cap of a write cap; read caps (and unknown caps) are returned unchanged. */
export function diminish(cap: Cap): Cap {
  if (isWriteType(cap.type)) {
    const w = cap as Extract<Cap, { writeKey: Buffer }>;
    return { type: WRITE_TO_READ[w.type as WriteType], readKey: sskReadKey(w.writeKey), fingerprint: w.fingerprint } as Cap;
  }
  return cap;
}

/** The verify cap (storage index + integrity data, no read key); undefined for LIT and unknown caps. */
export function verifierOf(cap: Cap): Cap | undefined {
  const rcap = diminish(cap);
  switch (rcap.type) {
    case 'CHK':
    case 'DIR2-CHK': {
      const { key, type, ...rest } = rcap;
      return { type: type === 'CHK' ? 'CHK-Verifier' : 'DIR2-CHK-Verifier', storageIndex: chkStorageIndex(key), ...rest };
    }
    case 'SSK-RO':
    case 'MDMF-RO':
    case 'DIR2-RO':
    case 'DIR2-MDMF-RO':
      return { type: READ_TO_VERIFIER[rcap.type], storageIndex: sskStorageIndex(rcap.readKey), fingerprint: rcap.fingerprint };
    default:
      return isVerifier(rcap) ? rcap : undefined;
  }
}

/** The storage index locating a cap's data, if it has one (LIT and unknown caps do not). */
export function storageIndexOf(cap: Cap): Buffer | undefined {
  const v = verifierOf(cap);
  return v && 'storageIndex' in v ? v.storageIndex : undefined;
}

/** Size in bytes when the cap itself says it (LIT and CHK kinds). */
export function sizeFromCap(cap: Cap): number | undefined {
  switch (cap.type) {
    case 'LIT':
      return cap.data.length;
    case 'CHK':
    case 'CHK-Verifier':
      return cap.size;
    default:
      return undefined;
  }
}

/** A `URI:LIT:` cap holding `data` (Tahoe makes these for files of up to LIT_MAX bytes). */
export function literalCap(data: Uint8Array): string {
  return `URI:LIT:${b32encode(data)}`;
}

/** Read cap text of any cap text (unknown stays as it is). */
export function readCapOf(text: string): string {
  return formatCap(diminish(parseCap(text)));
}
