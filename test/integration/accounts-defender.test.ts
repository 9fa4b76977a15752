// The login defence of `lafsd run`, configured in [auth] with short times, driven by OpenSSH
// `sftp` and `curl` from other loopback source addresses (Linux routes all of 127/8 to lo):
// failures ban an address for both frontends, even a correct password is refused until the ban
// ends, other addresses are unaffected, repeat bans grow; max_auth_tries and login_grace_time
// apply to both frontends.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { startLafsd } from '../helpers/lafsd.js';
import { assertNoSecretsLogged, countLog, ftpLogin, logLines, sftpLogin, waitFor, waitForLog, type LoginResult } from './accounts-harness.js';

const WRONG = 'Wrong-pw-5d2a';
const BAN_S = 4;
const node = await startLafsd({
  config: {
    auth: [
      'defender.threshold = 9', // three wrong passwords (3 each)
      `defender.ban_time = ${BAN_S}s`,
      'defender.ban_time_multiplier = 2',
      'max_auth_tries = 2',
      'login_grace_time = 3s',
    ].join('\n'),
  },
});
// The listeners are on 127.0.0.1; clients below come from 127.0.0.2 and up.
assert.match(node.log(), /"host":"127\.0\.0\.1"/);

function refused(r: LoginResult, what: string): void {
  assert.equal(r.ok, false, `${what} should be refused:\n${r.stdout}\n${r.stderr}`);
}
function accepted(r: LoginResult, what: string): void {
  assert.equal(r.ok, true, `${what} should log in:\n${r.stdout}\n${r.stderr}`);
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function bans(address: string) {
  return logLines(node).filter((l) => l.msg === 'address banned after repeated failures' && l.address === address);
}

async function waitForBan(address: string, n: number): Promise<number> {
  const t0 = Date.now();
  while (bans(address).length < n) {
    if (Date.now() - t0 > 10_000) throw new Error(`no ban #${n} for ${address}`);
    await sleep(20);
  }
  return Date.now();
}

test('three wrong SFTP passwords ban the address for SFTP and FTP, even with the right password; another address logs in normally; the ban ends', async () => {
  const from = '127.0.0.2';
  for (let i = 0; i < 3; i++) refused(await sftpLogin(node, node.user, WRONG, { from }), `wrong password #${i + 1}`);
  const bannedAt = await waitForBan(from, 1);
  assert.equal(bans(from)[0]!.banSeconds, BAN_S);

  const refusedBefore = countLog(node, /connection refused by defender$/);
  const [s, f, s1, f1] = await Promise.all([
    sftpLogin(node, node.user, node.password, { from }),
    ftpLogin(node, node.user, node.password, { from }),
    sftpLogin(node, node.user, node.password, { from: '127.0.0.1' }),
    ftpLogin(node, node.user, node.password, { from: '127.0.0.1' }),
  ]);
  assert.ok(Date.now() - bannedAt < BAN_S * 1000, 'checked within the ban');
  refused(s, 'sftp with the right password from the banned address');
  refused(f, 'ftp with the right password from the banned address');
  accepted(s1, 'sftp from 127.0.0.1');
  accepted(f1, 'ftp from 127.0.0.1');
  // Refused at accept, before the SSH banner or the FTP greeting.
  await waitForLog(node, /connection refused by defender$/, refusedBefore + 1);
  const refusals = logLines(node).filter((l) => /connection refused by defender$/.test(l.msg ?? '')).slice(refusedBefore);
  assert.deepEqual(refusals.map((l) => [l.msg, l.client]).sort(), [
    ['ftp connection refused by defender', from],
    ['ssh connection refused by defender', from],
  ]);
  assert.doesNotMatch(s.stderr + f.stderr, /Permission denied|530/);

  await sleep(Math.max(0, bannedAt + BAN_S * 1000 + 300 - Date.now()));
  accepted(await sftpLogin(node, node.user, node.password, { from }), 'sftp after the ban');
  accepted(await ftpLogin(node, node.user, node.password, { from }), 'ftp after the ban');
});

test('FTP failures ban SFTP too, and a repeat ban lasts ban_time_multiplier times longer', async () => {
  const from = '127.0.0.3';
  for (let i = 0; i < 3; i++) refused(await ftpLogin(node, node.user, WRONG, { from }), `ftp wrong password #${i + 1}`);
  const bannedAt = await waitForBan(from, 1);
  refused(await sftpLogin(node, node.user, node.password, { from }), 'sftp from the address banned over FTP');
  await sleep(Math.max(0, bannedAt + BAN_S * 1000 + 300 - Date.now()));
  accepted(await sftpLogin(node, node.user, node.password, { from }), 'sftp after the first ban');
  for (let i = 0; i < 3; i++) refused(await ftpLogin(node, 'nobody', WRONG, { from }), `unknown user #${i + 1}`);
  await waitForBan(from, 2);
  assert.deepEqual(bans(from).map((b) => [b.offences, b.banSeconds]), [[1, BAN_S], [2, BAN_S * 2]]);
  refused(await ftpLogin(node, node.user, node.password, { from }), 'ftp during the second ban');
});

/** A raw client: collects everything the server sends until it closes. */
function rawClient(port: number, from: string): { sock: Socket; received: () => string; closed: Promise<number> } {
  const t0 = Date.now();
  const sock = connect({ host: '127.0.0.1', port, localAddress: from });
  let data = '';
  sock.on('data', (d: Buffer) => (data += d.toString('latin1')));
  sock.on('error', () => {});
  const closed = new Promise<number>((resolve) => sock.on('close', () => resolve(Date.now() - t0)));
  return { sock, received: () => data, closed };
}

test('max_auth_tries (2 here) closes the connection on both frontends', async () => {
  // OpenSSH may ask three times here; the server hangs up after the second wrong password.
  const before = countLog(node, 'ssh too many authentication failures, disconnecting');
  refused(await sftpLogin(node, node.user, WRONG, { from: '127.0.0.4', sshOptions: ['NumberOfPasswordPrompts=3'] }), 'sftp');
  await waitForLog(node, 'ssh too many authentication failures, disconnecting', before);
  assert.equal(countLog(node, 'ssh too many authentication failures, disconnecting'), before + 1);
  const sshFailures = logLines(node).filter((l) => l.msg === 'ssh login' && l.client === '127.0.0.4').map((l) => l.failures);
  assert.deepEqual(sshFailures, [1, 2]);

  const c = rawClient(node.ftpPort!, '127.0.0.6');
  await waitFor('the greeting', () => c.received().startsWith('220'), 5000);
  c.sock.write(`USER ${node.user}\r\nPASS ${WRONG}\r\n`);
  await waitFor('a 530', () => /\r\n530 /.test(c.received()), 5000);
  c.sock.write(`USER ${node.user}\r\nPASS ${WRONG}\r\n`);
  await c.closed;
  assert.match(c.received(), /\r\n421 Too many failed login attempts/);
});

test('login_grace_time (3 s here) closes silent connections on both frontends', async () => {
  const from = '127.0.0.5';
  const ftp = rawClient(node.ftpPort!, from);
  const ssh = rawClient(node.sftpPort, from);
  const [fMs, sMs] = await Promise.all([ftp.closed, ssh.closed]);
  for (const ms of [fMs, sMs]) assert.ok(ms >= 2900 && ms < 8000, `closed after ${ms} ms`);
  assert.match(ftp.received(), /^220 .*\r\n421 Login timeout/s);
  assert.match(ssh.received(), /^SSH-2\.0-/);
  // Log lines are written asynchronously: they may follow the close by a moment.
  await waitFor('both grace-time logs', () => countLog(node, /login grace time exceeded$/) >= 2, 5000);
  assert.deepEqual(logLines(node).filter((l) => /login grace time exceeded$/.test(l.msg ?? '')).map((l) => l.msg).sort(), [
    'ftp login grace time exceeded', 'ssh login grace time exceeded',
  ]);
});

test('no password reaches the server log', () => {
  assertNoSecretsLogged(node, [WRONG, node.password, node.rootCap]);
});
