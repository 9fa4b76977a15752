// Per-account options written after the root cap, in the accounts file and in an account
// service's answer alike (one grammar, one parser):
//
//   alice $scrypt$… URI:DIR2:… quota=10G quota_files=100000
//
// Caps never contain `=`, so the options are the `key=value` words at the end of a line.
// Sizes take binary units (64K, 100M, 10G, 1T) as in tahoe.cfg.
import { parseByteSize } from '../config/types.js';
import type { AccountQuota } from './types.js';

export interface AccountOptions {
  quota?: AccountQuota;
}

/** Option words are `key=value`; the last words of a line that have this shape are options. */
export function isOptionWord(word: string): boolean {
  return /^[a-z_]+=/.test(word);
}

/** Splits the option words off the end of `words`. */
export function splitOptions(words: string[]): { rest: string[]; options: string[] } {
  let end = words.length;
  while (end > 0 && isOptionWord(words[end - 1]!)) end--;
  return { rest: words.slice(0, end), options: words.slice(end) };
}

/** Parses option words; the error names the option (values are not secret). */
export function parseAccountOptions(words: string[]): AccountOptions | { error: string } {
  const quota: AccountQuota = {};
  for (const word of words) {
    const eq = word.indexOf('=');
    const key = word.slice(0, eq);
    const value = word.slice(eq + 1);
    switch (key) {
      case 'quota': {
        const n = parseByteSize(value);
        if (n === undefined) return { error: `quota=${value} is not a size (use bytes or e.g. 500M, 10G, 1T)` };
        quota.bytes = n;
        break;
      }
      case 'quota_files': {
        const n = /^[0-9]{1,15}$/.test(value) ? Number(value) : NaN;
        if (!Number.isSafeInteger(n)) return { error: `quota_files=${value} is not a whole number` };
        quota.files = n;
        break;
      }
      default:
        return { error: `unknown option ${JSON.stringify(key.slice(0, 40))} (known: quota=, quota_files=)` };
    }
  }
  return quota.bytes === undefined && quota.files === undefined ? {} : { quota };
}

export function sameQuota(a: AccountQuota | undefined, b: AccountQuota | undefined): boolean {
  return a?.bytes === b?.bytes && a?.files === b?.files;
}
