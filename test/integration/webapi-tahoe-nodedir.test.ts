// `lafsd run` on a directory that looks like a real Tahoe-LAFS client node's: tahoe.cfg as
// `tahoe create-client` writes it plus the [sftpd]/[ftpd] sections the frontend docs ask for,
// node.url pointing at the (stand-in) node, an RSA host key made with ssh-keygen, and a
// private/accounts file with a key line and a password line whose root was made on the node
// with the web-API. Driven with OpenSSH `sftp` and `curl` FTP; what they did is then read back
// from the node directly, and the node directory is left exactly as it was.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { b32encode } from '../../src/caps/index.js';
import { pseudoRandom } from '../helpers/data.js';
import { startFakeTahoe } from '../helpers/fake-tahoe/index.js';
import { runLafsd } from '../helpers/lafsd.js';
import { tempDir } from '../helpers/tmp.js';
import { curl } from './ftp-harness.js';

// As Tahoe-LAFS 1.20's `tahoe create-client --nickname=laptop` writes it.
const TAHOE_CFG = `# -*- mode: conf; coding: utf-8 -*-

# This file controls the configuration of the Tahoe node that
# lives in this directory. It is only read at node startup.
# For details about the keys that can be set here, please
# read the 'docs/configuration.rst' file that came with your
# Tahoe installation.


[node]
nickname = laptop
web.port = tcp:3456:interface=127.0.0.1
web.static = public_html
tub.port = disabled
tub.location = disabled
#log_gatherer.furl =
#timeout.keepalive =
#timeout.disconnect =
#ssh.port = 8022
#ssh.authorized_keys_file = ~/.ssh/authorized_keys


[client]
# Which services should this client connect to?
helper.furl =
#stats_gatherer.furl =

# Encoding parameters this client will use for newly-uploaded files
# This can be changed at any time: the encoding is saved in each filecap,
# and we can download old files with any encoding settings
shares.needed = 3
shares.happy = 7
shares.total = 10

[storage]
# Shall this node provide storage service?
enabled = false
#readonly =
reserved_space = 1G
#expire.enabled =
#expire.mode =

[helper]
# Shall this node run a helper service that clients can use?
enabled = false

[connections]
tcp = tcp

# Added by the user, following docs/frontends/FTP-and-SFTP.rst:
[sftpd]
enabled = true
port = tcp:0:interface=127.0.0.1
host_pubkey_file = private/ssh_host_rsa_key.pub
host_privkey_file = private/ssh_host_rsa_key
accounts.file = private/accounts

[ftpd]
enabled = true
port = tcp:0:interface=127.0.0.1
accounts.file = private/accounts
`;

/** Every path below `dir` with its size and mtime: what "left as it was" means here. */
function snapshot(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      const full = join(d, name);
      const st = statSync(full);
      out.push(`${relative(dir, full)} ${st.isDirectory() ? 'dir' : st.size} ${st.mtimeMs}`);
      if (st.isDirectory()) walk(full);
    }
  };
  walk(dir);
  return out;
}

async function sftpBatch(port: number, keyFile: string, cwd: string, lines: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const batch = join(cwd, `batch-${randomBytes(4).toString('hex')}`);
  writeFileSync(batch, lines.join('\n') + '\n');
  const args = [
    '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'BatchMode=yes', '-o', 'LogLevel=ERROR',
    '-i', keyFile, '-P', String(port), '-b', batch, 'alice@127.0.0.1',
  ];
  const child = spawn('sftp', args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  clearTimeout(timer);
  return { code, stdout, stderr };
}

test('lafsd run on a Tahoe-LAFS node directory serves that node over SFTP and FTP, and leaves the directory as it was', async () => {
  const node = await startFakeTahoe();
  try {
    const api = (path: string) => new URL(path, node.url).toString();
    // The user's root, made on the node as `tahoe mkdir` / `tahoe put` would.
    const mkdir = await fetch(api('uri?t=mkdir'), { method: 'POST' });
    assert.equal(mkdir.status, 200);
    const root = (await mkdir.text()).trim();
    assert.match(root, /^URI:DIR2:/);
    const put = await fetch(api(`uri/${encodeURIComponent(root)}/hello.txt`), { method: 'PUT', body: 'hello from tahoe put\n' });
    assert.equal(put.status, 201);

    const work = tempDir('lafsd-tahoe-nodedir-');
    const basedir = join(work, 'tahoe-client');
    mkdirSync(join(basedir, 'private'), { recursive: true, mode: 0o700 });
    mkdirSync(join(basedir, 'logs'));
    writeFileSync(join(basedir, 'tahoe.cfg'), TAHOE_CFG);
    writeFileSync(join(basedir, 'node.url'), `${node.url}\n`);
    writeFileSync(join(basedir, 'private', 'api_auth_token'), `${b32encode(randomBytes(32))}\n`, { mode: 0o600 });
    writeFileSync(join(basedir, 'private', 'convergence'), `${b32encode(randomBytes(32))}\n`, { mode: 0o600 });
    execFileSync('ssh-keygen', ['-q', '-t', 'rsa', '-b', '2048', '-N', '', '-f', join(basedir, 'private', 'ssh_host_rsa_key')]);
    const keyFile = join(work, 'id_ed25519');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'alice@laptop', '-f', keyFile]);
    const pub = readFileSync(`${keyFile}.pub`, 'utf8').trim(); // "ssh-ed25519 AAAA… alice@laptop"
    writeFileSync(
      join(basedir, 'private', 'accounts'),
      `# This is a password line: username password cap\nbob sekrit ${root}\n\n# key-based: username keytype base64 [comment] cap\nalice ${pub} ${root}\n`,
      { mode: 0o600 },
    );
    const before = snapshot(basedir);

    const lafsd = await runLafsd(basedir);
    assert.ok(lafsd.ftpPort, 'the [ftpd] section is served');

    // OpenSSH sftp, logged in with the key line.
    const local = tempDir('lafsd-tahoe-nodedir-local-');
    const data = pseudoRandom('tahoe-nodedir', 2_500_000);
    writeFileSync(join(local, 'big.bin'), data);
    const s = await sftpBatch(lafsd.sftpPort, keyFile, local, ['ls -l', 'get hello.txt', 'put big.bin', 'mkdir sub', 'rename big.bin sub/big.bin', 'ls -l sub']);
    assert.equal(s.code, 0, `${s.stdout}\n${s.stderr}`);
    assert.match(s.stdout, /-rw-rw-rw- +1 tahoe +tahoe +21 .* hello\.txt\n/);
    assert.match(s.stdout, /-rw-rw-rw- +1 tahoe +tahoe +2500000 .* big\.bin\n/);
    assert.equal(readFileSync(join(local, 'hello.txt'), 'utf8'), 'hello from tahoe put\n');

    // curl FTP, logged in with the password line: sees what SFTP did, and adds a file.
    const ftp = (path: string) => `ftp://bob:sekrit@127.0.0.1:${lafsd.ftpPort}${path}`;
    const down = await curl([ftp('/sub/big.bin')]);
    assert.equal(down.code, 0, down.stderr);
    assert.deepEqual(down.stdout, data);
    const up = await curl(['-T', '-', ftp('/from-ftp.txt')], { input: Buffer.from('written over FTP\n') });
    assert.equal(up.code, 0, up.stderr);
    const list = await curl(['-l', ftp('/')]);
    assert.deepEqual(list.stdout.toString().split(/\r?\n/).filter(Boolean).sort(), ['from-ftp.txt', 'hello.txt', 'sub']);

    // Everything is on the node itself, read back through its web-API.
    const json = (await (await fetch(api(`uri/${encodeURIComponent(root)}?t=json`))).json()) as [string, { children: Record<string, [string, { size?: number }]> }];
    assert.deepEqual(Object.keys(json[1].children).sort(), ['from-ftp.txt', 'hello.txt', 'sub']);
    const big = await fetch(api(`uri/${encodeURIComponent(root)}/sub/big.bin`));
    assert.deepEqual(Buffer.from(await big.arrayBuffer()), data);
    assert.equal(await (await fetch(api(`uri/${encodeURIComponent(root)}/from-ftp.txt`))).text(), 'written over FTP\n');

    assert.equal(await lafsd.stop('SIGTERM'), 0);
    assert.doesNotMatch(lafsd.log(), /URI:|sekrit/, 'no cap and no password in the log');
    assert.deepEqual(snapshot(basedir), before, 'lafsd created, changed or removed nothing in the Tahoe node directory');
  } finally {
    await node.close();
  }
});
