// lafsd run on the web-API backend when its Tahoe node goes away mid-session: the node refusing
// connections (stopped), answering 5xx, and not answering at all. SFTP clients get FX_FAILURE
// and FTP clients 451, in bounded time, with a plain message (no HTML page, no cap); lafsd
// keeps running, and the very same sessions work again as soon as the node is back. Every FTP
// client tried (curl, lftp, wget, ftplib, rclone, basic-ftp) reports the outage as a failure,
// never as an empty directory.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OpenFlags, StatusCode } from '../../src/sftp/index.js';
import { pseudoRandom } from '../helpers/data.js';
import { runLafsd, startLafsd } from '../helpers/lafsd.js';
import { keyUserSftpSession, type SftpTestClient } from '../helpers/sftp-client.js';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client as BasicFtp } from 'basic-ftp';
import { tempDir } from '../helpers/tmp.js';
import { withTimeout } from '../../src/util/timeout.js';
import { RawFtp, curl, dataConnect, lftp, run, type Reply } from './ftp-harness.js';

const { READ, WRITE, CREAT, TRUNC } = OpenFlags;
/** [lafsd] webapi.timeout of this node: the bound on any wait for a node that does not answer. */
const TIMEOUT_S = 3;
const node = await startLafsd({ backend: 'webapi', config: { lafsd: `webapi.timeout = ${TIMEOUT_S}s` } });
const fake = node.fake!;
const ALICE = { user: node.user, password: node.password };
/** What a refused or failed request may take before the client hears back. */
const REFUSED_BOUND_MS = 5_000;
/** webapi.timeout (and one status-page probe interval) plus slack for a loaded machine. */
const HANG_BOUND_MS = TIMEOUT_S * 1000 * 1.5 + 5_000;
const NO_HTML_NO_CAP = /<[a-z!/]|URI:|URI%3A|[a-z2-7]{26}:[a-z2-7]{52}|Traceback/i;

const sftpSession = () => keyUserSftpSession(node);

async function ftpSession(): Promise<RawFtp> {
  const f = await RawFtp.open(node.ftpPort!);
  await f.login(ALICE);
  return f;
}

/** Runs `fn`, failing (not waiting on) when it has not finished within `boundMs`. */
function timed<T>(what: string, boundMs: number, fn: () => Promise<T>): Promise<T> {
  return withTimeout(fn(), boundMs, () => new Error(`${what}: no answer within ${boundMs} ms`));
}

/** An SFTP request that must fail with FX_FAILURE and a clean message. */
async function sftpFails(c: SftpTestClient, what: string, req: Parameters<SftpTestClient['call']>[0], boundMs = REFUSED_BOUND_MS): Promise<string> {
  const r = await timed(`SFTP ${what}`, boundMs, () => c.call(req));
  assert.equal(r.type, 'status', `${what}: ${r.type}`);
  const s = r as { code: number; message: string };
  assert.equal(s.code, StatusCode.FAILURE, `${what}: ${s.code} ${s.message}`);
  assert.doesNotMatch(s.message, NO_HTML_NO_CAP, `${what}: ${s.message}`);
  assert.ok(s.message.length > 0 && s.message.length < 400, `${what}: ${s.message}`);
  return s.message;
}

/** An FTP reply that must be 451 (a 450 reads as "no files" to curl) with a clean text. */
function ftpFailed(what: string, r: Reply): void {
  assert.equal(r.code, 451, `${what}: ${r.lines.join(' | ')}`);
  assert.doesNotMatch(r.lines.join('\n'), NO_HTML_NO_CAP, what);
}

/** A download over EPSV: the opening reply, and the final one when there was a transfer. */
async function retr(f: RawFtp, name: string, timeoutMs = REFUSED_BOUND_MS): Promise<{ opening: Reply; done: Reply; data: Buffer }> {
  const d = await dataConnect(await f.epsv());
  f.write(`RETR ${name}\r\n`);
  const opening = await f.read(timeoutMs);
  if (opening.code !== 150) {
    d.sock.destroy();
    return { opening, done: opening, data: Buffer.alloc(0) };
  }
  const data = await d.received;
  return { opening, done: await f.read(timeoutMs), data };
}

async function stor(f: RawFtp, name: string, data: Buffer, timeoutMs = REFUSED_BOUND_MS): Promise<Reply> {
  const d = await dataConnect(await f.epsv());
  f.write(`STOR ${name}\r\n`);
  const opening = await f.read(timeoutMs);
  if (opening.code !== 150) {
    d.sock.destroy();
    return opening;
  }
  d.sock.end(data);
  return f.read(timeoutMs);
}

function assertAlive(): void {
  assert.equal(node.process.exitCode, null, 'lafsd is still running');
  assert.equal(node.process.signalCode, null, 'lafsd is still running');
  assert.doesNotMatch(node.log(), /uncaught|unhandled|"level":60/i, 'no crash and no fatal log line');
  assert.doesNotMatch(node.log(), /URI:/, 'no cap in the log');
}

test('the node stops mid-session: SFTP FX_FAILURE and FTP 451 at once; the same sessions work again after restart', { timeout: 60_000 }, async () => {
  const data = pseudoRandom('outage', 3 * 1024 * 1024 + 5);
  const { client, c } = await sftpSession();
  await c.writeFile('kept.bin', data);
  await c.ok({ type: 'mkdir', path: Buffer.from('dir'), attrs: {} });
  await c.writeFile('dir/inside', 'inside');
  const reading = await c.open('kept.bin', READ); // open while the node is up, read while it is down
  const f = await ftpSession();
  // Uploads under way when the node goes (more than a LIT's worth, so bytes went to the node).
  const upload = await c.open('during.bin', WRITE | CREAT | TRUNC);
  for (let off = 0; off < 256 * 1024; off += 32768) await c.write(upload, off, data.subarray(off, off + 32768));
  const ftpUpload = await dataConnect(await f.epsv());
  assert.equal((await f.cmd('STOR during-ftp.bin')).code, 150);
  await new Promise<void>((resolve) => ftpUpload.sock.write(data.subarray(0, 256 * 1024), () => resolve()));

  await fake.stop();
  // Every one of these needs the node (writes, and objects nobody has listed or read yet).
  const msg = await sftpFails(c, 'mkdir', { type: 'mkdir', path: Buffer.from('new-dir'), attrs: {} });
  assert.match(msg, /unavailable|connection refused/i, msg);
  await sftpFails(c, 'read', { type: 'read', handle: reading, offset: 2 * 1024 * 1024, length: 32768 });
  await sftpFails(c, 'opendir of a directory not listed yet', { type: 'opendir', path: Buffer.from('dir') });
  await sftpFails(c, 'remove', { type: 'remove', path: Buffer.from('kept.bin') });
  await sftpFails(c, 'open of a new file', { type: 'open', path: Buffer.from('new.bin'), pflags: WRITE | CREAT | TRUNC, attrs: {} });
  // The uploads under way: the rest of their bytes cannot reach the node, the close says so.
  const moreWrites: Promise<unknown>[] = [];
  for (let off = 256 * 1024; off < data.length; off += 32768) moreWrites.push(c.call({ type: 'write', handle: upload, offset: off, data: data.subarray(off, off + 32768) }));
  await timed('SFTP writes of an upload under way', REFUSED_BOUND_MS, () => Promise.all(moreWrites));
  await sftpFails(c, 'close of an upload under way', { type: 'close', handle: upload });
  ftpUpload.sock.end(data.subarray(256 * 1024));
  const stored = await f.read(REFUSED_BOUND_MS);
  assert.equal(stored.code, 451, `STOR under way: ${stored.lines.join(' | ')}`);
  assert.doesNotMatch(stored.text, NO_HTML_NO_CAP);
  ftpFailed('MKD', await timed('FTP MKD', REFUSED_BOUND_MS, () => f.cmd('MKD ftp-dir')));
  ftpFailed('DELE', await timed('FTP DELE', REFUSED_BOUND_MS, () => f.cmd('DELE kept.bin')));
  const down = await timed('FTP RETR', REFUSED_BOUND_MS, () => retr(f, 'dir/inside'));
  ftpFailed('RETR', down.done);
  ftpFailed('STOR', await timed('FTP STOR', REFUSED_BOUND_MS, () => stor(f, 'ftp.bin', data.subarray(0, 200_000))));
  assertAlive();

  await fake.restart();
  // The same SFTP session and handle, and the same FTP control connection.
  assert.deepEqual(await c.read(reading, 2 * 1024 * 1024, 32768), data.subarray(2 * 1024 * 1024, 2 * 1024 * 1024 + 32768));
  await c.close(reading);
  await c.ok({ type: 'mkdir', path: Buffer.from('new-dir'), attrs: {} });
  await c.writeFile('new.bin', data.subarray(0, 512 * 1024));
  assert.deepEqual(await c.readFile('new.bin'), data.subarray(0, 512 * 1024));
  assert.deepEqual((await c.list('dir')).map((e) => e.name), ['inside']);
  assert.equal((await f.cmd('MKD ftp-dir')).code, 257);
  assert.equal((await stor(f, 'ftp.bin', data.subarray(0, 200_000))).code, 226);
  const back = await retr(f, 'ftp.bin');
  assert.equal(back.done.code, 226);
  assert.deepEqual(back.data, data.subarray(0, 200_000));
  assert.deepEqual(await c.readFile('kept.bin'), data, 'nothing was lost or changed by the outage');
  assert.equal(await c.status({ type: 'stat', path: Buffer.from('during.bin') }), StatusCode.NO_SUCH_FILE, 'a failed upload links nothing');
  assert.equal((await f.cmd('SIZE during-ftp.bin')).code, 550, 'a failed STOR links nothing');
  // New sessions too (a real client).
  const listing = await curl([`ftp://${ALICE.user}:${ALICE.password}@127.0.0.1:${node.ftpPort}/`, '-l']);
  assert.deepEqual(listing.stdout.toString().split(/\r?\n/).filter(Boolean).sort(), ['dir', 'ftp-dir', 'ftp.bin', 'kept.bin', 'new-dir', 'new.bin']);
  f.close();
  client.end();
  assertAlive();
});

test('the node answers 5xx: one failed request is one clean error, the next request works', { timeout: 60_000 }, async () => {
  const { client, c } = await sftpSession();
  const f = await ftpSession();
  fake.failNext(1, 503);
  await sftpFails(c, 'mkdir on a 503', { type: 'mkdir', path: Buffer.from('m503'), attrs: {} });
  await c.ok({ type: 'mkdir', path: Buffer.from('m503'), attrs: {} });
  fake.failNext(1, 500);
  ftpFailed('MKD on a 500', await f.cmd('MKD f500'));
  assert.equal((await f.cmd('MKD f500')).code, 257);
  f.close();
  client.end();
  assertAlive();
});

test('the node stops answering: errors within webapi.timeout, then everything works again', { timeout: 120_000 }, async () => {
  const { client, c } = await sftpSession();
  const f = await ftpSession();
  fake.setDelay(Infinity);
  try {
    // Both frontends at once, so the test waits for one timeout only.
    await Promise.all([
      sftpFails(c, 'mkdir while the node hangs', { type: 'mkdir', path: Buffer.from('hung'), attrs: {} }, HANG_BOUND_MS),
      timed('FTP MKD while the node hangs', HANG_BOUND_MS, async () => {
        f.write('MKD hung-ftp\r\n');
        ftpFailed('MKD while the node hangs', await f.read(HANG_BOUND_MS));
      }),
    ]);
  } finally {
    fake.setDelay(0);
  }
  await c.ok({ type: 'mkdir', path: Buffer.from('hung'), attrs: {} });
  assert.equal((await f.cmd('MKD hung-ftp')).code, 257);
  f.close();
  client.end();
  assertAlive();
});

test('an outage is a failure in every FTP client, never an empty directory: curl, lftp, wget, ftplib, rclone, basic-ftp', { timeout: 120_000 }, async () => {
  const local = tempDir('lafsd-outage-clients-');
  const url = (p: string) => `ftp://${ALICE.user}:${encodeURIComponent(ALICE.password)}@127.0.0.1:${node.ftpPort}${p}`;
  const up = await curl(['--ftp-create-dirs', '-T', '-', url('/synced/a.txt')], { input: Buffer.from('kept\n') });
  assert.equal(up.code, 0, up.stderr);
  // Local copies that a sync tool would delete if it took the outage for an empty directory.
  const mirrors = ['lftp', 'rclone', 'wget'].map((name) => {
    const dir = join(local, name);
    mkdirSync(dir);
    writeFileSync(join(dir, 'a.txt'), 'kept\n');
    return dir;
  });
  const [lftpDir, rcloneDir] = mirrors as [string, string, string];
  await fake.stop();
  await new Promise((r) => setTimeout(r, 3_500)); // past the listing cache: the clients must ask the node
  try {
    // curl's LIST and NLST (of the root, and with --ftp-method nocwd of a folder; by default
    // curl first sends CWD, which fails too: exit 9).
    for (const args of [[url('/')], ['-l', url('/')], ['--ftp-method', 'nocwd', url('/synced/')], ['--ftp-method', 'nocwd', '-l', url('/synced/')]]) {
      const c = await curl(args);
      assert.deepEqual([c.code, c.stdout.length], [19, 0], `curl ${args.join(' ')}: ${c.stderr}`);
      assert.match(c.stderr, /RETR response: 451/);
    }
    assert.equal((await curl([url('/synced/')])).code, 9, 'curl: CWD refused');
    const l = await lftp(node.ftpPort!, ALICE, `set net:max-retries 1; set net:reconnect-interval-base 1; mirror --delete synced ${JSON.stringify(lftpDir)}`);
    assert.notEqual(l.code, 0, 'lftp mirror');
    assert.match(l.stderr, /451 the Tahoe-LAFS node/);
    const w = await run('wget', ['-q', '--tries=1', '-r', '-nH', '-P', join(local, 'wget'), url('/synced/')], { timeoutMs: 60_000 });
    assert.notEqual(w.code, 0, 'wget -r');
    const py = await run('/usr/bin/python3', ['-c', `
import ftplib, sys
f = ftplib.FTP()
f.connect('127.0.0.1', ${node.ftpPort})
f.login(${JSON.stringify(ALICE.user)}, ${JSON.stringify(ALICE.password)})
for call in (lambda: f.nlst('synced'), lambda: f.retrlines('LIST synced'), lambda: list(f.mlsd('synced'))):
    try:
        call()
        print('no error'); sys.exit(1)
    except ftplib.error_temp as e:
        print(str(e)[:3])
`]);
    assert.equal(py.code, 0, py.stdout.toString() + py.stderr);
    assert.deepEqual(py.stdout.toString().split(/\s+/).filter(Boolean), ['451', '451', '451'], 'ftplib: error_temp 451 for NLST, LIST, MLSD');
    const obscured = (await run('rclone', ['obscure', ALICE.password])).stdout.toString().trim();
    const r = await run('rclone', [
      'sync', '--retries', '1', '--low-level-retries', '1', '--ftp-host', '127.0.0.1', '--ftp-port', String(node.ftpPort), '--ftp-user', ALICE.user,
      '--ftp-pass', obscured, ':ftp:synced', rcloneDir,
    ], { timeoutMs: 60_000, env: { ...process.env, RCLONE_CONFIG: join(local, 'rclone.conf') } });
    assert.notEqual(r.code, 0, 'rclone sync');
    assert.match(r.stderr, /451 the Tahoe-LAFS node/);
    const client = new BasicFtp(15_000);
    try {
      await client.access({ host: '127.0.0.1', port: node.ftpPort!, user: ALICE.user, password: ALICE.password });
      await assert.rejects(client.list('/synced'), (e: { code?: number }) => e.code === 451);
    } finally {
      client.close();
    }
    for (const dir of mirrors) assert.deepEqual(readdirSync(dir), ['a.txt'], `nothing deleted in ${dir}`);
  } finally {
    await fake.restart();
  }
  const back = await curl(['-l', url('/synced/')]);
  assert.equal(back.stdout.toString().trim(), 'a.txt', 'listed again once the node is back');
  assertAlive();
});

test('the node hangs after receiving a whole upload: SFTP CLOSE and the end of an FTP STOR fail within webapi.timeout, and nothing is linked', { timeout: 120_000 }, async () => {
  const { client, c } = await sftpSession();
  const f = await ftpSession();
  const data = pseudoRandom('hang-after-upload', 2 * 1024 * 1024);
  try {
    const h = await c.open('hung-upload.bin', WRITE | CREAT | TRUNC);
    for (let off = 0; off < data.length; off += 32768) await c.write(h, off, data.subarray(off, off + 32768));
    fake.onNextUploadCommit('hang');
    const t0 = Date.now();
    const msg = await sftpFails(c, 'close after the whole upload', { type: 'close', handle: h }, HANG_BOUND_MS);
    assert.match(msg, new RegExp(`no answer within ${TIMEOUT_S} s`), msg);
    assert.ok(Date.now() - t0 >= TIMEOUT_S * 1000 - 200, 'waited for the node first');
    fake.unfreeze();
    fake.onNextUploadCommit('hang');
    const t1 = Date.now();
    const stored = await stor(f, 'hung-ftp.bin', data, HANG_BOUND_MS);
    assert.equal(stored.code, 451, stored.lines.join(' | '));
    assert.match(stored.text, new RegExp(`no answer within ${TIMEOUT_S} s`));
    assert.ok(Date.now() - t1 < HANG_BOUND_MS);
  } finally {
    fake.unfreeze();
  }
  await fake.stop(); // the held requests go with their connections
  await fake.restart();
  // A slow but working node is waited for: twice the timeout, with its progress showing.
  fake.onNextUploadCommit(TIMEOUT_S * 2000);
  const slow = await c.open('slow-upload.bin', WRITE | CREAT | TRUNC);
  for (let off = 0; off < data.length; off += 32768) await c.write(slow, off, data.subarray(off, off + 32768));
  await c.close(slow);
  assert.deepEqual(await c.readFile('slow-upload.bin'), data);
  assert.equal(await c.status({ type: 'stat', path: Buffer.from('hung-upload.bin') }), StatusCode.NO_SUCH_FILE, 'a failed close links nothing');
  assert.equal((await f.cmd('SIZE hung-ftp.bin')).code, 550, 'a failed STOR links nothing');
  f.close();
  client.end();
  assertAlive();
});

test('lafsd starts while its Tahoe node is down, says so, serves clear errors, and works once the node answers', { timeout: 120_000 }, async () => {
  assert.equal(await node.stop('SIGTERM'), 0);
  await fake.stop();
  const again = await runLafsd(node.basedir);
  const waitLog = async (re: RegExp) => {
    const end = Date.now() + 30_000;
    while (!re.test(again.log())) {
      assert.ok(Date.now() < end, `no ${re} in the log:\n${again.log()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  await waitLog(/the Tahoe-LAFS node does not answer: serving/);
  assert.doesNotMatch(again.log(), /Tahoe-LAFS node ready/);
  const f = await RawFtp.open(again.ftpPort!);
  await f.login(ALICE);
  ftpFailed('MKD before the node is up', await f.cmd('MKD early'));
  await fake.restart();
  await waitLog(/Tahoe-LAFS node ready/);
  assert.equal((await f.cmd('MKD early')).code, 257);
  f.close();
  assert.equal(await again.stop('SIGTERM'), 0);
});
