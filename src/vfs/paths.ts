// Path canonicalisation, done once at the edge: every protocol adapter turns the client's bytes
// into a VPath here, and everything below (permission checks, lookups, logs) sees only that.
//
// Rules (Tahoe's _path_from_string, hardened as SFTPGo does after CVE-2026-30914):
// - strict UTF-8 (undecodable → INVALID_NAME), NUL refused;
// - `\` counts as `/`, so Windows-style `..\..\x` cannot smuggle a `..` past us;
// - empty and `.` components vanish, `..` pops one component and is clamped at the root;
// - each name is NFC-normalised and at most NAME_MAX bytes;
// - `/uri/<CAP>/rest` starts from that cap instead of the account's root (Tahoe's feature for
//   caps the client already holds, with exactly that cap's authority). Only a second component
//   that looks like a cap counts, so a real child named `uri` stays reachable.
import { VfsError } from './errors.js';

export const NAME_MAX = 255;
export const PATH_MAX = 4096;

/** A canonical path: components below the account root, or below a cap given in the path. */
export interface VPath {
  /** The cap of a `/uri/<CAP>/…` path; undefined for paths below the account's root. */
  readonly cap?: string;
  /** NFC components below the root (or the cap). Empty for the root itself. */
  readonly parts: readonly string[];
}

export const ROOT: VPath = { parts: [] };

const utf8 = new TextDecoder('utf-8', { fatal: true });

function decode(raw: Buffer | string): string {
  if (typeof raw === 'string') {
    // Strings from adapters that already decoded (FTP lines): lone surrogates mean bad bytes.
    if (!raw.isWellFormed()) throw new VfsError('INVALID_NAME', 'path could not be decoded as UTF-8');
    return raw;
  }
  try {
    return utf8.decode(raw);
  } catch {
    throw new VfsError('INVALID_NAME', 'path could not be decoded as UTF-8');
  }
}

function looksLikeCap(text: string): boolean {
  return /^(ro\.|imm\.)?URI:/.test(text);
}

/**
 * Canonicalises a client path. Relative paths resolve against `cwd` (the account root when
 * absent). The result never escapes the root it starts from.
 */
export function parsePath(raw: Buffer | string, cwd: VPath = ROOT): VPath {
  const text = decode(raw);
  if (text.includes('\0')) throw new VfsError('INVALID_NAME', 'path contains a NUL character');
  if (Buffer.byteLength(text, 'utf8') > PATH_MAX) throw new VfsError('INVALID_NAME', 'path is too long');
  const absolute = text.startsWith('/') || text.startsWith('\\');
  // Start from the cwd's full component list (including its uri/CAP prefix) so that `..`
  // beyond a cap root lands at the account root, as in Tahoe.
  const stack: string[] = absolute ? [] : cwd.cap !== undefined ? ['uri', cwd.cap, ...cwd.parts] : [...cwd.parts];
  for (const piece of text.split(/[/\\]/)) {
    if (piece === '' || piece === '.') continue;
    if (piece === '..') {
      stack.pop();
      continue;
    }
    const name = piece.normalize('NFC');
    if (Buffer.byteLength(name, 'utf8') > NAME_MAX) throw new VfsError('INVALID_NAME', `name is longer than ${NAME_MAX} bytes`);
    stack.push(name);
  }
  if (stack.length >= 2 && stack[0] === 'uri' && looksLikeCap(stack[1]!)) {
    return { cap: stack[1]!, parts: stack.slice(2) };
  }
  return { parts: stack };
}

/** The path as clients see it (REALPATH, PWD): `/a/b`, or `/uri/CAP/a` for cap paths. */
export function formatPath(path: VPath): string {
  const parts = path.cap !== undefined ? ['uri', path.cap, ...path.parts] : path.parts;
  return '/' + parts.join('/');
}

/** The same with caps replaced, for logs (caps never appear in logs). */
export function redactedPath(path: VPath): string {
  const parts = path.cap !== undefined ? ['uri', '[cap]', ...path.parts] : path.parts;
  return '/' + parts.join('/');
}

export function parentOf(path: VPath): VPath {
  return { ...path, parts: path.parts.slice(0, -1) };
}

export function nameOf(path: VPath): string | undefined {
  return path.parts[path.parts.length - 1];
}

export function childOf(path: VPath, name: string): VPath {
  return { ...path, parts: [...path.parts, name] };
}

export function samePath(a: VPath, b: VPath): boolean {
  return a.cap === b.cap && a.parts.length === b.parts.length && a.parts.every((p, i) => p === b.parts[i]);
}
