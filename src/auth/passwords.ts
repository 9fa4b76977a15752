// Password fields of the accounts file and the account service: plain text (Tahoe
// compatibility) or a hash, verified in constant time.
//
// Default hash: scrypt, N=2^15 (ln=15), r=8, p=1, 16-byte salt, 32-byte output, written as
// `$scrypt$ln=15,r=8,p=1$SALT$HASH` (PHC string format, unpadded standard base64; passlib's
// `.`-for-`+` variant is accepted on input). Why scrypt: it is in node:crypto (no native
// dependency on the login path) and memory-hard. Why these numbers: measured on the 2-core
// build machine at ~62-70 ms per verification (ln=14: ~28 ms, ln=16: ~135 ms; a later machine
// of the same size, with slower memory, took ~160 ms while argon2id and bcrypt stayed ~68), which is slow
// enough to make offline guessing costly and fast enough that a login does not feel slow. It
// needs 32 MiB per running check; node runs at most 4 at once (libuv pool), so ≤128 MiB.
// argon2id (`@node-rs/argon2`) and bcrypt (`@node-rs/bcrypt`) hashes made by other tools verify too.
// Timing is uniform only between hashes of similar cost: unknown users cost one default scrypt,
// so hashes imported with very different parameters make those users distinguishable.
import { createHash, randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import { Limiter } from '../util/limiter.js';

// argon2 and bcrypt are loaded on first use: most nodes never see such a hash, and the argon2
// binding alone adds ~14 MiB to every process that loads it. Both are native and hash on libuv's
// thread pool. bcrypt was bcryptjs, pure JavaScript, which ran each check on the event loop in
// slices of up to 100 ms: 20 checks kept it 100% busy, and 1 ms timers waited up to 72-75 ms,
// so every transfer of every session stopped during each bcrypt login. Natively the event loop
// is 2-3% busy over the same checks and the timers wait at most 4.3-4.7 ms.
let argon2Module: Promise<typeof import('@node-rs/argon2')> | undefined;
let bcryptModule: Promise<typeof import('@node-rs/bcrypt')> | undefined;
const argon2 = () => (argon2Module ??= import('@node-rs/argon2'));
const bcrypt = () => (bcryptModule ??= import('@node-rs/bcrypt'));

export type HashKind = 'scrypt' | 'argon2id' | 'bcrypt';

/** A password field, parsed once at load time so a malformed hash is a load error. */
export type PasswordSpec =
  | { kind: 'plain'; value: string }
  | { kind: 'scrypt'; ln: number; r: number; p: number; salt: Buffer; hash: Buffer }
  | { kind: 'argon2id'; encoded: string }
  | { kind: 'bcrypt'; encoded: string };

export const DEFAULT_SCRYPT = { ln: 15, r: 8, p: 1, saltBytes: 16, hashBytes: 32 } as const;
// argon2id with the same memory as scrypt (32 MiB) and t=8: ~54 ms here, like scrypt. OWASP's
// minimum (m=19 MiB, t=2) measured only ~8 ms, which would make logins of argon2id users
// measurably faster than refusals of unknown users (those cost one default scrypt).
export const DEFAULT_ARGON2 = { memoryCost: 32768, timeCost: 8, parallelism: 1 } as const;
export const DEFAULT_BCRYPT_COST = 10; // ~57 ms here

// Upper bounds, so a hash pasted with absurd parameters cannot stall the server on each login.
const MAX_SCRYPT_MEMORY = 256 * 1024 * 1024;
const MAX_ARGON2_MEMORY_KIB = 256 * 1024;
const MAX_BCRYPT_COST = 16;

const B64 = /^[A-Za-z0-9+/.]+$/;

function decodeB64(text: string): Buffer {
  return Buffer.from(text.replace(/\./g, '+'), 'base64');
}

function encodeB64(bytes: Buffer): string {
  return bytes.toString('base64').replace(/=+$/, '');
}

/**
 * Classifies a password field. `$scheme$…` fields are hashes; a field that starts like a hash
 * scheme we do not support is an error rather than a plain password (otherwise pasting a
 * `$6$…` crypt hash would make the hash text itself the password).
 */
export function parsePasswordField(field: string): PasswordSpec | { error: string } {
  if (field.startsWith('$scrypt$')) return parseScrypt(field);
  if (field.startsWith('$argon2id$')) return parseArgon2(field);
  if (/^\$2[aby]\$/.test(field)) return parseBcrypt(field);
  if (/^\$[A-Za-z0-9-]+\$/.test(field)) {
    return { error: 'unsupported password hash scheme (use $scrypt$, $argon2id$ or $2b$ bcrypt)' };
  }
  return { kind: 'plain', value: field };
}

function parseScrypt(field: string): PasswordSpec | { error: string } {
  const m = /^\$scrypt\$ln=(\d{1,2}),r=(\d{1,3}),p=(\d{1,3})\$([^$]+)\$([^$]+)$/.exec(field);
  if (!m || !B64.test(m[4]!) || !B64.test(m[5]!)) return { error: 'malformed $scrypt$ hash (expected $scrypt$ln=N,r=N,p=N$SALT$HASH)' };
  const ln = Number(m[1]);
  const r = Number(m[2]);
  const p = Number(m[3]);
  if (ln < 1 || ln > 24 || r < 1 || r > 32 || p < 1 || p > 16 || 128 * 2 ** ln * r > MAX_SCRYPT_MEMORY) {
    return { error: 'scrypt parameters out of range (ln 1-24, r 1-32, p 1-16, at most 256 MiB)' };
  }
  const salt = decodeB64(m[4]!);
  const hash = decodeB64(m[5]!);
  if (salt.length < 8 || hash.length < 16 || hash.length > 64) return { error: 'scrypt salt or hash has a bad length' };
  return { kind: 'scrypt', ln, r, p, salt, hash };
}

function parseArgon2(field: string): PasswordSpec | { error: string } {
  const m = /^\$argon2id\$(?:v=(\d+)\$)?m=(\d{1,10}),t=(\d{1,4}),p=(\d{1,3})\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)$/.exec(field);
  if (!m) return { error: 'malformed $argon2id$ hash' };
  const mem = Number(m[2]);
  const t = Number(m[3]);
  const p = Number(m[4]);
  if (mem < 8 || mem > MAX_ARGON2_MEMORY_KIB || t < 1 || t > 64 || p < 1 || p > 16) {
    return { error: 'argon2id parameters out of range (m ≤ 262144 KiB, t 1-64, p 1-16)' };
  }
  return { kind: 'argon2id', encoded: field };
}

function parseBcrypt(field: string): PasswordSpec | { error: string } {
  const m = /^\$2[aby]\$(\d\d)\$[./A-Za-z0-9]{53}$/.exec(field);
  if (!m) return { error: 'malformed bcrypt hash' };
  const cost = Number(m[1]);
  if (cost < 4 || cost > MAX_BCRYPT_COST) return { error: `bcrypt cost out of range (4-${MAX_BCRYPT_COST})` };
  return { kind: 'bcrypt', encoded: field };
}

function scryptAsync(password: string, salt: Buffer, keylen: number, ln: number, r: number, p: number): Promise<Buffer> {
  const N = 2 ** ln;
  return new Promise((resolve, reject) => {
    scrypt(password, salt, keylen, { N, r, p, maxmem: 128 * N * r * 2 + 1024 * 1024 }, (err, key) =>
      err ? reject(err) : resolve(key),
    );
  });
}

/** Hashes a password for storage (accounts file or account service). */
export async function hashPassword(password: string, kind: HashKind = 'scrypt'): Promise<string> {
  switch (kind) {
    case 'scrypt': {
      const { ln, r, p, saltBytes, hashBytes } = DEFAULT_SCRYPT;
      const salt = randomBytes(saltBytes);
      const hash = await scryptAsync(password, salt, hashBytes, ln, r, p);
      return `$scrypt$ln=${ln},r=${r},p=${p}$${encodeB64(salt)}$${encodeB64(hash)}`;
    }
    case 'argon2id': {
      const a = await argon2();
      return a.hash(password, { ...DEFAULT_ARGON2, algorithm: a.Algorithm.Argon2id });
    }
    case 'bcrypt':
      return (await bcrypt()).hash(password, DEFAULT_BCRYPT_COST);
  }
}

/**
 * Hash checks running at once, over the whole process: one. Each costs 60-160 ms of CPU on libuv's
 * thread pool, which also seals, reads and syncs every transfer's
 * data, and libuv serves its queue in order. Unbounded, six loops of curl logging in (correct
 * password or not: refusals cost one hash too) filled the pool's queue with hashes, and a 512 MiB
 * FTP download beside them took 8-9 s instead of 0.45 (bench/README.md, thirteenth session). One
 * at a time leaves the pool to the transfers and a core to everything else; logins wait their
 * turn (~16 a second on this machine) as OpenSSH's do past MaxStartups.
 */
const hashChecks = new Limiter(1);

/** Hash checks running and waiting now (for metrics and tests). */
export function passwordChecks(): { running: number; waiting: number } {
  return { running: hashChecks.inFlight, waiting: hashChecks.queued };
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

/**
 * True when `password` matches `stored` (a field string or a parsed spec). Never rejects: a
 * malformed hash, a library error or an abort is a mismatch. Plain fields compare SHA-256
 * digests with timingSafeEqual, so neither content nor length leaks through timing. Hashes are
 * checked one at a time (hashChecks); `signal` (the connection's end) takes a check that is
 * still waiting for its turn out of the queue.
 */
export async function verifyPassword(stored: string | PasswordSpec, password: string, signal?: AbortSignal): Promise<boolean> {
  const spec = typeof stored === 'string' ? parsePasswordField(stored) : stored;
  try {
    if ('error' in spec) return false;
    if (spec.kind === 'plain') return timingSafeEqual(digest(spec.value), digest(password));
    return await hashChecks.run(() => matchesHash(spec, password), signal);
  } catch {
    return false;
  }
}

/** Whether `password` hashes to `spec`: the costly part, run under hashChecks. */
async function matchesHash(spec: Exclude<PasswordSpec, { kind: 'plain' }>, password: string): Promise<boolean> {
  switch (spec.kind) {
    case 'scrypt':
      return timingSafeEqual(await scryptAsync(password, spec.salt, spec.hash.length, spec.ln, spec.r, spec.p), spec.hash);
    case 'argon2id':
      return (await argon2()).verify(spec.encoded, password);
    case 'bcrypt':
      return (await bcrypt()).verify(password, spec.encoded);
  }
}

// A fixed hash of the default kind. Nothing is known to hash to it, and verifyDummy ignores the
// result anyway; it exists so refusing an unknown user costs one default-strength hash.
const DUMMY: PasswordSpec = {
  kind: 'scrypt',
  ln: DEFAULT_SCRYPT.ln,
  r: DEFAULT_SCRYPT.r,
  p: DEFAULT_SCRYPT.p,
  salt: Buffer.from('lafsd-dummy-salt'),
  hash: Buffer.alloc(DEFAULT_SCRYPT.hashBytes, 0x5a),
};

/** Spends the time of one default-kind verification, then says no. For unknown users. */
export async function verifyDummy(password: string, signal?: AbortSignal): Promise<false> {
  await verifyPassword(DUMMY, password, signal);
  return false;
}

