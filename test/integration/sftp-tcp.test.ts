// SFTP through the whole server: a real `lafsd run` on 127.0.0.1, driven by the OpenSSH `sftp`
// client (key and password logins, 1 GiB round trip, rekey mid-transfer, a client killed
// mid-upload) and by Node clients over ssh2 (raw packets on the subsystem channel, and ssh2's
// own SFTP client for interoperability).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, createReadStream, createWriteStream, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { finished } from 'node:stream/promises';
import ssh2 from 'ssh2';
import { encodeRequest, OpenFlags, StatusCode, u32Bytes } from '../../src/sftp/index.js';
import { pseudoRandom, streamChunks } from '../helpers/data.js';
import { lafsdOk } from '../helpers/cli.js';
import { rssOf, startLafsd, sshOptions, type Lafsd } from '../helpers/lafsd.js';
import { SftpStatusError, SftpTestClient } from '../helpers/sftp-client.js';
import { tempDir } from '../helpers/tmp.js';

const { READ, WRITE, CREAT, TRUNC } = OpenFlags;
const node = await startLafsd({ rewriteConfig: (cfg) => cfg.replace(/(\[ftpd\][^[]*?)enabled = true/, '$1enabled = false') });
const local = tempDir('lafsd-sftp-tcp-');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** `sftp -b` as the key user (or the password user with `password: true`). */
async function sftp(n: Lafsd, lines: string[], opts: { password?: boolean; extra?: string[]; timeoutMs?: number } = {}): Promise<Run> {
  const batch = join(local, `batch-${randomBytes(4).toString('hex')}`);
  writeFileSync(batch, lines.join('\n') + '\n');
  let args: string[];
  const env: NodeJS.ProcessEnv = { ...process.env };
  if (opts.password) {
    const askpass = join(local, 'askpass.sh');
    writeFileSync(askpass, `#!/bin/sh\necho '${n.password}'\n`);
    chmodSync(askpass, 0o700);
    Object.assign(env, { SSH_ASKPASS: askpass, SSH_ASKPASS_REQUIRE: 'force', DISPLAY: ':0' });
    // Options before -b win (ssh takes the first value), so BatchMode stays off for askpass.
    args = [
      '-o', 'BatchMode=no', '-o', 'PubkeyAuthentication=no', '-o', 'PreferredAuthentications=password', '-o', 'NumberOfPasswordPrompts=1',
      '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'LogLevel=ERROR', '-P', String(n.sftpPort),
      ...(opts.extra ?? []), '-b', batch, `${n.user}@127.0.0.1`,
    ];
  } else {
    args = [...sshOptions(n), ...(opts.extra ?? []), '-b', batch, `${n.keyUser}@127.0.0.1`];
  }
  const child = spawn('sftp', args, { cwd: local, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  clearTimeout(timer);
  return { code, stdout, stderr };
}

function ok(r: Run): Run {
  assert.equal(r.code, 0, `sftp failed:\n${r.stdout}\n${r.stderr}`);
  return r;
}

async function writeStreamFile(path: string, seed: string, size: number): Promise<string> {
  const out = createWriteStream(path);
  const h = createHash('sha256');
  for (const c of streamChunks(seed, size, 4 * 1024 * 1024)) {
    h.update(c);
    if (!out.write(c)) await new Promise<void>((r) => out.once('drain', () => r()));
  }
  out.end();
  await finished(out);
  return h.digest('hex');
}

async function fileSha(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 4 * 1024 * 1024 })) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** An ssh2 connection as the key user; `raw()` opens an `sftp` subsystem channel for raw packets. */
async function connectSsh2(n: Lafsd): Promise<{ client: ssh2.Client; raw(): Promise<SftpTestClient> }> {
  const client = new ssh2.Client();
  await new Promise<void>((resolve, reject) => {
    client.once('ready', () => resolve()).once('error', reject);
    client.connect({ host: '127.0.0.1', port: n.sftpPort, username: n.keyUser, privateKey: readFileSync(n.keyFile) });
  });
  return {
    client,
    raw: () =>
      new Promise((resolve, reject) => {
        client.subsys('sftp', (err, stream) => {
          if (err) return reject(err);
          const c = new SftpTestClient(stream as unknown as Duplex);
          c.init().then(() => resolve(c), reject);
        });
      }),
  };
}

test('OpenSSH sftp with a key and with a password: round trip, listing, extensions in use', async () => {
  writeFileSync(join(local, 'hello.txt'), 'hello over ssh\n');
  ok(await sftp(node, ['put hello.txt', 'mkdir d', 'rename hello.txt d/hello.txt', 'ln d/hello.txt link.txt', 'df -h']));
  const r = ok(await sftp(node, ['ls -l d', 'get d/hello.txt back.txt', 'get link.txt link.back'], { password: true }));
  assert.match(r.stdout, /-rw-rw-rw- +1 tahoe +tahoe +15 .* hello\.txt\n/);
  assert.equal(readFileSync(join(local, 'back.txt'), 'utf8'), 'hello over ssh\n');
  assert.equal(readFileSync(join(local, 'link.back'), 'utf8'), 'hello over ssh\n');
  const v = await sftp(node, ['pwd'], { extra: ['-vvv'] });
  for (const ext of ['posix-rename@openssh.com', 'statvfs@openssh.com', 'fsync@openssh.com', 'hardlink@openssh.com', 'limits@openssh.com', 'copy-data']) {
    assert.match(v.stderr, new RegExp(`Server supports extension "${ext}"`), ext);
  }
  assert.match(v.stderr, /using 261120 \/ 261120/);
  assert.doesNotMatch(node.log(), /URI:/, 'no cap in the server log');
});

// On the web-API backend the same path is covered by the 96 MiB and 256 MiB transfers below;
// 1 GiB more through the stand-in node (in this test process) would only double the CI time.
const gibSkip = node.backend !== 'embedded' && '1 GiB runs on the embedded backend only (CI time)';
test('1 GiB round trip byte-identical', { timeout: 300_000, skip: gibSkip }, async () => {
  const size = 1024 * 1024 * 1024;
  const src = join(local, 'gib.bin');
  const sha = await writeStreamFile(src, 'gib', size);
  ok(await sftp(node, ['put gib.bin', 'get gib.bin gib.back'], { timeoutMs: 240_000 }));
  assert.equal(await fileSha(join(local, 'gib.back')), sha);
  ok(await sftp(node, ['rm gib.bin']));
});

test('a client-initiated rekey mid-transfer (RekeyLimit=16M) keeps the transfer byte-identical', { timeout: 120_000 }, async () => {
  const size = 96 * 1024 * 1024;
  const sha = await writeStreamFile(join(local, 'rekey.bin'), 'rekey', size);
  const before = (node.log().match(/"ssh rekey"/g) ?? []).length;
  ok(await sftp(node, ['put rekey.bin', 'get rekey.bin rekey.back', 'rm rekey.bin'], { extra: ['-o', 'RekeyLimit=16M'] }));
  assert.equal(await fileSha(join(local, 'rekey.back')), sha);
  const rekeys = (node.log().match(/"ssh rekey"/g) ?? []).length - before;
  assert.ok(rekeys >= 4, `${rekeys} rekeys`);
});

test('a client killed mid-upload links nothing; the server keeps serving', { timeout: 120_000 }, async () => {
  await writeStreamFile(join(local, 'killed.bin'), 'killed', 256 * 1024 * 1024);
  const watcher = await connectSsh2(node);
  const c = await watcher.raw();
  const batch = join(local, 'kill-batch');
  writeFileSync(batch, 'put killed.bin\n');
  // Its own process group, so the kill takes sftp and its ssh child (the TCP connection) at once.
  const child = spawn('sftp', [...sshOptions(node), '-b', batch, `${node.keyUser}@127.0.0.1`], { cwd: local, detached: true, stdio: 'ignore' });
  const exited = new Promise((resolve) => child.on('exit', resolve));
  try {
    // The file being written is visible (with its size) to other sessions while it is open.
    const deadline = Date.now() + 30_000;
    for (;;) {
      const r = await c.call({ type: 'stat', path: Buffer.from('killed.bin') });
      if (r.type === 'attrs' && (r.attrs.size ?? 0) > 8 * 1024 * 1024) break;
      assert.ok(Date.now() < deadline, 'the upload never showed up');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  } finally {
    process.kill(-child.pid!, 'SIGKILL');
  }
  await exited;
  const deadline = Date.now() + 10_000;
  for (;;) {
    const r = await c.call({ type: 'stat', path: Buffer.from('killed.bin') });
    if (r.type === 'status' && r.code === StatusCode.NO_SUCH_FILE) break;
    assert.ok(Date.now() < deadline, 'the abandoned upload is still visible');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  assert.ok(!(await c.list('/')).some((e) => e.name === 'killed.bin'), 'nothing was linked');
  await c.writeFile('after-kill', 'still serving');
  assert.equal((await c.readFile('after-kill')).toString(), 'still serving');
  watcher.client.end();
});

test('raw packets over the SSH channel: pipelined writes, every extension, bad packets', async () => {
  const { client, raw } = await connectSsh2(node);
  const c = await raw();
  assert.deepEqual(c.version!.extensions.map(([n]) => n).sort(), [
    'copy-data', 'expand-path@openssh.com', 'fstatvfs@openssh.com', 'fsync@openssh.com', 'hardlink@openssh.com', 'home-directory',
    'limits@openssh.com', 'posix-rename@openssh.com', 'statvfs@openssh.com',
  ]);
  // 64 out-of-order WRITEs in one burst.
  const chunk = 32768;
  const data = pseudoRandom('tcp-ooo', 64 * chunk);
  const h = await c.open('ooo.bin', WRITE | CREAT | TRUNC);
  const order = Array.from({ length: 64 }, (_, i) => i).sort(() => Math.random() - 0.5);
  const ids = order.map(() => c.allocId());
  const replies = ids.map((id) => c.replyTo(id));
  c.sendRaw(Buffer.concat(order.map((i, k) => encodeRequest({ type: 'write', id: ids[k]!, handle: h, offset: i * chunk, data: data.subarray(i * chunk, (i + 1) * chunk) }))));
  for (const r of await Promise.all(replies)) assert.equal((r as { code: number }).code, StatusCode.OK);
  await c.ok({ type: 'fsync', handle: h });
  await c.close(h);
  assert.deepEqual(await c.readFile('ooo.bin', 261120), data);
  // Extensions.
  await c.ok({ type: 'posix-rename', oldPath: Buffer.from('ooo.bin'), newPath: Buffer.from('moved.bin') });
  await c.ok({ type: 'hardlink', oldPath: Buffer.from('moved.bin'), newPath: Buffer.from('hard.bin') });
  const src = await c.open('moved.bin', READ);
  const dst = await c.open('copied.bin', WRITE | CREAT | TRUNC);
  await c.ok({ type: 'copy-data', readHandle: src, readOffset: 0, readLength: 0, writeHandle: dst, writeOffset: 0 });
  for (const type of ['statvfs'] as const) assert.equal((await c.call({ type, path: Buffer.from('/') })).type, 'extended-reply');
  assert.equal((await c.call({ type: 'fstatvfs', handle: src })).type, 'extended-reply');
  assert.equal((await c.call({ type: 'limits' })).type, 'extended-reply');
  await c.close(dst);
  await c.close(src);
  assert.deepEqual(await c.readFile('copied.bin'), data);
  assert.equal(await c.realpath('../../x/..'), '/');
  assert.equal(await c.status({ type: 'readlink', path: Buffer.from('hard.bin') }), StatusCode.OP_UNSUPPORTED);
  await assert.rejects(c.open('nothere', READ), (e: unknown) => e instanceof SftpStatusError && e.code === StatusCode.NO_SUCH_FILE);
  for (const p of ['moved.bin', 'hard.bin', 'copied.bin']) await c.ok({ type: 'remove', path: Buffer.from(p) });
  // A packet over 256 KiB ends this channel; the connection and new channels still work.
  c.sendRaw(Buffer.concat([u32Bytes(300_000), Buffer.alloc(16)]));
  await c.ended;
  const again = await raw();
  assert.equal(await again.realpath('.'), '/');
  await again.end();
  client.end();
});

test("ssh2's own SFTP client interoperates (fastPut/fastGet, readdir, stat, rename, unlink)", async () => {
  const { client } = await connectSsh2(node);
  const sftpClient = await new Promise<ssh2.SFTPWrapper>((resolve, reject) => client.sftp((err, s) => (err ? reject(err) : resolve(s))));
  const data = pseudoRandom('ssh2', 5 * 1024 * 1024 + 11);
  writeFileSync(join(local, 'ssh2.bin'), data);
  await new Promise<void>((resolve, reject) => sftpClient.fastPut(join(local, 'ssh2.bin'), '/ssh2.bin', (err) => (err ? reject(err) : resolve())));
  await new Promise<void>((resolve, reject) => sftpClient.fastGet('/ssh2.bin', join(local, 'ssh2.back'), (err) => (err ? reject(err) : resolve())));
  assert.deepEqual(readFileSync(join(local, 'ssh2.back')), data);
  const stats = await new Promise<ssh2.Stats>((resolve, reject) => sftpClient.stat('/ssh2.bin', (err, s) => (err ? reject(err) : resolve(s))));
  assert.equal(stats.size, data.length);
  assert.ok(stats.isFile());
  await new Promise<void>((resolve, reject) => sftpClient.rename('/ssh2.bin', '/ssh2-renamed.bin', (err) => (err ? reject(err) : resolve())));
  const names = await new Promise<ssh2.FileEntry[]>((resolve, reject) => sftpClient.readdir('/', (err, l) => (err ? reject(err) : resolve(l))));
  const entry = names.find((e) => e.filename === 'ssh2-renamed.bin');
  assert.ok(entry && entry.attrs.size === data.length && entry.longname.startsWith('-rw-rw-rw-'));
  await new Promise<void>((resolve, reject) => sftpClient.unlink('/ssh2-renamed.bin', (err) => (err ? reject(err) : resolve())));
  client.end();
});

/**
 * Asks for 2000 READs of 255 KiB (510 MB of replies) of a 64 MiB file while `stall` keeps the
 * client from reading them: the server's RSS must grow by less than 96 MiB in `waitMs`. Then
 * `stall`'s returned function lets the client read again, and every reply must arrive.
 */
async function readsNobodyTakes(name: string, stall: (client: ssh2.Client, c: SftpTestClient) => () => void, waitMs: number, how: string): Promise<void> {
  const { client, raw } = await connectSsh2(node);
  const c = await raw();
  c.recordReplies = false;
  const size = 64 * 1024 * 1024;
  await c.writeFile(name, pseudoRandom(name, size));
  const r = await c.open(name, READ);
  const resume = stall(client, c);
  const n = 2000;
  const before = rssOf(node);
  let got = 0;
  const replies: Promise<void>[] = [];
  for (let i = 0; i < n; i++) {
    const id = c.allocId();
    replies.push(c.replyTo(id).then((rep) => {
      assert.equal(rep.type, 'data');
      got++;
    }));
    c.stream.write(encodeRequest({ type: 'read', id, handle: r, offset: (i * 261120) % (size - 261120), length: 261120 }));
  }
  await new Promise((resolve) => setTimeout(resolve, waitMs));
  const grown = rssOf(node) - before;
  assert.ok(grown < 96 * 1024 * 1024, `server RSS grew by ${(grown / 1048576).toFixed(0)} MiB while its client ${how}`);
  process.stdout.write(`# server RSS grew by ${(grown / 1048576).toFixed(1)} MiB with 510 MB of replies asked for while its client ${how}\n`);
  // Nothing was lost: once the client reads again, every reply arrives.
  resume();
  await Promise.all(replies);
  assert.equal(got, n);
  await c.close(r);
  await c.ok({ type: 'remove', path: Buffer.from(name) });
  client.end();
}

test('a client that stops reading replies: the server stops reading requests, its memory stays bounded', { timeout: 120_000 }, async () => {
  await readsNobodyTakes('bp.bin', (_client, c) => {
    c.stream.pause(); // stop reading replies
    return () => c.stream.resume();
  }, 2000, 'did not read');
});

// Found on 2026-12-05: ssh2 writes channel data to the socket whenever the client's SSH window
// allows, and never looks at the socket's backpressure. A client that granted a 4 GiB window and
// stopped reading its TCP socket made lafsd buffer every reply it asked for: 1.2 GiB in 15 s,
// still growing.
test('a client that grants a huge SSH window and stops reading its TCP socket: memory stays bounded', { timeout: 120_000 }, async () => {
  await readsNobodyTakes('tcp-stall.bin', (client, c) => {
    // Grant the server all the window SSH allows (and note it on our side, so ssh2 takes the data
    // later), then stop reading the socket: only TCP's flow control is left to stop the server.
    const ch = c.stream as unknown as { outgoing: { id: number }; incoming: { window: number } };
    const grant = 0xffffffff - 4 * 1024 * 1024;
    (client as unknown as { _protocol: { channelWindowAdjust(id: number, n: number): void } })._protocol.channelWindowAdjust(ch.outgoing.id, grant);
    ch.incoming.window += grant;
    const sock = (client as unknown as { _sock: Duplex })._sock;
    sock.pause();
    return () => sock.resume();
  }, 3000, 'did not read its socket');
});

test('SIGTERM with an upload open: lafsd stops cleanly and links nothing', async () => {
  const { client, raw } = await connectSsh2(node);
  const c = await raw();
  const h = await c.open('open-at-stop', WRITE | CREAT);
  await c.write(h, 0, 'never closed');
  const ended = c.ended;
  assert.equal(await node.stop('SIGTERM'), 0);
  await ended;
  client.end();
  assert.match(node.log(), /"stopped"/);
  // The store, read with the CLI once the server is gone: the unclosed upload was not linked.
  const names = (await lafsdOk(['ls', node.basedir, node.rootCap])).stdout.toString().split('\n');
  assert.ok(!names.includes('open-at-stop') && !names.includes('killed.bin'), names.join(','));
});
