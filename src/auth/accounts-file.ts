// The accounts file grammar (DESIGN.md "Accounts file"), as a pure parser:
//
//   # comment                       (after trimming; there are no inline comments)
//   NAME PASSWORD ROOTCAP [OPTION…]          (PASSWORD plain, or $scrypt$/$argon2id$/$2b$ hash)
//   NAME KEYTYPE BASE64 [COMMENT…] ROOTCAP [OPTION…]   (the cap is the last word before options)
//   OPTION: quota=SIZE, quota_files=N   (account-options.ts)
//
// Unlike Tahoe, every bad line is reported (all at once, as `file:line: problem`), the cap must
// be a directory cap, and several lines for one user add keys instead of the last one winning.
// Problem messages never quote passwords, keys or caps.
import { isDirectory, parseCap, formatCap } from '../caps/index.js';
import type { AccountKey, AccountQuota } from './types.js';
import { parseAccountOptions, sameQuota, splitOptions } from './account-options.js';
import { AuthError } from './errors.js';
import { parsePasswordField, type PasswordSpec } from './passwords.js';
import { isKeyType, looksLikeKeyType, parseKeyBlob, KEY_TYPES } from './ssh-keys.js';

export interface AccountRecord {
  username: string;
  /** Canonical form of the root directory cap. Never log it. */
  rootCap: string;
  /** At most one password per user; undefined for key-only users. */
  password?: PasswordSpec;
  keys: AccountKey[];
  quota?: AccountQuota;
  /** Line numbers (1-based) that mention this user, for messages. */
  lines: number[];
}

export interface ParsedAccounts {
  accounts: Map<string, AccountRecord>;
  warnings: string[];
}

export const MAX_USERNAME_BYTES = 256;

/** Why a username is unacceptable, or undefined when it is fine. */
export function usernameProblem(name: string): string | undefined {
  if (name.length === 0) return 'empty username';
  if (/\s/.test(name)) return 'username contains whitespace';
  // C0, DEL and C1 controls could forge log lines or confuse clients.
  if (/[\u0000-\u001f\u007f-\u009f]/.test(name)) return 'username contains a control character';
  if (Buffer.byteLength(name, 'utf8') > MAX_USERNAME_BYTES) return `username longer than ${MAX_USERNAME_BYTES} bytes`;
  return undefined;
}

/** Splits into lines the way Python's universal newlines does (\r\n, \r, \n), keeping bytes. */
function splitLines(input: string | Uint8Array): { line: string | undefined; n: number }[] {
  const out: { line: string | undefined; n: number }[] = [];
  if (typeof input === 'string') {
    const text = input.startsWith('\uFEFF') ? input.slice(1) : input;
    text.split(/\r\n|\r|\n/).forEach((line, i) => out.push({ line, n: i + 1 }));
    return out;
  }
  let bytes = Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  if (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) bytes = bytes.subarray(3);
  const decoder = new TextDecoder('utf-8', { fatal: true });
  let start = 0;
  let n = 1;
  const push = (end: number) => {
    let line: string | undefined;
    try {
      line = decoder.decode(bytes.subarray(start, end));
    } catch {
      line = undefined; // invalid UTF-8, reported by the caller
    }
    out.push({ line, n: n++ });
  };
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i];
    if (b === 0x0a || b === 0x0d) {
      push(i);
      if (b === 0x0d && bytes[i + 1] === 0x0a) i++;
      start = i + 1;
    }
  }
  push(bytes.length);
  return out;
}

type LineResult =
  | { username: string; rootCap: string; password?: PasswordSpec; key?: AccountKey; quota?: AccountQuota }
  | { error: string };

const SHAPES = 'expected "NAME PASSWORD ROOTCAP [OPTION…]" or "NAME KEYTYPE BASE64 [COMMENT…] ROOTCAP [OPTION…]"';

function parseContentLine(line: string): LineResult {
  const { rest: words, options } = splitOptions(line.split(/\s+/));
  const parsedOptions = parseAccountOptions(options);
  if ('error' in parsedOptions) return parsedOptions;
  if (words.length < 3) return { error: `too few fields; ${SHAPES}` };
  const username = words[0]!;
  const nameProblem = usernameProblem(username);
  if (nameProblem) return { error: nameProblem };
  const second = words[1]!;
  let password: PasswordSpec | undefined;
  let key: AccountKey | undefined;
  if (isKeyType(second)) {
    if (words.length < 4) return { error: `key line needs a key and a root cap; ${SHAPES}` };
    const parsed = parseKeyBlob(second, words[2]!);
    if ('error' in parsed) return { error: parsed.error };
    key = { type: second, blob: parsed.blob };
    const comment = words.slice(3, -1).join(' ');
    if (comment) key.comment = comment;
  } else if (looksLikeKeyType(second)) {
    // Do not echo the word: on a line meant as a password line it would be the password.
    return { error: `unsupported key type in the second field (supported: ${KEY_TYPES.join(', ')}); a password cannot start with ssh-, ecdsa- or sk-` };
  } else {
    if (words.length !== 3) return { error: `a password line has exactly three fields (passwords cannot contain spaces); ${SHAPES}` };
    const spec = parsePasswordField(second);
    if ('error' in spec) return { error: spec.error };
    password = spec;
  }
  const cap = parseCap(words[words.length - 1]!);
  if (cap.type === 'unknown') return { error: 'the last field is not a valid cap (the root cap must be a directory cap, URI:DIR2…)' };
  if (!isDirectory(cap)) return { error: `the root cap is a ${cap.type} cap, not a directory cap` };
  const out: LineResult = { username, rootCap: formatCap(cap) };
  if (password) out.password = password;
  if (key) out.key = key;
  if (parsedOptions.quota) out.quota = parsedOptions.quota;
  return out;
}

function samePassword(a: PasswordSpec, b: PasswordSpec): boolean {
  if (a.kind !== b.kind) return false;
  if (a.kind === 'plain' && b.kind === 'plain') return a.value === b.value;
  if (a.kind === 'scrypt' && b.kind === 'scrypt') {
    return a.ln === b.ln && a.r === b.r && a.p === b.p && a.salt.equals(b.salt) && a.hash.equals(b.hash);
  }
  return 'encoded' in a && 'encoded' in b && a.encoded === b.encoded;
}

/**
 * Parses an accounts file. Throws AuthError listing every bad line as `fileName:line: problem`.
 * A `Uint8Array` input is decoded as UTF-8 line by line, so invalid bytes name their line.
 */
export function parseAccounts(input: string | Uint8Array, fileName: string): ParsedAccounts {
  const accounts = new Map<string, AccountRecord>();
  const problems: string[] = [];
  const plainLines: number[] = [];
  for (const { line: raw, n } of splitLines(input)) {
    const where = `${fileName}:${n}`;
    if (raw === undefined) {
      problems.push(`${where}: not valid UTF-8`);
      continue;
    }
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const r = parseContentLine(line);
    if ('error' in r) {
      problems.push(`${where}: ${r.error}`);
      continue;
    }
    if (r.password?.kind === 'plain') plainLines.push(n);
    const existing = accounts.get(r.username);
    if (!existing) {
      const rec: AccountRecord = { username: r.username, rootCap: r.rootCap, keys: r.key ? [r.key] : [], lines: [n] };
      if (r.password) rec.password = r.password;
      if (r.quota) rec.quota = r.quota;
      accounts.set(r.username, rec);
      continue;
    }
    const user = JSON.stringify(r.username);
    if (existing.rootCap !== r.rootCap) {
      problems.push(`${where}: user ${user} has a different root cap on line ${existing.lines[0]}`);
      continue;
    }
    if (r.quota) {
      if (existing.quota && !sameQuota(existing.quota, r.quota)) {
        problems.push(`${where}: user ${user} already has different options (line ${existing.lines[0]})`);
        continue;
      }
      existing.quota = r.quota;
    }
    if (r.password) {
      if (existing.password && !samePassword(existing.password, r.password)) {
        problems.push(`${where}: user ${user} already has a different password (line ${existing.lines[0]})`);
        continue;
      }
      existing.password = r.password;
    }
    if (r.key && !existing.keys.some((k) => k.blob.equals(r.key!.blob))) existing.keys.push(r.key);
    existing.lines.push(n);
  }
  if (problems.length) {
    throw new AuthError(`${fileName}: ${problems.length} bad line${problems.length === 1 ? '' : 's'}`, problems);
  }
  const warnings: string[] = [];
  if (plainLines.length) {
    warnings.push(
      `${fileName}: plain-text password on line${plainLines.length === 1 ? '' : 's'} ${plainLines.join(', ')}; store hashes instead (lafsd passwd)`,
    );
  }
  return { accounts, warnings };
}
