// FTPS: explicit (AUTH TLS) and implicit, with curl, lftp and basic-ftp; data connections that
// do not resume the control connection's TLS session are refused (TLS 1.2 and 1.3); the
// `required` policy; TLS versions, ALPN and renegotiation; command order rules.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Duplex, PassThrough, Readable } from 'node:stream';
import { connect as tlsConnect, type ConnectionOptions, type TLSSocket, type SecureVersion } from 'node:tls';
import { connect } from 'node:net';
import { Client } from 'basic-ftp';
import { pseudoRandom } from '../helpers/data.js';
import { tempDir } from '../helpers/tmp.js';
import { ALICE, HOST, RawFtp, curl, dataConnect, delay, lftp, startHarness, type Harness } from './ftp-harness.js';

const h: Harness = await startHarness({ tls: true, implicit: true });

/** A TLS control connection ready for protected transfers. */
async function secureSession(port: number, maxVersion: SecureVersion): Promise<{ c: RawFtp; ticket: Promise<Buffer> }> {
  const c = await RawFtp.open(port);
  const r = await c.cmd('AUTH TLS');
  assert.equal(r.code, 234);
  const plain = c.sock;
  plain.removeAllListeners('data');
  plain.removeAllListeners('close');
  const secure = await new Promise<TLSSocket>((resolve, reject) => {
    const s = tlsConnect({ socket: plain, rejectUnauthorized: false, maxVersion }, () => resolve(s));
    s.once('error', reject);
  });
  // TLS 1.3 tickets arrive after the handshake; TLS 1.2 has its session at once.
  const ticket = new Promise<Buffer>((resolve) => {
    if (maxVersion === 'TLSv1.2') resolve(secure.getSession()!);
    else secure.once('session', resolve);
  });
  c.sock = secure;
  (c as unknown as { listen(s: TLSSocket): void }).listen(secure);
  await c.login();
  assert.equal((await c.cmd('PBSZ 0')).code, 200);
  assert.equal((await c.cmd('PROT P')).code, 200);
  return { c, ticket };
}

/** Opens a TLS data connection to `port`, offering `session` (or none) and collects what arrives. */
function tlsData(port: number, session: Buffer | undefined, maxVersion: SecureVersion): Promise<{ ok: boolean; reused: boolean; data: Buffer }> {
  return new Promise((resolve) => {
    const raw = connect({ host: HOST, port }, () => {
      const s = tlsConnect({ socket: raw, rejectUnauthorized: false, maxVersion, ...(session ? { session } : {}) });
      const chunks: Buffer[] = [];
      let secure = false;
      let reused = false;
      s.on('secureConnect', () => {
        secure = true;
        reused = s.isSessionReused();
      });
      s.on('data', (d: Buffer) => chunks.push(d));
      s.on('error', () => {});
      s.on('close', () => resolve({ ok: secure && chunks.length > 0, reused, data: Buffer.concat(chunks) }));
    });
    raw.on('error', () => resolve({ ok: false, reused: false, data: Buffer.alloc(0) }));
  });
}

for (const version of ['TLSv1.3', 'TLSv1.2'] as const) {
  test(`${version}: a protected data connection must resume the control session`, async () => {
    const { c, ticket } = await secureSession(h.port, version);
    const session = await ticket;
    // Without the session: refused, with 522 on the control connection.
    let port = await c.epsv();
    let d = tlsData(port, undefined, version);
    assert.equal((await c.cmd('RETR small')).code, 150);
    const refused = await c.read();
    assert.equal(refused.code, 522);
    assert.match(refused.text, /session reuse required.*tls_require_session_reuse/);
    assert.equal((await d).data.length, 0);
    // Another connection's session does not count either.
    const other = await secureSession(h.port, version);
    port = await c.epsv();
    d = tlsData(port, await other.ticket, version);
    assert.equal((await c.cmd('RETR small')).code, 150);
    assert.equal((await c.read()).code, 522, 'a session of another control connection is refused');
    other.c.close();
    // With it: the transfer works.
    port = await c.epsv();
    d = tlsData(port, session, version);
    assert.equal((await c.cmd('RETR small')).code, 150);
    const got = await d;
    assert.ok(got.reused);
    assert.equal(got.data.toString(), '0123456789');
    assert.equal((await c.read()).code, 226);
    c.close();
  });
}

test('tlsRequireSessionReuse = false: data connections that resume nothing are accepted, sessions of other connections resume (TLS 1.3 and 1.2)', async () => {
  const relaxed = await startHarness({ tls: true, tlsRequireSessionReuse: false });
  for (const version of ['TLSv1.3', 'TLSv1.2'] as const) {
    const { c } = await secureSession(relaxed.port, version);
    let port = await c.epsv();
    let d = tlsData(port, undefined, version);
    assert.equal((await c.cmd('RETR small')).code, 150);
    let got = await d;
    assert.equal(got.reused, false);
    assert.equal(got.data.toString(), '0123456789');
    assert.equal((await c.read()).code, 226);
    // rclone resumes whichever session it has last: one of another control connection. It must
    // resume (a full TLS 1.3 handshake would send tickets that an uploading Go client never reads).
    const other = await secureSession(relaxed.port, version);
    port = await c.epsv();
    d = tlsData(port, await other.ticket, version);
    assert.equal((await c.cmd('RETR small')).code, 150);
    got = await d;
    assert.equal(got.reused, true, 'the session of another connection resumed');
    assert.equal(got.data.toString(), '0123456789');
    assert.equal((await c.read()).code, 226);
    other.c.close();
    c.close();
  }
});

/**
 * A TLS client on a data port whose TCP connection the test can end under TLS (no close_notify).
 * Ending the TLS socket sends close_notify and leaves TCP open, as ftplib's unwrap() does: it
 * waits for the server's close_notify before it closes.
 */
async function tlsDataUnder(port: number, session: Buffer, maxVersion: SecureVersion): Promise<{ tls: TLSSocket; tcp: import('node:net').Socket }> {
  const tcp = connect({ host: HOST, port });
  await new Promise<void>((resolve, reject) => tcp.once('connect', resolve).once('error', reject));
  const wire = new Duplex({
    read() {
      tcp.resume();
    },
    write(chunk: Buffer, _enc, cb) {
      tcp.write(chunk, cb);
    },
    final(cb) {
      cb();
    },
  });
  tcp.on('data', (d: Buffer) => {
    if (!wire.push(d)) tcp.pause();
  });
  tcp.on('end', () => wire.push(null));
  tcp.on('error', () => {});
  const tls = tlsConnect({ socket: wire, rejectUnauthorized: false, maxVersion, session });
  tls.on('error', () => {});
  tls.resume();
  return { tls, tcp };
}

for (const version of ['TLSv1.3', 'TLSv1.2'] as const) {
  test(`${version}: a protected upload that ends without TLS close_notify (TCP end or reset) is truncated: 426, nothing linked`, async () => {
    const { c, ticket } = await secureSession(h.port, version);
    const session = await ticket;
    for (const [verb, how] of [['STOR', 'end'], ['APPE', 'end'], ['STOR', 'reset']] as const) {
      const name = `truncated-${version}-${verb}-${how}.bin`;
      const port = await c.epsv();
      const d = tlsDataUnder(port, session, version);
      assert.equal((await c.cmd(`${verb} ${name}`)).code, 150);
      const { tls, tcp } = await d;
      await new Promise<void>((resolve) => tls.once('secureConnect', () => resolve()));
      await new Promise<void>((resolve) => tls.write(pseudoRandom('truncated', 300_000), () => resolve()));
      // FIN, but TLS never said close_notify (a forged FIN looks the same); or a reset.
      if (how === 'end') tcp.end();
      else tcp.resetAndDestroy();
      const done = await c.read();
      assert.equal(done.code, 426, `${verb} ${how}: ${done.text}`);
      if (how === 'end') assert.match(done.text, /close_notify/);
      await assert.rejects(h.content(name), `${verb}: nothing linked`);
      tls.destroy();
    }
    // The same upload ended by close_notify is complete, and the server answers with its own
    // close_notify at once (ftplib's unwrap() waits for it; it came only when the server gave
    // up on the connection 5 s later).
    let port = await c.epsv();
    const d = tlsDataUnder(port, session, version);
    assert.equal((await c.cmd(`STOR complete-${version}.bin`)).code, 150);
    const { tls } = await d;
    const started = Date.now();
    const serverEnded = new Promise<number>((resolve) => tls.once('end', () => resolve(Date.now() - started)));
    tls.end(pseudoRandom('complete', 300_000));
    assert.equal((await c.read()).code, 226);
    assert.ok((await serverEnded) < 2000, 'the server ended its side of the TLS connection');
    tls.destroy();
    assert.deepEqual(await h.content(`complete-${version}.bin`), pseudoRandom('complete', 300_000));
    // So is an empty one whose close_notify follows the handshake at once (rclone's empty file):
    // the server sees the end before it starts reading.
    port = await c.epsv();
    const raw = connect({ host: HOST, port });
    await new Promise<void>((resolve) => raw.once('connect', () => resolve()));
    assert.equal((await c.cmd(`STOR empty-${version}.bin`)).code, 150);
    const empty = tlsConnect({ socket: raw, rejectUnauthorized: false, maxVersion: version, session });
    empty.on('error', () => {});
    empty.resume();
    await new Promise<void>((resolve) => empty.once('secureConnect', () => resolve()));
    empty.end();
    assert.equal((await c.read()).code, 226);
    assert.equal((await h.content(`empty-${version}.bin`)).length, 0);
    c.close();
  });
}

test('curl: explicit FTPS upload, download, listing (TLS 1.3 and 1.2), resume', async () => {
  const refused = () => h.logger.entries.filter((e) => e.msg === 'ftp data connection TLS refused').length;
  const refusedBefore = refused();
  const dir = tempDir('lafsd-ftps-curl-');
  const data = pseudoRandom('ftps', 2_500_000);
  writeFileSync(join(dir, 'up.bin'), data);
  for (const tlsMax of ['1.3', '1.2']) {
    const base = ['--ssl-reqd', '-k', '--tls-max', tlsMax];
    const up = await curl([...base, '-T', join(dir, 'up.bin'), h.url(`/ftps-${tlsMax}.bin`)]);
    assert.equal(up.code, 0, up.stderr);
    assert.deepEqual(await h.content(`ftps-${tlsMax}.bin`), data);
    const down = await curl([...base, h.url(`/ftps-${tlsMax}.bin`)]);
    assert.equal(down.code, 0, down.stderr);
    assert.deepEqual(down.stdout, data);
    const list = await curl([...base, h.url('/')]);
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout.toString(), new RegExp(`-rw-rw-rw- .* 2500000 .* ftps-${tlsMax.replace('.', '\\.')}\\.bin`));
  }
  writeFileSync(join(dir, 'part.bin'), data.subarray(0, 1_000_000));
  const resumed = await curl(['--ssl-reqd', '-k', '-C', '-', '-o', join(dir, 'part.bin'), h.url('/ftps-1.3.bin')]);
  assert.equal(resumed.code, 0, resumed.stderr);
  assert.deepEqual(readFileSync(join(dir, 'part.bin')), data);
  assert.equal(refused(), refusedBefore, 'curl resumed every data session');
});

test('lftp: explicit FTPS with ftp:ssl-force, protected data', async () => {
  const dir = tempDir('lafsd-ftps-lftp-');
  const data = pseudoRandom('lftp-tls', 700_000);
  writeFileSync(join(dir, 'a.bin'), data);
  const refusedBefore = h.logger.entries.filter((e) => e.msg === 'ftp data connection TLS refused').length;
  const r = await lftp(h.port, ALICE, `mkdir -p lftp-tls; put a.bin -o lftp-tls/a.bin; cls -l lftp-tls; get lftp-tls/a.bin -o b.bin`, { tls: true, cwd: dir });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout.toString(), /700000/);
  assert.deepEqual(readFileSync(join(dir, 'b.bin')), data);
  assert.deepEqual(await h.content('lftp-tls/a.bin'), data);
  assert.equal(h.logger.entries.filter((e) => e.msg === 'ftp data connection TLS refused').length, refusedBefore, 'lftp resumed every data session');
  assert.ok(h.logger.entries.some((e) => e.msg === 'ftp login' && e.obj.tls === true));
});

test('basic-ftp: explicit FTPS, many transfers in a row (TLS 1.3 tickets, TLS 1.2 sessions)', async () => {
  for (const maxVersion of ['TLSv1.3', 'TLSv1.2'] as const) {
    const client = new Client(15_000);
    try {
      await client.access({ host: HOST, port: h.port, user: ALICE.user, password: ALICE.password, secure: true, secureOptions: { rejectUnauthorized: false, maxVersion } });
      const dir = `bftp-${maxVersion}`;
      await client.ensureDir(dir);
      for (let i = 0; i < 4; i++) {
        const body = pseudoRandom(`bftp${i}`, 50_000 + i);
        await client.uploadFrom(Readable.from([body]), `f${i}.bin`);
        const sink = new PassThrough();
        const chunks: Buffer[] = [];
        sink.on('data', (d: Buffer) => chunks.push(d));
        await client.downloadTo(sink, `f${i}.bin`);
        assert.deepEqual(Buffer.concat(chunks), body);
      }
      const names = (await client.list()).map((f) => `${f.name}:${f.size}`).sort();
      assert.deepEqual(names, ['f0.bin:50000', 'f1.bin:50001', 'f2.bin:50002', 'f3.bin:50003']);
    } finally {
      client.close();
    }
  }
});

test('implicit FTPS: TLS from the first byte (curl ftps://, basic-ftp implicit)', async () => {
  const port = h.implicitPort!;
  const list = await curl(['-k', `ftps://${ALICE.user}:${encodeURIComponent(ALICE.password)}@${HOST}:${port}/tiny_lit_dir/`]);
  assert.equal(list.code, 0, list.stderr);
  assert.match(list.stdout.toString(), /short\r?\n$/);
  const data = pseudoRandom('implicit', 300_000);
  const up = await curl(['-k', '-T', '-', `ftps://${ALICE.user}:${encodeURIComponent(ALICE.password)}@${HOST}:${port}/implicit.bin`], { input: data });
  assert.equal(up.code, 0, up.stderr);
  assert.deepEqual(await h.content('implicit.bin'), data);
  const client = new Client(15_000);
  try {
    await client.access({ host: HOST, port, user: ALICE.user, password: ALICE.password, secure: 'implicit', secureOptions: { rejectUnauthorized: false } });
    assert.equal(await client.size('implicit.bin'), 300_000);
    const feat = await client.features();
    assert.ok(!feat.has('AUTH') && feat.has('PROT'), 'no AUTH TLS on a connection that is TLS already');
  } finally {
    client.close();
  }
  // Plain FTP on the implicit port gets no greeting.
  const plain = await RawFtp.connect(port);
  plain.write('USER alice\r\n');
  await assert.rejects(plain.read(2000));
  plain.close();
});

test('tls = required: no login and no data in clear', async () => {
  const h2 = await startHarness({ tls: true, tlsMode: 'required' });
  const c = await RawFtp.open(h2.port);
  const feat = await c.cmd('FEAT');
  assert.ok(feat.lines.includes(' AUTH TLS'));
  const user = await c.cmd('USER alice');
  assert.equal(user.code, 530);
  assert.match(user.text, /AUTH TLS/);
  assert.equal((await c.cmd(`PASS ${ALICE.password}`)).code, 530);
  assert.equal((await c.cmd('LIST')).code, 530);
  await c.startTls();
  await c.login();
  assert.equal((await c.cmd('RETR small')).code, 521, 'no PROT P yet');
  assert.equal((await c.cmd('PBSZ 0')).code, 200);
  assert.equal((await c.cmd('PROT C')).code, 534);
  assert.equal((await c.cmd('LIST')).code, 521);
  assert.equal((await c.cmd('PROT P')).code, 200);
  c.close();
  const clear = await curl([h2.url('/small')]);
  assert.notEqual(clear.code, 0, 'a clear-text client cannot log in');
  const secure = await curl(['--ssl-reqd', '-k', h2.url('/small')]);
  assert.equal(secure.code, 0, secure.stderr);
  assert.equal(secure.stdout.toString(), '0123456789');
  const r = await lftp(h2.port, ALICE, 'cat small', { tls: true });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.toString(), '0123456789');
});

test('a TLS handshake sent right behind AUTH TLS, in the same packet, is not lost', async () => {
  const raw = connect({ host: HOST, port: h.port });
  await new Promise<void>((r) => raw.once('connect', () => r()));
  let inbound = '';
  // The TLS client talks through this duplex: its first bytes (ClientHello) go out glued to AUTH.
  let first = true;
  const wire = new Duplex({
    read() {},
    write(chunk: Buffer, _enc, cb) {
      if (first) {
        first = false;
        raw.write(Buffer.concat([Buffer.from('AUTH TLS\r\n'), chunk]));
      } else {
        raw.write(chunk);
      }
      cb();
    },
  });
  let greeted = false;
  raw.on('data', (d: Buffer) => {
    if (greeted) return void wire.push(d);
    inbound += d.toString('latin1');
    const end = inbound.indexOf('234 ');
    const eol = end < 0 ? -1 : inbound.indexOf('\r\n', end);
    if (eol < 0) return;
    greeted = true;
    const rest = Buffer.from(inbound.slice(eol + 2), 'latin1');
    if (rest.length) wire.push(rest);
  });
  const secure = tlsConnect({ socket: wire, rejectUnauthorized: false });
  await new Promise<void>((resolve, reject) => {
    secure.once('secureConnect', () => resolve());
    secure.once('error', reject);
  });
  assert.match(inbound, /^220 .*\r\n234 AUTH TLS successful\.\r\n/);
  secure.write(`USER ${ALICE.user}\r\n`);
  const answer = await new Promise<string>((resolve) => secure.once('data', (d: Buffer) => resolve(d.toString())));
  assert.equal(answer, '331 Please specify the password.\r\n');
  secure.destroy();
  raw.destroy();
});

test('AUTH, PBSZ, PROT, CCC: order and values', async () => {
  const c = await RawFtp.open(h.port);
  assert.ok((await c.cmd('FEAT')).lines.includes(' AUTH TLS'));
  assert.equal((await c.cmd('PBSZ 0')).code, 503, 'PBSZ before AUTH');
  assert.equal((await c.cmd('PROT P')).code, 503, 'PROT before AUTH');
  assert.equal((await c.cmd('CCC')).code, 533);
  assert.equal((await c.cmd('AUTH GSSAPI')).code, 504);
  await c.startTls();
  assert.equal((await c.cmd('AUTH TLS')).code, 503, 'already TLS');
  assert.equal((await c.cmd('PROT P')).code, 503, 'PROT before PBSZ');
  assert.equal((await c.cmd('PBSZ x')).code, 501);
  assert.equal((await c.cmd('PBSZ 0')).code, 200);
  assert.equal((await c.cmd('PROT S')).code, 536);
  assert.equal((await c.cmd('PROT X')).code, 504);
  assert.equal((await c.cmd('PROT C')).code, 200, 'clear data is allowed when TLS is optional');
  assert.equal((await c.cmd('CCC')).code, 534);
  await c.login();
  const port = await c.epsv();
  const d = await dataConnect(port);
  assert.equal((await c.cmd('RETR small')).code, 150);
  assert.equal((await d.received).toString(), '0123456789', 'PROT C: a clear data connection');
  assert.equal((await c.read()).code, 226);
  c.close();
  const late = await RawFtp.open(h.port);
  await late.login();
  assert.equal((await late.cmd('AUTH TLS')).code, 503, 'AUTH after login');
  late.close();
});

test('TLS policy: no TLS below 1.2, ALPN must allow ftp, no renegotiation', async () => {
  const handshake = (opts: ConnectionOptions) =>
    new Promise<{ ok: boolean; sock?: TLSSocket; err?: string }>((resolve) => {
      const s = tlsConnect({ host: HOST, port: h.implicitPort!, rejectUnauthorized: false, ...opts }, () => resolve({ ok: true, sock: s }));
      s.on('error', (e) => resolve({ ok: false, err: e.message }));
    });
  const old = await handshake({ minVersion: 'TLSv1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0' });
  assert.equal(old.ok, false, 'TLS 1.1 refused');
  assert.match(old.err!, /version|protocol/i);
  const http = await handshake({ ALPNProtocols: ['http/1.1'] });
  assert.equal(http.ok, false, 'ALPN without ftp refused (ALPACA)');
  const ftp = await handshake({ ALPNProtocols: ['http/1.1', 'ftp'] });
  assert.equal(ftp.ok, true);
  assert.equal(ftp.sock!.alpnProtocol, 'ftp');
  ftp.sock!.destroy();
  const tls12 = await handshake({ maxVersion: 'TLSv1.2' });
  assert.equal(tls12.ok, true);
  const s = tls12.sock!;
  const reneg = await new Promise<string>((resolve) => {
    s.on('error', (e) => resolve(e.message));
    s.resume(); // read, so the server's answer is seen
    s.renegotiate({}, (err) => resolve(err ? err.message : 'renegotiated'));
    s.once('close', () => resolve('closed'));
  });
  assert.match(reneg, /no renegotiation|closed/, 'renegotiation refused');
  s.destroy();
  await delay(10);
});

test('without a certificate there is no AUTH TLS', async () => {
  const h2 = await startHarness();
  const c = await RawFtp.open(h2.port);
  assert.ok(!(await c.cmd('FEAT')).lines.some((l) => /AUTH|PBSZ|PROT/.test(l)));
  assert.equal((await c.cmd('AUTH TLS')).code, 504);
  assert.equal((await c.cmd('PBSZ 0')).code, 503);
  c.close();
});
