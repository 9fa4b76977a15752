// The `lafsd` command end to end, as a user runs it: init → add-user → put → ls → get.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { parseCap, readCapOf } from '../../src/caps/index.js';
import { loadNodeConfig } from '../../src/config/index.js';
import { parseAccounts, verifyPassword } from '../../src/auth/index.js';
import { lafsd, lafsdOk } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';
import { pseudoRandom, sha256, streamChunks } from '../helpers/data.js';

test('init creates a complete node and refuses to overwrite it', async () => {
  const base = join(tempDir(), 'node');
  await lafsdOk(['init', base, '--sftp-port', 'tcp:0:interface=127.0.0.1', '--ftp-port', 'tcp:0:interface=127.0.0.1']);
  const config = loadNodeConfig(base);
  assert.equal(config.sftpd.enabled, true);
  assert.equal(config.ftpd.enabled, true);
  assert.equal(config.lafsd.grid, 'embedded');
  assert.equal(config.ftpd.tls, 'off', 'FTPS is ready but off: stock clients reject a self-signed certificate');
  assert.match(readFileSync(config.ftpd.tlsCertFile!, 'utf8'), /^-----BEGIN CERTIFICATE-----/);
  for (const f of ['private/ssh_host_ed25519_key', 'private/accounts', 'private/convergence', 'private/ftpd.key']) {
    assert.equal(statSync(join(base, f)).mode & 0o777, 0o600, f);
  }
  assert.match(readFileSync(join(base, 'private/ssh_host_ed25519_key.pub'), 'utf8'), /^ssh-ed25519 AAAA/);
  assert.ok(existsSync(join(base, 'storage', 'store.db')));
  const again = await lafsd(['init', base]);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /already holds a node/);
  const badPort = await lafsd(['init', join(tempDir(), 'n2'), '--sftp-port', '8022']);
  assert.equal(badPort.code, 1);
  assert.match(badPort.stderr, /endpoint/);
});

test('round trip: add-user, put, ls, get (byte-identical), mv, rm', async () => {
  const base = join(tempDir(), 'node');
  await lafsdOk(['init', base]);
  const added = await lafsdOk(['add-user', base, 'alice', '--password', 'sekrit']);
  const root = added.stdout.toString().trim();
  assert.equal(parseCap(root).type, 'DIR2');
  const accounts = parseAccounts(readFileSync(join(base, 'private/accounts'), 'utf8'), 'accounts').accounts;
  const alice = accounts.get('alice')!;
  assert.equal(alice.rootCap, root);
  assert.ok(await verifyPassword(alice.password!, 'sekrit'), 'the stored password is a hash of the given one');
  assert.doesNotMatch(readFileSync(join(base, 'private/accounts'), 'utf8'), /sekrit/);

  const big = pseudoRandom('cli-big', 20 * 1024 * 1024 + 3);
  const put = await lafsdOk(['put', base, `${root}/big.bin`], Readable.from(streamChunks('cli-big', big.length, 65536)));
  assert.match(put.stdout.toString(), /^URI:CHK:/);
  await lafsdOk(['put', base, `${root}/tiny.txt`], 'hello\n');
  await lafsdOk(['mkdir', base, `${root}/sub`]);
  await lafsdOk(['put', base, `${root}/sub/grüße.txt`], 'utf-8 name');
  assert.deepEqual((await lafsdOk(['ls', base, root])).stdout.toString().split('\n').filter(Boolean), ['big.bin', 'sub', 'tiny.txt']);
  const long = (await lafsdOk(['ls', base, root, '-l'])).stdout.toString();
  assert.match(long, /^-rw-rw-rw- +1 tahoe +tahoe +20971523 \w{3} \d\d [ \d:]{5} big\.bin$/m);
  assert.match(long, /^drwxrwxrwx .* sub$/m);
  const got = await lafsdOk(['get', base, `${root}/big.bin`]);
  assert.equal(sha256(got.stdout), sha256(big));
  assert.equal((await lafsdOk(['get', base, `${root}/sub/grüße.txt`])).stdout.toString(), 'utf-8 name');
  await lafsdOk(['mv', base, `${root}/tiny.txt`, `${root}/sub/moved.txt`]);
  assert.equal((await lafsdOk(['get', base, `${root}/sub/moved.txt`])).stdout.toString(), 'hello\n');
  await lafsdOk(['rm', base, `${root}/sub/moved.txt`]);
  const missing = await lafsd(['get', base, `${root}/sub/moved.txt`]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /No such file/);
  assert.doesNotMatch(missing.stderr, /URI:/, 'errors never show caps');
  // A read-only cap reads but cannot write.
  const ro = readCapOf(root);
  assert.equal((await lafsdOk(['get', base, `${ro}/big.bin`])).stdout.length, big.length);
  const denied = await lafsd(['put', base, `${ro}/new.txt`], 'x');
  assert.equal(denied.code, 1);
  assert.match(denied.stderr, /read-only/);
  // Unlinked and mutable uploads
  const unlinked = (await lafsdOk(['put', base], 'unlinked bytes that are longer than fifty-five bytes, so not LIT')).stdout.toString().trim();
  assert.equal((await lafsdOk(['get', base, unlinked])).stdout.toString(), 'unlinked bytes that are longer than fifty-five bytes, so not LIT');
  const mutable = (await lafsdOk(['put', base, `${root}/notes`, '--mutable'], 'v1')).stdout.toString().trim();
  assert.match(mutable, /^URI:SSK:/);
  await lafsdOk(['put', base, `${root}/notes`], 'v2');
  assert.equal((await lafsdOk(['get', base, mutable])).stdout.toString(), 'v2', 'writing a mutable file publishes a new version');
});

test('add-user: generated passwords, public keys, existing roots, passwd', async () => {
  const base = join(tempDir(), 'node');
  await lafsdOk(['init', base]);
  const gen = await lafsdOk(['add-user', base, 'bob']);
  const pw = /password for bob: (\S+)/.exec(gen.stderr)?.[1];
  assert.ok(pw && pw.length >= 16);
  const root = gen.stdout.toString().trim();
  const keyFile = join(tempDir(), 'id.pub');
  writeFileSync(keyFile, 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl bob@laptop\n');
  await lafsdOk(['add-user', base, 'bob', '--pubkey', keyFile]);
  const accounts = parseAccounts(readFileSync(join(base, 'private/accounts'), 'utf8'), 'accounts').accounts;
  assert.equal(accounts.get('bob')!.keys.length, 1);
  assert.equal(accounts.get('bob')!.rootCap, root, 'a key added to an existing user keeps its root');
  const dup = await lafsd(['add-user', base, 'bob', '--password', 'x']);
  assert.equal(dup.code, 2);
  assert.match(dup.stderr, /exists/);
  await lafsdOk(['passwd', base, 'bob', '--password-stdin'], 'new-password\n');
  const after = parseAccounts(readFileSync(join(base, 'private/accounts'), 'utf8'), 'accounts').accounts.get('bob')!;
  assert.ok(await verifyPassword(after.password!, 'new-password'));
  assert.ok(!(await verifyPassword(after.password!, pw!)));
  const shared = await lafsdOk(['add-user', base, 'carol', '--password', 'c', '--root', readCapOf(root)]);
  assert.equal(shared.stdout.toString().trim(), readCapOf(root));
  const badRoot = await lafsd(['add-user', base, 'dave', '--root', 'URI:LIT:abc']);
  assert.equal(badRoot.code, 2);
  const badName = await lafsd(['add-user', base, 'bad name']);
  assert.equal(badName.code, 2);
});

test('usage errors exit 2 with the usage text; config errors name file, section and key', async () => {
  const r = await lafsd(['frobnicate']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /usage: lafsd/);
  const base = join(tempDir(), 'node');
  await lafsdOk(['init', base]);
  writeFileSync(join(base, 'tahoe.cfg'), readFileSync(join(base, 'tahoe.cfg'), 'utf8').replace('[sftpd]\n', '[sftpd]\nbogus = 1\n'));
  const bad = await lafsd(['run', base]);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /tahoe\.cfg:\d+: \[sftpd\] contains unknown option 'bogus'/);
  const notNode = await lafsd(['ls', join(tempDir(), 'nothing'), 'URI:DIR2-LIT:']);
  assert.equal(notNode.code, 1);
  assert.match(notNode.stderr, /not a node directory/);
});

test('sftp-server --stdio serves an account over stdin/stdout (OpenSSH sftp -D)', async () => {
  const base = join(tempDir(), 'node');
  await lafsdOk(['init', base]);
  const root = (await lafsdOk(['add-user', base, 'alice', '--password', 'pw'])).stdout.toString().trim();
  await lafsdOk(['put', base, `${root}/hello.txt`], 'hello over stdio\n');
  const work = tempDir();
  writeFileSync(join(work, 'up.txt'), 'uploaded\n');
  writeFileSync(join(work, 'batch'), `ls -l\nget hello.txt ${join(work, 'got.txt')}\nput ${join(work, 'up.txt')} up.txt\n`);
  const { spawnSync } = await import('node:child_process');
  const { LAFSD } = await import('../helpers/cli.js');
  const r = spawnSync('sftp', ['-D', `${process.execPath} ${LAFSD} sftp-server --stdio ${base} --user alice`, '-b', join(work, 'batch')], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /-rw-rw-rw- .* hello\.txt/);
  assert.equal(readFileSync(join(work, 'got.txt'), 'utf8'), 'hello over stdio\n');
  assert.equal((await lafsdOk(['get', base, `${root}/up.txt`])).stdout.toString(), 'uploaded\n');
  const unknown = spawnSync(process.execPath, [LAFSD, 'sftp-server', '--stdio', base, '--user', 'nobody'], { encoding: 'utf8', input: '' });
  assert.equal(unknown.status, 2);
  assert.match(unknown.stderr, /no account named nobody/);
});
