// Changing an accounts file from the CLI (`lafsd add-user`, `lafsd passwd`): lines are added or
// a password field replaced, everything else (comments, key lines, order) kept byte for byte.
// Writes are atomic (temp file + rename) and keep the file private (mode 0600).
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { dirname, join } from 'node:path';
import { parseAccounts } from './accounts-file.js';
import { AuthError } from './errors.js';

async function readText(path: string): Promise<string> {
  try {
    return await fsp.readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return '';
    throw err;
  }
}

/** Replaces a file atomically (temp file, fsync, rename), readable by its owner only. */
export async function writeAtomically(path: string, text: string): Promise<void> {
  const tmp = join(dirname(path), `.${randomBytes(6).toString('hex')}.tmp`);
  await fsp.writeFile(tmp, text, { mode: 0o600, flag: 'wx' });
  try {
    const fh = await fsp.open(tmp, 'r');
    await fh.sync();
    await fh.close();
    await fsp.rename(tmp, path);
  } catch (err) {
    await fsp.rm(tmp, { force: true });
    throw err;
  }
}

/** Checks that the resulting file still parses (so the CLI never writes a broken file). */
function check(text: string, path: string): void {
  parseAccounts(text, path);
}

/** Appends an account line (`NAME SECRET ROOTCAP` or `NAME KEYTYPE BASE64 [comment] ROOTCAP`). */
export async function appendAccountLine(path: string, line: string): Promise<void> {
  const old = await readText(path);
  const text = old + (old === '' || old.endsWith('\n') ? '' : '\n') + line + '\n';
  check(text, path);
  await writeAtomically(path, text);
}

/** True when the file has a line for `username`. */
export async function hasAccount(path: string, username: string): Promise<boolean> {
  return parseAccounts(await readText(path), path).accounts.has(username);
}

/** Replaces the password field of every password line of `username`. */
export async function setPasswordHash(path: string, username: string, hash: string): Promise<void> {
  const old = await readText(path);
  const parsed = parseAccounts(old, path);
  const record = parsed.accounts.get(username);
  if (!record) throw new AuthError(`${path}: no account named ${username}`);
  let changed = false;
  const lines = old.split('\n').map((line) => {
    const words = line.trim().split(/\s+/);
    if (line.trim().startsWith('#') || words[0] !== username || words.length !== 3) return line;
    changed = true;
    return `${words[0]} ${hash} ${words[2]}`;
  });
  // A key-only account gets a password line with the same root cap.
  const text = changed ? lines.join('\n') : old + (old.endsWith('\n') ? '' : '\n') + `${username} ${hash} ${record.rootCap}\n`;
  check(text, path);
  await writeAtomically(path, text);
}
