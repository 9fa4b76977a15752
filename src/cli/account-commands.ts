// `lafsd add-user` and `lafsd passwd`: edit the accounts file the node's config names.
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { isDirectory, parseCap } from '../caps/index.js';
import { loadNodeConfig, type NodeConfig } from '../config/index.js';
import { hashPassword, KEY_TYPES, parseAccounts, parseKeyBlob, usernameProblem } from '../auth/index.js';
import { appendAccountLine, hasAccount, setPasswordHash } from '../auth/accounts-edit.js';
import { ACCOUNTS_FILE, openGrid } from '../node/nodedir.js';
import { noteRootInUse } from '../node/gc.js';
import { UsageError } from './usage.js';

export function accountsFileOf(config: NodeConfig): string {
  return config.sftpd.accountsFile ?? config.ftpd.accountsFile ?? join(config.basedir, ACCOUNTS_FILE);
}

/** A password of 20 random base32 characters (100 bits), for accounts made without one. */
export function randomPassword(): string {
  return randomBytes(13).toString('base64url').slice(0, 20);
}

async function readFirstLine(input: Readable): Promise<string> {
  const rl = createInterface({ input, crlfDelay: Infinity });
  for await (const line of rl) {
    rl.close();
    return line;
  }
  return '';
}

export interface PasswordSource {
  password?: string;
  passwordStdin?: boolean;
}

async function passwordFrom(src: PasswordSource, input: Readable): Promise<string | undefined> {
  if (src.password !== undefined && src.passwordStdin) throw new UsageError('give --password or --password-stdin, not both');
  const pw = src.passwordStdin ? await readFirstLine(input) : src.password;
  if (pw === undefined) return undefined;
  if (pw === '' || /\s/.test(pw)) throw new UsageError('a password must be non-empty and contain no whitespace (the accounts file is space-separated)');
  return pw;
}

export interface AddUserOptions extends PasswordSource {
  pubkeyFile?: string;
  root?: string;
}

/** Adds an account; prints the root cap (stdout) and a generated password (stderr). */
export async function addUserCommand(basedir: string, name: string, opts: AddUserOptions, input: Readable, out: Writable, err: Writable): Promise<void> {
  const problem = usernameProblem(name);
  if (problem) throw new UsageError(problem);
  const config = loadNodeConfig(basedir);
  const file = accountsFileOf(config);
  let password = await passwordFrom(opts, input);
  let keyLine: string | undefined;
  if (opts.pubkeyFile !== undefined) {
    if (password !== undefined) throw new UsageError('give a password or a public key, not both (run add-user twice for both)');
    const words = (await fsp.readFile(opts.pubkeyFile, 'utf8')).trim().split(/\s+/);
    const [type, b64, ...comment] = words;
    if (!type || !b64 || !KEY_TYPES.includes(type)) throw new UsageError(`${opts.pubkeyFile}: not an OpenSSH public key line (${KEY_TYPES.join(', ')})`);
    const parsed = parseKeyBlob(type, b64);
    if ('error' in parsed) throw new UsageError(`${opts.pubkeyFile}: ${parsed.error}`);
    keyLine = [type, b64, ...comment].join(' ');
  }
  const exists = await hasAccount(file, name);
  if (exists && keyLine === undefined) throw new UsageError(`an account named ${name} exists; use \`lafsd passwd\` to change its password`);
  let root = opts.root;
  if (root !== undefined) {
    const cap = parseCap(root);
    if (!isDirectory(cap)) throw new UsageError('--root must be a directory cap (URI:DIR2:… or URI:DIR2-RO:…)');
  } else if (exists) {
    root = parseAccounts(await fsp.readFile(file, 'utf8'), file).accounts.get(name)!.rootCap;
  } else {
    const grid = await openGrid(config);
    try {
      root = await grid.createDirectory();
    } finally {
      await grid.close();
    }
  }
  let generated = false;
  if (keyLine === undefined && password === undefined) {
    password = randomPassword();
    generated = true;
  }
  const secret = keyLine ?? (await hashPassword(password!, config.auth.passwordHash));
  await appendAccountLine(file, `${name} ${secret} ${root}`);
  // An existing directory may have been unreachable until now: after the line, as gc.ts asks.
  if (opts.root !== undefined) await noteRootInUse(config, root);
  out.write(`${root}\n`);
  if (generated) err.write(`password for ${name}: ${password}\n(shown once; it is stored hashed)\n`);
}

export async function passwdCommand(basedir: string, name: string, opts: PasswordSource, input: Readable & { isTTY?: boolean }, err: Writable): Promise<void> {
  const config = loadNodeConfig(basedir);
  const file = accountsFileOf(config);
  let password = await passwordFrom(opts, input);
  if (password === undefined) {
    if (!input.isTTY) password = await passwordFrom({ passwordStdin: true }, input);
    else throw new UsageError('give --password PW or --password-stdin');
  }
  await setPasswordHash(file, name, await hashPassword(password!, config.auth.passwordHash));
  err.write(`password of ${name} changed\n`);
}
