// Password fields of every kind — `$scrypt$`, `$argon2id$`, `$2b$` (bcrypt) and plain text —
// verify over SFTP and FTP against `lafsd run`; `lafsd add-user`/`lafsd passwd` write the hash
// [auth] password_hash names; startup warns once about a group-readable file and plain
// passwords; a key-only account cannot log into FTP.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, readFileSync, writeFileSync, appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { lafsdOk } from '../helpers/cli.js';
import { sshOptions, startLafsd, type Lafsd } from '../helpers/lafsd.js';
import { assertNoSecretsLogged, countLog, ftpLogin, logLines, sftpLogin, waitFor, type LoginResult } from './accounts-harness.js';

const USERS = {
  'h-scrypt': { password: 'Scrypt-pw-13ab', prefix: '$scrypt$ln=15,r=8,p=1$' },
  'h-argon': { password: 'Argon-pw-7e21', prefix: '$argon2id$v=19$m=32768,t=8,p=1$' },
  'h-bcrypt': { password: 'Bcrypt-pw-c04d', prefix: '$2b$10$' },
  'h-plain': { password: 'Plain-pw-58f6', prefix: 'Plain-pw-58f6' },
} as const;
type User = keyof typeof USERS;
const WRONG = 'Wrong-pw-a3e9';
const NEW_PW = 'New-pw-6b0c';

const setHash = (basedir: string, kind: string) => {
  const cfg = join(basedir, 'tahoe.cfg');
  writeFileSync(cfg, readFileSync(cfg, 'utf8').replace(/^password_hash = .*$/m, `password_hash = ${kind}`));
};
const accountsOf = (basedir: string) => join(basedir, 'private', 'accounts');
let plainLine = 0;

const node: Lafsd = await startLafsd({
  config: { auth: 'password_hash = scrypt\ndefender.threshold = 100000' },
  // Accounts of each kind, made before the server starts so its startup warnings can be checked.
  prepare: async (basedir) => {
    for (const [user, kind] of [['h-scrypt', 'scrypt'], ['h-argon', 'argon2id'], ['h-bcrypt', 'bcrypt']] as const) {
      setHash(basedir, kind);
      await lafsdOk(['add-user', basedir, user, '--password', USERS[user].password]);
    }
    const file = accountsOf(basedir);
    const rootCap = readFileSync(file, 'utf8').split('\n').find((l) => l.startsWith('alice '))!.split(' ').at(-1)!;
    appendFileSync(file, `h-plain ${USERS['h-plain'].password} ${rootCap}\n`);
    plainLine = readFileSync(file, 'utf8').trimEnd().split('\n').length;
    chmodSync(file, 0o644);
  },
});

function refused(r: LoginResult, what: string): void {
  assert.equal(r.ok, false, `${what} should be refused:\n${r.stdout}\n${r.stderr}`);
}
function accepted(r: LoginResult, what: string): void {
  assert.equal(r.ok, true, `${what} should log in:\n${r.stdout}\n${r.stderr}`);
}
function lineOf(user: string): string {
  return readFileSync(accountsOf(node.basedir), 'utf8').split('\n').find((l) => l.startsWith(`${user} `)) ?? '';
}

test('add-user wrote the hash kind [auth] password_hash named; the plain line is plain', () => {
  for (const [user, { prefix }] of Object.entries(USERS)) {
    assert.ok(lineOf(user).split(' ')[1]!.startsWith(prefix), `${user}: ${lineOf(user).slice(0, 40)}`);
  }
});

test('each kind of password field verifies over SFTP and FTP; a wrong password is refused for each', async () => {
  for (const user of Object.keys(USERS) as User[]) {
    const { password } = USERS[user];
    const [s, f, bad] = await Promise.all([sftpLogin(node, user, password), ftpLogin(node, user, password), ftpLogin(node, user, WRONG)]);
    accepted(s, `sftp ${user}`);
    accepted(f, `ftp ${user}`);
    refused(bad, `ftp ${user} with a wrong password`);
  }
  refused(await sftpLogin(node, 'h-argon', USERS['h-bcrypt'].password), 'sftp h-argon with another user\'s password');
});

test('startup warned once (both frontends share the file) about its mode and its plain-text password line', async () => {
  await waitFor('the startup lines', () => countLog(node, / listening$/) >= 2);
  assert.equal(countLog(node, 'accounts loaded'), 1);
  const mode = logLines(node).filter((l) => l.msg === 'accounts file is readable by group or others; chmod 600 it');
  assert.equal(mode.length, 1);
  assert.equal(mode[0]!.mode, '644');
  const plain = logLines(node).filter((l) => /plain-text password/.test(l.msg ?? ''));
  assert.deepEqual(plain.map((l) => l.msg), [
    `${accountsOf(node.basedir)}: plain-text password on line ${plainLine}; store hashes instead (lafsd passwd)`,
  ]);
  assert.equal(plain[0]!.level, 40, 'a warning');
});

test('lafsd passwd on the running node writes the configured hash (bcrypt here); the new password works at once, the old one no more', async () => {
  setHash(node.basedir, 'bcrypt');
  const loaded = countLog(node, 'accounts loaded');
  await lafsdOk(['passwd', node.basedir, 'h-plain', '--password', NEW_PW]);
  assert.ok(lineOf('h-plain').split(' ')[1]!.startsWith('$2b$10$'));
  await waitFor('the watcher to reload', () => countLog(node, 'accounts loaded') > loaded);
  accepted(await sftpLogin(node, 'h-plain', NEW_PW), 'sftp with the new password');
  accepted(await ftpLogin(node, 'h-plain', NEW_PW), 'ftp with the new password');
  refused(await ftpLogin(node, 'h-plain', USERS['h-plain'].password), 'ftp with the old password');
});

test('a public-key account cannot log into FTP with any password, but logs into SFTP with its key', async () => {
  for (const pw of ['', WRONG, 'ssh-ed25519']) refused(await ftpLogin(node, node.keyUser, pw), `ftp ${node.keyUser} with ${JSON.stringify(pw)}`);
  const child = spawn('sftp', [...sshOptions(node), '-b', '-', `${node.keyUser}@127.0.0.1`], { stdio: ['pipe', 'pipe', 'pipe'] });
  child.stdin.end('pwd\n');
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  assert.equal(code, 0);
});

test('no password reaches the server log', () => {
  assertNoSecretsLogged(node, [...Object.values(USERS).map((u) => u.password), WRONG, NEW_PW, node.rootCap]);
});
