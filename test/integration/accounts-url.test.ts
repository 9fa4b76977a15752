// accounts.url with real clients against `lafsd run`: logins through the example account service
// (examples/account-server) over SFTP and FTP; the file decides the users it lists; and every
// way a service can fail — `0`, 500, a hang, a malformed or wrong-kind answer, a redirect to
// another host, a reset — refuses the login, within the configured timeout, without the server
// stalling, and without the password reaching the log.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { startAccountServer } from '../../examples/account-server/server.js';
import type { AuthLogger } from '../../src/auth/index.js';
import { diminish, formatCap, literalCap, parseCap } from '../../src/caps/index.js';
import { startLafsd } from '../helpers/lafsd.js';
import {
  assertNoSecretsLogged, countLog, ftpLogin, logLines, sftpLogin, sighup, startTestService, waitFor, waitForLog, type LogLine, type LoginResult,
} from './accounts-harness.js';

const CAROL_PW = 'Carol-pw-4b1e9';
const CAROL_PW2 = 'Carol-pw2-77d0';
const SERVICE_ALICE_PW = 'Service-alice-c3a8';
const WRONG = 'Wrong-pw-0e2f';
const ODD_PW = 'Odd-pw-91c4';

// The example service, with a recording logger to see whom lafsd asked.
const serviceLog: { user: string; result: string }[] = [];
const recorder: AuthLogger = {
  info: (o) => void serviceLog.push(o as { user: string; result: string }),
  warn() {},
  error() {},
};
const service = await startAccountServer({ db: ':memory:', logger: recorder });
after(() => service.close());

// The defender is tested in accounts-defender.test.ts; here many refusals from 127.0.0.1 must
// not ban it. The cache TTL is short so a password change can be seen to take effect.
const AUTH = 'defender.threshold = 100000\naccounts.url.timeout = 2s\naccounts.url.cache_ttl = 3s\n';
const node = await startLafsd({
  config: { sftpd: `accounts.url = ${service.url}`, ftpd: `accounts.url = ${service.url}`, auth: AUTH },
});
await service.addUser('carol', CAROL_PW, node.rootCap);
// The service would accept these two, but the accounts file lists them: the file decides.
await service.addUser('alice', SERVICE_ALICE_PW, node.rootCap);
await service.addUser('bob', SERVICE_ALICE_PW, node.rootCap);

// A service that misbehaves in a different way for each user name.
let goodCap = '';
const hangs: (() => void)[] = [];
const odd = await startTestService({
  good: (res) => res.end(`${goodCap}\n`),
  err500: (res) => {
    res.statusCode = 500;
    res.end(`${goodCap}\n`); // a cap in an error body must not count
  },
  junk: (res) => res.end('<html>Welcome!</html>\n'),
  filecap: (res) => res.end(`${literalCap(Buffer.from('a small file'))}\n`),
  elsewhere: (res) => {
    res.writeHead(307, { location: 'http://127.0.0.2:9/login' });
    res.end();
  },
  reset: (_res, req) => req.socket.destroy(),
  hang: (res) => void hangs.push(() => res.destroy()),
});
const oddNode = await startLafsd({
  config: { sftpd: `accounts.url = ${odd.url}`, ftpd: `accounts.url = ${odd.url}`, auth: AUTH },
});
goodCap = oddNode.rootCap;

function refused(r: LoginResult, what: string): void {
  assert.equal(r.ok, false, `${what} should be refused:\n${r.stdout}\n${r.stderr}`);
}
function accepted(r: LoginResult, what: string): void {
  assert.equal(r.ok, true, `${what} should log in:\n${r.stdout}\n${r.stderr}`);
}

test('a user of the example account service logs in over SFTP (password) and FTP, and lands in the cap it answered', async () => {
  const s = await sftpLogin(node, 'carol', CAROL_PW, { commands: ['mkdir via-service', 'ls -1'] });
  accepted(s, 'sftp carol');
  assert.match(s.stdout, /via-service/);
  const f = await ftpLogin(node, 'carol', CAROL_PW);
  accepted(f, 'ftp carol');
  assert.match(f.stdout, /via-service/);
  await waitForLog(node, / login$/, 1); // log lines are written asynchronously
  const logins = logLines(node).filter((l) => l.user === 'carol' && l.result === 'ok' && / login$/.test(l.msg ?? ''));
  assert.deepEqual(logins.map((l) => l.msg).sort(), ['ftp login', 'ssh login']);
  assert.ok(serviceLog.some((e) => e.user === 'carol' && e.result === 'ok'));
});

test('the service answering 0 (wrong password, unknown user) refuses the login', async () => {
  refused(await sftpLogin(node, 'carol', WRONG), 'sftp carol, wrong password');
  refused(await ftpLogin(node, 'carol', WRONG), 'ftp carol, wrong password');
  refused(await sftpLogin(node, 'nobody', WRONG), 'sftp unknown user');
  refused(await ftpLogin(node, 'nobody', WRONG), 'ftp unknown user');
  await waitForLog(node, 'account service refused the login: service said 0', 3);
});

test('precedence: a user listed in the accounts file is decided by the file, never by the service', async () => {
  const asked = serviceLog.length;
  refused(await sftpLogin(node, 'alice', SERVICE_ALICE_PW), 'sftp alice with the service password');
  refused(await ftpLogin(node, 'alice', SERVICE_ALICE_PW), 'ftp alice with the service password');
  // bob has only a key line: no password logs him in, whatever the service says.
  refused(await sftpLogin(node, 'bob', SERVICE_ALICE_PW), 'sftp bob with a password');
  refused(await ftpLogin(node, 'bob', SERVICE_ALICE_PW), 'ftp bob with a password');
  accepted(await sftpLogin(node, 'alice', node.password), 'sftp alice with the file password');
  accepted(await ftpLogin(node, 'alice', node.password), 'ftp alice with the file password');
  assert.equal(serviceLog.length, asked, 'the service was not asked about file users');
});

test('a password change at the service takes effect within accounts.url.cache_ttl', async () => {
  accepted(await ftpLogin(node, 'carol', CAROL_PW), 'ftp carol before the change');
  await service.addUser('carol', CAROL_PW2, node.rootCap);
  const changedAt = Date.now();
  accepted(await ftpLogin(node, 'carol', CAROL_PW2), 'the new password works at once');
  // The old password may still be served from the cache, but not after the TTL (3 s).
  await new Promise((r) => setTimeout(r, Math.max(0, 3200 - (Date.now() - changedAt))));
  refused(await ftpLogin(node, 'carol', CAROL_PW), 'ftp carol with the old password after the TTL');
  refused(await sftpLogin(node, 'carol', CAROL_PW), 'sftp carol with the old password after the TTL');
  await service.addUser('carol', CAROL_PW, node.rootCap);
});

test('SIGHUP forgets cached account-service answers: a password change at the service applies at once', async () => {
  accepted(await ftpLogin(node, 'carol', CAROL_PW), 'ftp carol (the answer is cached for 3 s)');
  await service.addUser('carol', CAROL_PW2, node.rootCap);
  accepted(await ftpLogin(node, 'carol', CAROL_PW), 'the old password, answered from the cache');
  assert.equal(await sighup(node), true);
  refused(await ftpLogin(node, 'carol', CAROL_PW), 'the old password after SIGHUP');
  accepted(await ftpLogin(node, 'carol', CAROL_PW2), 'the new password after SIGHUP');
  await service.addUser('carol', CAROL_PW, node.rootCap);
});

test('the stand-in service works when it answers a directory cap (baseline for the failures below)', async () => {
  accepted(await sftpLogin(oddNode, 'good', ODD_PW), 'sftp good');
  accepted(await ftpLogin(oddNode, 'good', ODD_PW), 'ftp good');
});

test('500 (even with a cap in the body), a malformed answer, a file cap, a redirect to another host, a reset: all refused and logged', async () => {
  const cases: [string, RegExp][] = [
    ['err500', /HTTP error status/],
    ['junk', /malformed answer/],
    ['filecap', /not a directory cap/],
    ['elsewhere', /redirect to another host/],
    ['reset', /account service refused the login: /],
  ];
  for (const [user, why] of cases) {
    refused(await sftpLogin(oddNode, user, ODD_PW), `sftp ${user}`);
    refused(await ftpLogin(oddNode, user, ODD_PW), `ftp ${user}`);
    const mine = (l: LogLine) => l.user === user && /^account service refused the login/.test(l.msg ?? '');
    await waitFor(`two log lines for ${user}`, () => logLines(oddNode).filter(mine).length >= 2);
    const lines = logLines(oddNode).filter(mine);
    assert.equal(lines.length, 2, `${user}: one log line per attempt`);
    for (const l of lines) assert.match(l.msg ?? '', why);
  }
  const e500 = logLines(oddNode).find((l) => l.user === 'err500' && l.status !== undefined);
  assert.equal(e500?.status, 500);
  // The refusals cost the service, not the redirect target: nothing was sent to 127.0.0.2:9.
  assert.equal(odd.asked.filter((u) => u === 'elsewhere').length, 2);
});

test('a hanging service refuses the login within accounts.url.timeout (2 s), and the server stays responsive meanwhile', async () => {
  const t0 = Date.now();
  const hungSftp = sftpLogin(oddNode, 'hang', ODD_PW);
  const hungFtp = ftpLogin(oddNode, 'hang', ODD_PW);
  // While both wait for the service, file users log in over both frontends.
  await new Promise((r) => setTimeout(r, 300));
  const during = await Promise.all([sftpLogin(oddNode, 'alice', oddNode.password), ftpLogin(oddNode, 'alice', oddNode.password)]);
  const duringMs = Date.now() - t0;
  accepted(during[0], 'sftp alice during the hang');
  accepted(during[1], 'ftp alice during the hang');
  const [s, f] = await Promise.all([hungSftp, hungFtp]);
  refused(s, 'sftp hang');
  refused(f, 'ftp hang');
  assert.ok(duringMs < s.ms && duringMs < f.ms, `file logins (${duringMs} ms) finished before the hung ones (${s.ms}, ${f.ms} ms)`);
  for (const r of [s, f]) assert.ok(r.ms >= 1900 && r.ms < 6000, `refused after ${r.ms} ms; the timeout is 2 s`);
  await waitForLog(oddNode, /account service refused the login: no answer within 2000 ms/, 1);
  assert.equal(countLog(oddNode, /account service refused the login: no answer within 2000 ms/), 2);
  for (const h of hangs.splice(0)) h();
  assert.equal(oddNode.process.exitCode, null, 'still running');
});

test('no password and no root cap reaches the server log', () => {
  const secrets = [CAROL_PW, CAROL_PW2, SERVICE_ALICE_PW, WRONG, ODD_PW, 'correct-horse'];
  assertNoSecretsLogged(node, [...secrets, node.rootCap]);
  assertNoSecretsLogged(oddNode, [...secrets, oddNode.rootCap]);
  // The read cap of the root is derived from it; it must not show up either.
  assertNoSecretsLogged(node, [formatCap(diminish(parseCap(node.rootCap)))]);
});
