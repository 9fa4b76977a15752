// OpenSSH scp (which speaks SFTP since 9.0) and PuTTY pscp against the real `lafsd run`.
//
// Both clients broke on replies that overtook earlier ones (scp truncated downloads, pscp lost
// the connection) and scp exited 1 after every transfer because the channel closed without an
// exit status (issue #9). The bug was timing-dependent, so the downloads run several times:
// LAFSD_INTEROP_REPEAT sets how many (default 5; run it with 20 or more after touching the
// SFTP session's reply path).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { hostKeyFingerprint, startLafsd } from '../helpers/lafsd.js';
import { run, type RunResult } from '../helpers/run.js';
import { pseudoRandom, sha256 } from '../helpers/data.js';
import { BIG, REPEAT, succeeded } from '../helpers/client-tree.js';
import { tempDir } from '../helpers/tmp.js';

const node = await startLafsd();
const local = tempDir('lafsd-scp-');
const big = pseudoRandom('scp-big', BIG);
const bigSha = sha256(big);
writeFileSync(join(local, 'big.bin'), big);

const quiet = ['-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'BatchMode=yes', '-o', 'LogLevel=ERROR', '-i', node.keyFile];

function scp(args: string[]): Promise<RunResult> {
  return run('scp', [...quiet, '-P', String(node.sftpPort), ...args], { timeoutMs: 120_000 });
}

// PuTTY accepts a host key only by fingerprint in batch mode.
function pscp(args: string[]): Promise<RunResult> {
  return run('pscp', ['-batch', '-sftp', '-P', String(node.sftpPort), '-pw', node.password, '-hostkey', hostKeyFingerprint(node), ...args], { timeoutMs: 120_000 });
}

/** Downloads the big file REPEAT times with `download`; each must exit 0 and be byte-exact. */
async function downloadsExact(client: string, download: (target: string) => Promise<RunResult>): Promise<void> {
  for (let i = 0; i < REPEAT; i++) {
    const target = join(local, `${client}-down-${i}.bin`);
    succeeded(await download(target), `${client} down #${i}`);
    const got = readFileSync(target);
    assert.equal(got.length, BIG, `${client} down #${i}: size`);
    assert.equal(sha256(got), bigSha, `${client} down #${i}: content`);
  }
}

test('ssh -s sftp with no input ends with exit status 0, as sshd does', async () => {
  const r = await run('ssh', [...quiet, '-p', String(node.sftpPort), '-s', `${node.keyUser}@127.0.0.1`, 'sftp'], { timeoutMs: 30_000 });
  assert.equal(r.code, 0, r.stderr);
});

test('scp (SFTP mode): a tree with a UTF-8 name up, the big file down again and again, exit status 0 each time', async () => {
  const tree = join(local, 'tree');
  mkdirSync(join(tree, 'ünïcødé'), { recursive: true });
  writeFileSync(join(tree, 'ünïcødé', 'grüße.txt'), 'UTF-8 names\n');
  writeFileSync(join(tree, 'small.txt'), 'small\n');
  writeFileSync(join(tree, 'empty'), '');
  succeeded(await scp(['-r', tree, `${node.keyUser}@127.0.0.1:scp-tree`]), 'scp -r up');
  succeeded(await scp([join(local, 'big.bin'), `${node.keyUser}@127.0.0.1:scp-tree/big.bin`]), 'scp up');

  const back = join(local, 'scp-back');
  succeeded(await scp(['-r', `${node.keyUser}@127.0.0.1:scp-tree`, back]), 'scp -r down');
  assert.deepEqual(readdirSync(back).sort(), ['big.bin', 'empty', 'small.txt', 'ünïcødé']);
  assert.equal(readFileSync(join(back, 'ünïcødé', 'grüße.txt'), 'utf8'), 'UTF-8 names\n');
  assert.equal(statSync(join(back, 'empty')).size, 0);

  await downloadsExact('scp', (target) => scp([`${node.keyUser}@127.0.0.1:scp-tree/big.bin`, target]));
});

test('scp -p keeps the modification time it sets', async () => {
  const src = join(local, 'dated.txt');
  writeFileSync(src, 'dated\n');
  execFileSync('touch', ['-d', '2003-04-05T06:07:08Z', src]);
  succeeded(await scp(['-p', src, `${node.keyUser}@127.0.0.1:dated.txt`]), 'scp -p up');
  const back = join(local, 'dated-back.txt');
  succeeded(await scp(['-p', `${node.keyUser}@127.0.0.1:dated.txt`, back]), 'scp -p down');
  assert.equal(statSync(back).mtime.toISOString(), '2003-04-05T06:07:08.000Z');
});

test('pscp -sftp: up, then down again and again, byte-exact with exit status 0', async () => {
  succeeded(await pscp([join(local, 'big.bin'), `${node.user}@127.0.0.1:pscp-big.bin`]), 'pscp up');
  await downloadsExact('pscp', (target) => pscp([`${node.user}@127.0.0.1:pscp-big.bin`, target]));
});

test('pscp -p keeps the modification time it sets, both ways', async () => {
  const src = join(local, 'pscp-dated.txt');
  writeFileSync(src, 'dated\n');
  execFileSync('touch', ['-d', '2003-04-05T06:07:08Z', src]);
  succeeded(await pscp(['-p', src, `${node.user}@127.0.0.1:pscp-dated.txt`]), 'pscp -p up');
  const back = join(local, 'pscp-dated-back.txt');
  succeeded(await pscp(['-p', `${node.user}@127.0.0.1:pscp-dated.txt`, back]), 'pscp -p down');
  assert.equal(statSync(back).mtime.toISOString(), '2003-04-05T06:07:08.000Z');
});
