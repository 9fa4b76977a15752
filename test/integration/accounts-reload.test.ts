// Reloading the accounts file of a running `lafsd run`, checked with real clients: by SIGHUP
// (accounts.watch = false) and by watching the file (the default). New and removed users take
// effect for new logins; sessions already logged in carry on; a broken or missing file keeps the
// previous accounts and the log names file:line, never the password or cap on the bad line.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { Client as FtpClient } from 'basic-ftp';
import ssh2 from 'ssh2';
import type { SFTPWrapper } from 'ssh2';
import { hashPassword } from '../../src/auth/index.js';
import { lafsdOk } from '../helpers/cli.js';
import { startLafsd, type Lafsd } from '../helpers/lafsd.js';
import {
  assertNoSecretsLogged, countLog, ftpLogin, logLines, sftpLogin, sighup, waitFor, waitForLog, type LoginResult,
} from './accounts-harness.js';
import { RawFtp } from './ftp-harness.js';

const CAROL_PW = 'Carol-pw-2c81';
const DAVE_PW = 'Dave-pw-e4a0';
const ERIN_PW = 'Erin-pw-b7d3';
const GRACE_PW = 'Grace-pw-51c6';
const GRACE_NEW_PW = 'Grace-new-pw-0d9e';
const BAD_LINE_PW = 'Frank-secret-9a1f';

const AUTH = 'defender.threshold = 100000';
const [hup, watched] = await Promise.all([
  startLafsd({ config: { auth: `${AUTH}\naccounts.watch = false` } }),
  startLafsd({ config: { auth: AUTH } }),
]);
const accountsOf = (n: Lafsd) => join(n.basedir, 'private', 'accounts');

function refused(r: LoginResult, what: string): void {
  assert.equal(r.ok, false, `${what} should be refused:\n${r.stdout}\n${r.stderr}`);
}
function accepted(r: LoginResult, what: string): void {
  assert.equal(r.ok, true, `${what} should log in:\n${r.stdout}\n${r.stderr}`);
}
async function both(n: Lafsd, user: string, password: string): Promise<[LoginResult, LoginResult]> {
  return Promise.all([sftpLogin(n, user, password), ftpLogin(n, user, password)]);
}
async function bothAccepted(n: Lafsd, user: string, password: string, what: string): Promise<void> {
  const [s, f] = await both(n, user, password);
  accepted(s, `sftp ${what}`);
  accepted(f, `ftp ${what}`);
}
async function bothRefused(n: Lafsd, user: string, password: string, what: string): Promise<void> {
  const [s, f] = await both(n, user, password);
  refused(s, `sftp ${what}`);
  refused(f, `ftp ${what}`);
}

/** Waits for the file watcher's next reload (or refusal to reload) after `change`. */
async function afterFileReload(n: Lafsd, change: () => void | Promise<void>): Promise<'loaded' | 'kept'> {
  const loaded = countLog(n, 'accounts loaded');
  const kept = countLog(n, 'accounts file not reloaded; keeping the previous accounts');
  await change();
  await waitFor('the watcher to reload', () =>
    countLog(n, 'accounts loaded') > loaded || countLog(n, 'accounts file not reloaded; keeping the previous accounts') > kept);
  return countLog(n, 'accounts loaded') > loaded ? 'loaded' : 'kept';
}

async function sshSession(n: Lafsd, user: string, password: string): Promise<{ client: ssh2.Client; sftp: SFTPWrapper }> {
  const client = new ssh2.Client();
  await new Promise<void>((resolve, reject) => {
    client.once('ready', resolve).once('error', reject);
    client.connect({ host: '127.0.0.1', port: n.sftpPort, username: user, password, tryKeyboard: false });
  });
  const sftp = await new Promise<SFTPWrapper>((resolve, reject) => client.sftp((err, s) => (err ? reject(err) : resolve(s))));
  return { client, sftp };
}

test('SIGHUP: a user added to the file logs in only after the signal (accounts.watch = false), over SFTP and FTP', async () => {
  await lafsdOk(['add-user', hup.basedir, 'carol', '--password', CAROL_PW, '--root', hup.rootCap]);
  await new Promise((r) => setTimeout(r, 500)); // a watcher, were there one, would have fired by now
  refused(await sftpLogin(hup, 'carol', CAROL_PW), 'carol before SIGHUP');
  assert.equal(await sighup(hup), true);
  await bothAccepted(hup, 'carol', CAROL_PW, 'carol after SIGHUP');
});

test('SIGHUP: a removed user cannot log in any more, while sessions already open carry on', async () => {
  const ssh = await sshSession(hup, hup.user, hup.password);
  const ftp = new FtpClient(10_000);
  await ftp.access({ host: '127.0.0.1', port: hup.ftpPort!, user: hup.user, password: hup.password });
  try {
    const file = accountsOf(hup);
    const kept = readFileSync(file, 'utf8').split('\n').filter((l) => !l.startsWith(`${hup.user} `));
    writeFileSync(file, kept.join('\n'));
    assert.equal(await sighup(hup), true);
    await bothRefused(hup, hup.user, hup.password, 'alice after removal');
    await bothAccepted(hup, 'carol', CAROL_PW, 'carol, still listed');
    // The open sessions still read and write.
    await new Promise<void>((resolve, reject) => ssh.sftp.writeFile('/from-old-ssh-session', 'still here', (e) => (e ? reject(e) : resolve())));
    const names = await new Promise<string[]>((resolve, reject) =>
      ssh.sftp.readdir('/', (e, list) => (e ? reject(e) : resolve(list.map((x) => x.filename)))));
    assert.ok(names.includes('from-old-ssh-session'));
    await ftp.uploadFrom(Readable.from([Buffer.from('still here too')]), 'from-old-ftp-session');
    const listed = (await ftp.list()).map((f) => f.name);
    assert.ok(listed.includes('from-old-ssh-session') && listed.includes('from-old-ftp-session'), listed.join(','));
  } finally {
    ftp.close();
    ssh.client.end();
  }
});

test('watching: `lafsd add-user` on the running node takes effect without a signal; an in-place edit removing the user too', async () => {
  const state = await afterFileReload(watched, () => lafsdOk(['add-user', watched.basedir, 'dave', '--password', DAVE_PW, '--root', watched.rootCap]).then(() => {}));
  assert.equal(state, 'loaded');
  await bothAccepted(watched, 'dave', DAVE_PW, 'dave after add-user');
  const file = accountsOf(watched);
  const without = readFileSync(file, 'utf8').split('\n').filter((l) => !l.startsWith('dave ')).join('\n');
  assert.equal(await afterFileReload(watched, () => writeFileSync(file, without)), 'loaded');
  await bothRefused(watched, 'dave', DAVE_PW, 'dave after removal');
  await bothAccepted(watched, watched.user, watched.password, 'alice, untouched');
});

/** One FTP login's PASS: its reply code and how long the server took to answer it. */
async function timedPass(n: Lafsd, user: string, password: string): Promise<{ code: number; ms: number }> {
  const c = await RawFtp.open(n.ftpPort!);
  try {
    assert.equal((await c.cmd(`USER ${user}`)).code, 331);
    const t0 = performance.now();
    const { code } = await c.cmd(`PASS ${password}`);
    return { code, ms: performance.now() - t0 };
  } finally {
    c.close();
  }
}

test('a password verified once is remembered for the next login, and `lafsd passwd` ends that at once', async () => {
  assert.equal(await afterFileReload(watched, () => lafsdOk(['add-user', watched.basedir, 'grace', '--password', GRACE_PW, '--root', watched.rootCap]).then(() => {})), 'loaded');
  const first = await timedPass(watched, 'grace', GRACE_PW);
  const again = await timedPass(watched, 'grace', GRACE_PW);
  assert.equal(first.code, 230);
  assert.equal(again.code, 230);
  // The first login runs the scrypt hash (tens of ms at least); the next finds it verified.
  assert.ok(first.ms > 10 && again.ms < first.ms / 3, `first ${first.ms.toFixed(1)} ms, again ${again.ms.toFixed(1)} ms`);
  // A wrong password still pays for a hash and is refused.
  const wrong = await timedPass(watched, 'grace', `${GRACE_PW}x`);
  assert.equal(wrong.code, 530);
  assert.ok(wrong.ms > first.ms / 3, `wrong password ${wrong.ms.toFixed(1)} ms vs ${first.ms.toFixed(1)} ms`);
  // SFTP shares the verification (one accounts file, one cache).
  accepted(await sftpLogin(watched, 'grace', GRACE_PW), 'sftp grace, remembered');
  // A new password: the remembered old one is refused from the reload on, over both protocols.
  assert.equal(await afterFileReload(watched, () => lafsdOk(['passwd', watched.basedir, 'grace', '--password', GRACE_NEW_PW]).then(() => {})), 'loaded');
  await bothRefused(watched, 'grace', GRACE_PW, 'grace with the old password');
  await bothAccepted(watched, 'grace', GRACE_NEW_PW, 'grace with the new password');
});

test('a broken edit keeps the previous accounts, and the log names file:line without the secrets on that line', async () => {
  const file = accountsOf(watched);
  const good = readFileSync(file, 'utf8').trimEnd();
  const erin = `erin ${await hashPassword(ERIN_PW)} ${watched.rootCap}`;
  const lines = good.split('\n');
  // Line n+2: a password line missing its cap (the password would be the cap if we echoed it).
  const broken = [...lines, erin, `frank ${BAD_LINE_PW}`].join('\n') + '\n';
  const badLine = lines.length + 2;
  assert.equal(await afterFileReload(watched, () => writeFileSync(file, broken)), 'kept');
  const err = logLines(watched).filter((l) => l.msg === 'accounts file not reloaded; keeping the previous accounts').at(-1)!;
  assert.deepEqual(err.problems, [`${file}:${badLine}: too few fields; expected "NAME PASSWORD ROOTCAP [OPTION…]" or "NAME KEYTYPE BASE64 [COMMENT…] ROOTCAP [OPTION…]"`]);
  await bothAccepted(watched, watched.user, watched.password, 'alice with the old accounts');
  await bothRefused(watched, 'erin', ERIN_PW, 'erin from the broken file');
  // SIGHUP on the broken file: the same, and the server says so.
  assert.equal(await sighup(watched), false);
  await waitForLog(watched, 'accounts not reloaded; the previous accounts stay in effect', 0);
  // A file that disappears (mv away) keeps the accounts too.
  assert.equal(await afterFileReload(watched, () => renameSync(file, `${file}.away`)), 'kept');
  await bothAccepted(watched, watched.user, watched.password, 'alice while the file is missing');
  // Fixed: erin is in.
  writeFileSync(`${file}.away`, `${good}\n${erin}\n`, { mode: 0o600 });
  assert.equal(await afterFileReload(watched, () => renameSync(`${file}.away`, file)), 'loaded');
  await bothAccepted(watched, 'erin', ERIN_PW, 'erin after the fix');
  assertNoSecretsLogged(watched, [BAD_LINE_PW, ERIN_PW, watched.rootCap]);
});

test('no password and no root cap reaches the log', () => {
  for (const n of [hup, watched]) assertNoSecretsLogged(n, [CAROL_PW, DAVE_PW, ERIN_PW, GRACE_PW, GRACE_NEW_PW, BAD_LINE_PW, n.password, n.rootCap]);
});
