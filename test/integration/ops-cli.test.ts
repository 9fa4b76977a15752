// Operations commands of the real `lafsd` (issue #12): --version, check-config (as `sshd -t`:
// every problem with file:line, exit status 0/1, nothing started), and one `lafsd run` per node
// and store (a second one refuses naming the PID; a killed one does not block a restart).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { appendFileSync, chmodSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { join } from 'node:path';
import { lafsd, lafsdOk } from '../helpers/cli.js';
import { runLafsd, startLafsd } from '../helpers/lafsd.js';
import { tempDir } from '../helpers/tmp.js';

async function newNode(...initArgs: string[]): Promise<string> {
  const base = join(tempDir('lafsd-ops-cli-'), 'node');
  await lafsdOk(['init', base, ...initArgs]);
  return base;
}

function listen(port = 0): Promise<Server> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen({ host: '127.0.0.1', port }, () => resolve(s));
  });
}

/** Ports free right now (taken and given back at once). */
async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(Array.from({ length: n }, () => listen()));
  const ports = servers.map((s) => (s.address() as AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

function lineOf(file: string, pattern: RegExp): number {
  return readFileSync(file, 'utf8').split('\n').findIndex((l) => pattern.test(l)) + 1;
}

test('--version prints the version from package.json', async () => {
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
  const r = await lafsdOk(['--version']);
  assert.equal(r.stdout.toString(), `lafsd ${pkg.version} (Node.js ${process.versions.node})\n`);
});

test('check-config: a fresh node is OK, nothing is started or written; a taken port fails with its file:line', async () => {
  const [sftp, ftp, metrics] = await freePorts(3);
  const base = await newNode('--sftp-port', `tcp:${sftp}:interface=127.0.0.1`, '--ftp-port', `tcp:${ftp}:interface=127.0.0.1`, '--metrics-port', `tcp:${metrics}:interface=127.0.0.1`);
  const empty = await lafsd(['check-config', base]);
  assert.equal(empty.code, 0, empty.stderr);
  assert.match(empty.stderr, /^warning: .*accounts: no accounts yet/m);
  // Warnings (a plain-text password) do not fail the check.
  const root = (await lafsdOk(['add-user', base, 'alice', '--password', 'pw'])).stdout.toString().trim();
  appendFileSync(join(base, 'private', 'accounts'), `bob plain-password ${root}\n`);
  const filesBefore = readdirSync(base).sort();
  const ok = await lafsd(['check-config', base]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal(ok.stdout.toString(), `${base}: configuration OK\n`);
  assert.match(ok.stderr, /^warning: .*accounts: plain-text password on line \d+; store hashes instead/m);
  for (const secret of ['plain-password', root]) assert.equal(ok.stderr.includes(secret), false, `${secret} is quoted`);
  assert.deepEqual(readdirSync(base).sort(), filesBefore, 'no lock, PID or other file is created');
  // The ports were free for check-config, so nothing kept them: they can be bound now.
  (await Promise.all([sftp, ftp, metrics].map((p) => listen(p)))).forEach((s) => s.close());

  const squatter = await listen(ftp);
  try {
    const taken = await lafsd(['check-config', base]);
    assert.equal(taken.code, 1);
    const cfg = join(base, 'tahoe.cfg');
    const line = lineOf(cfg, new RegExp(`^port = tcp:${ftp}:`));
    assert.match(taken.stderr, new RegExp(`^${cfg}:${line}: \\[ftpd\\] port: tcp:${ftp}:interface=127\\.0\\.0\\.1: port ${ftp} is in use by another program$`, 'm'));
    assert.match(taken.stderr, /: 1 problem; `lafsd run` would refuse to start/);
  } finally {
    squatter.close();
  }
});

test('check-config lists every problem at once: accounts lines, key permissions and pairs, certificate, listeners', async () => {
  const base = await newNode('--sftp-port', 'tcp:0:interface=127.0.0.1', '--ftp-port', 'tcp:0:interface=127.0.0.1');
  const root = (await lafsdOk(['add-user', base, 'alice', '--password', 'pw'])).stdout.toString().trim();
  const accounts = join(base, 'private', 'accounts');
  appendFileSync(accounts, `bob plain-password ${root}\nthis line is not an account\ncarol pw URI:CHK:notadir\n`);
  const bad1 = lineOf(accounts, /^this line/);
  const bad2 = lineOf(accounts, /^carol/);
  chmodSync(join(base, 'private', 'ssh_host_ed25519_key'), 0o644);
  // A public key file of another key pair, and an FTPS key of another certificate.
  const other = join(tempDir(), 'other');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', other]);
  writeFileSync(join(base, 'private', 'ssh_host_ed25519_key.pub'), readFileSync(`${other}.pub`));
  execFileSync('openssl', ['genpkey', '-algorithm', 'ed25519', '-out', join(base, 'private', 'ftpd.key')], { stdio: 'ignore' });
  const cfg = join(base, 'tahoe.cfg');
  writeFileSync(cfg, readFileSync(cfg, 'utf8').replace('tls = off', 'tls = optional'));

  const r = await lafsd(['check-config', base]);
  assert.equal(r.code, 1, r.stderr);
  const lines = r.stderr.split('\n');
  const expect = [
    new RegExp(`^${accounts}:${bad1}: `),
    new RegExp(`^${accounts}:${bad2}: .*directory cap`),
    new RegExp(`ssh_host_ed25519_key: the SSH host key is readable by every user \\(mode 644\\); chmod 600 it$`),
    /^\[sftpd\] host_privkey_file: .*ssh_host_ed25519_key\.pub: this public key does not belong to the private key/,
    /^\[ftpd\] tls_cert_file, tls_key_file: .*ftpd\.crt and .*ftpd\.key cannot be used: the private key does not belong to the certificate$/,
  ];
  for (const re of expect) assert.ok(lines.some((l) => re.test(l)), `expected a line matching ${re} in:\n${r.stderr}`);
  assert.match(r.stderr, /: 5 problems;/);
  for (const secret of ['plain-password', root, 'notadir']) assert.equal(r.stderr.includes(secret), false, `${secret} is quoted`);

  // tahoe.cfg itself: all its problems, each with its line; the rest waits for a readable config.
  writeFileSync(cfg, `${readFileSync(cfg, 'utf8')}\n[lafsd]\nmetrics = tcp:nope\n`.replace('[sftpd]\n', '[sftpd]\ncolour = blue\n'));
  const c = await lafsd(['check-config', base]);
  assert.equal(c.code, 1);
  assert.match(c.stderr, new RegExp(`^${cfg}:${lineOf(cfg, /^colour/)}: \\[sftpd\\] contains unknown option 'colour'`, 'm'));
  assert.match(c.stderr, new RegExp(`^${cfg}:${lineOf(cfg, /^metrics = tcp:nope/)}: \\[lafsd\\] metrics: "tcp:nope" is not an endpoint`, 'm'));
  assert.match(c.stderr, /^note: accounts, keys and ports were not checked: fix tahoe\.cfg first$/m);
});

test('check-config refuses two listeners on one port', async () => {
  const [port] = await freePorts(1);
  const base = await newNode('--sftp-port', `tcp:${port}:interface=127.0.0.1`, '--ftp-port', 'tcp:0:interface=127.0.0.1', '--metrics-port', `tcp:${port}`);
  const r = await lafsd(['check-config', base]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, new RegExp(`\\[sftpd\\] port: port ${port} is also \\[lafsd\\] metrics; give each listener its own port`));
});

test('one lafsd run per node: the second refuses with the PID; kill -9 leaves nothing that blocks a restart', async () => {
  const node = await startLafsd({ backend: 'embedded' });
  const pid = node.process.pid!;
  assert.equal(readFileSync(join(node.basedir, 'lafsd.pid'), 'utf8'), `${pid}\n`);
  const second = await lafsd(['run', node.basedir]);
  assert.equal(second.code, 1);
  assert.match(second.stderr, new RegExp(`^lafsd: ${node.basedir} is in use by another lafsd \\(PID ${pid}, in ${node.basedir}/lafsd\\.pid\\): only one \`lafsd run\``));
  // check-config on a running node: fine, and says why its ports were not checked.
  const check = await lafsd(['check-config', node.basedir]);
  assert.equal(check.code, 0, check.stderr);
  assert.match(check.stderr, new RegExp(`^note: lafsd \\(PID ${pid}\\) is running on this node: its ports were not checked$`, 'm'));
  // Another node whose store is this node's store is refused as well.
  const otherBase = join(tempDir(), 'other');
  await lafsdOk(['init', otherBase, '--sftp-port', 'tcp:0:interface=127.0.0.1', '--ftp-port', 'tcp:0:interface=127.0.0.1']);
  writeFileSync(join(otherBase, 'tahoe.cfg'), readFileSync(join(otherBase, 'tahoe.cfg'), 'utf8').replace('#store = storage', `store = ${join(node.basedir, 'storage')}`));
  const shared = await lafsd(['run', otherBase]);
  assert.equal(shared.code, 1);
  assert.match(shared.stderr, new RegExp(`${join(node.basedir, 'storage')} is in use by another lafsd \\(PID ${pid}`));

  assert.equal(await node.stop('SIGKILL'), null);
  assert.ok(existsSync(join(node.basedir, 'lafsd.pid')), 'a killed server leaves its PID file behind');
  const again = await runLafsd(node.basedir);
  assert.ok(again.sftpPort > 0, 'the node starts again');
  assert.equal(readFileSync(join(node.basedir, 'lafsd.pid'), 'utf8'), `${again.process.pid}\n`);
  assert.equal(await again.stop('SIGTERM'), 0);
  assert.equal(existsSync(join(node.basedir, 'lafsd.pid')), false, 'a clean stop removes the PID file');
});
