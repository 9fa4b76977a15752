// The FTP frontend's defences: login limits and timing, the defender, read-only and no-write
// sessions (nothing changes), path traversal on every path-taking command, FTP bounce, passive
// port stealing, and the passive port range.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { readFileSync } from 'node:fs';
import { parsePath, type VfsSession } from '../../src/vfs/index.js';
import { ALICE, KEYONLY, READER, RawFtp, dataConnect, delay, startHarness, type Harness, type Reply, upload } from './ftp-harness.js';
import { waitFor } from '../helpers/wait.js';

const h: Harness = await startHarness();
const P = (p: string) => parsePath(p);

async function transfer(c: RawFtp, cmd: string): Promise<{ opening: Reply; data: Buffer; done: Reply }> {
  const port = await c.epsv();
  const d = await dataConnect(port);
  const opening = await c.cmd(cmd);
  if (opening.code !== 150) {
    d.sock.destroy();
    return { opening, data: Buffer.alloc(0), done: opening };
  }
  const data = await d.received;
  return { opening, data, done: await c.read() };
}

/** Everything visible from a root: names, kinds, sizes, times, identities, no-write, recursively. */
async function snapshot(s: VfsSession, path = '/', depth = 0): Promise<string[]> {
  const out: string[] = [];
  for (const e of (await s.list(P(path))).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const a = e.attrs;
    out.push(`${path}${e.name} ${a.kind} ${a.size} ${a.mtime} ${a.unique} ${a.noWrite}`);
    if (a.kind === 'dir' && e.name !== 'loop' && depth < 3) out.push(...(await snapshot(s, `${path}${e.name}/`, depth + 1)));
  }
  return out;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

test('login: wrong password and unknown user get the same reply and take the same time', async () => {
  const c = await RawFtp.open(h.port);
  const timeOf = async (user: string, password: string) => {
    assert.equal((await c.cmd(`USER ${user}`)).code, 331, 'USER never tells whether the user exists');
    const t0 = process.hrtime.bigint();
    const r = await c.cmd(`PASS ${password}`);
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    assert.deepEqual([r.code, r.text], [530, 'Login incorrect.']);
    return ms;
  };
  const wrong: number[] = [];
  const unknown: number[] = [];
  for (let i = 0; i < 2; i++) {
    wrong.push(await timeOf(ALICE.user, 'wrong'));
    unknown.push(await timeOf('nobody-here', 'wrong'));
  }
  c.close();
  const c2 = await RawFtp.open(h.port);
  for (let i = 0; i < 2; i++) {
    wrong.push(await (async () => {
      assert.equal((await c2.cmd(`USER ${ALICE.user}`)).code, 331);
      const t0 = process.hrtime.bigint();
      assert.equal((await c2.cmd('PASS nope')).code, 530);
      return Number(process.hrtime.bigint() - t0) / 1e6;
    })());
    unknown.push(await (async () => {
      assert.equal((await c2.cmd('USER ghost')).code, 331);
      const t0 = process.hrtime.bigint();
      assert.equal((await c2.cmd('PASS nope')).code, 530);
      return Number(process.hrtime.bigint() - t0) / 1e6;
    })());
  }
  c2.close();
  const [w, u] = [median(wrong), median(unknown)];
  assert.ok(w > 10 && u > 10, `both pay for a hash: ${w} / ${u} ms`);
  assert.ok(u / w > 0.6 && u / w < 1.6, `unknown ${u} ms vs wrong ${w} ms`);
});

test('login: six failures close the connection; the defender hears each; key-only accounts cannot use FTP', async () => {
  const before = h.defender.failures.length;
  const c = await RawFtp.open(h.port);
  assert.equal((await c.cmd(`USER ${KEYONLY.user}`)).code, 331);
  assert.equal((await c.cmd('PASS ssh-ed25519')).code, 530, 'a key-only account has no password');
  for (let i = 2; i <= 5; i++) {
    assert.equal((await c.cmd(`USER ${ALICE.user}`)).code, 331);
    assert.equal((await c.cmd(`PASS wrong${i}`)).code, 530);
  }
  assert.equal((await c.cmd(`USER ${ALICE.user}`)).code, 331);
  const last = await c.cmd(`PASS ${ALICE.password}x`);
  assert.equal(last.code, 421);
  await delay(100);
  assert.ok(c.closed, 'disconnected after the sixth failure');
  const reasons = h.defender.failures.slice(before).map((f) => `${f.addr} ${f.reason}`);
  assert.deepEqual(reasons, [...Array(6).fill('127.0.0.1 bad-password'), '127.0.0.1 too-many-attempts']);
  assert.ok(!h.logger.text().includes('wrong3'), 'passwords never reach the log');
});

test('login: USER/PASS order, already logged in, and the defender sees every connection end once', async () => {
  const releasesBefore = h.defender.releases.length;
  const c = await RawFtp.open(h.port);
  assert.equal((await c.cmd(`PASS ${ALICE.password}`)).code, 503);
  await c.login();
  assert.equal((await c.cmd('USER bob')).code, 503);
  assert.equal((await c.cmd('PASS x')).code, 503);
  assert.equal((await c.cmd('QUIT')).code, 221);
  const c2 = await RawFtp.open(h.port);
  assert.equal((await c2.cmd('QUIT')).code, 221);
  for (let i = 0; i < 50 && h.defender.releases.length < releasesBefore + 2; i++) await delay(20);
  assert.deepEqual(h.defender.releases.slice(releasesBefore), [
    { addr: '127.0.0.1', authenticated: true },
    { addr: '127.0.0.1', authenticated: false },
  ]);
});

test('login grace time: no login in time is a 421 and a grace-timeout failure', async () => {
  const h2 = await startHarness({ limits: { loginGraceMs: 300 } });
  const c = await RawFtp.open(h2.port);
  assert.equal((await c.cmd('USER alice')).code, 331);
  const r = await c.read(3000);
  assert.equal(r.code, 421);
  await delay(100);
  assert.ok(c.closed);
  assert.deepEqual(h2.defender.failures.map((f) => f.reason), ['grace-timeout']);
});

test('a banned address gets 421 before any work', async () => {
  const h2 = await startHarness();
  h2.defender.admitAll = false;
  const c = await RawFtp.connect(h2.port);
  const r = await c.read();
  assert.equal(r.code, 421);
  await delay(100);
  assert.ok(c.closed);
  assert.deepEqual(h2.defender.admits, ['127.0.0.1']);
  assert.equal(h2.defender.releases.length, 0, 'never admitted, never released');
});

test('a read-only root refuses every change with 550 and nothing changes', async () => {
  const before = await snapshot(h.check);
  const c = await RawFtp.open(h.port);
  await c.login(READER);
  const refusals: [string, () => Promise<number>][] = [
    ['STOR new', async () => (await upload(c, 'STOR new', Buffer.from('x'))).opening.code],
    ['STOR small', async () => (await upload(c, 'STOR small', Buffer.from('x'))).opening.code],
    ['STOR mutable', async () => (await upload(c, 'STOR mutable', Buffer.from('x'))).opening.code],
    ['APPE small', async () => (await upload(c, 'APPE small', Buffer.from('x'))).opening.code],
    ['REST+STOR small', async () => {
      assert.equal((await c.cmd('REST 2')).code, 350);
      return (await upload(c, 'STOR small', Buffer.from('x'))).opening.code;
    }],
    ['STOU', async () => (await upload(c, 'STOU', Buffer.from('x'))).opening.code],
    ['DELE small', async () => (await c.cmd('DELE small')).code],
    ['DELE unknown', async () => (await c.cmd('DELE unknown')).code],
    ['MKD d', async () => (await c.cmd('MKD d')).code],
    ['RMD empty_lit_dir', async () => (await c.cmd('RMD empty_lit_dir')).code],
    ['RNTO', async () => {
      assert.equal((await c.cmd('RNFR small')).code, 350);
      return (await c.cmd('RNTO moved')).code;
    }],
    ['SITE CHMOD', async () => (await c.cmd('SITE CHMOD 444 small')).code],
    ['SITE CHMOD dir', async () => (await c.cmd('SITE CHMOD 555 loop')).code],
    ['MFMT', async () => (await c.cmd('MFMT 20000101000000 small')).code],
  ];
  for (const [what, run] of refusals) assert.equal(await run(), 550, what);
  // Reading still works.
  assert.equal((await transfer(c, 'RETR small')).data.toString(), '0123456789');
  assert.match((await c.cmd('MLST small')).lines[1]!, /perm=r;/);
  c.close();
  assert.deepEqual(await snapshot(h.check), before);
  assert.equal(h.openFiles.size, 0);
});

test('no-write (chmod 444) blocks writing the file, not unlinking or replacing it', async () => {
  const c = await RawFtp.open(h.port);
  await c.login();
  assert.equal((await c.cmd('MKD nw')).code, 257);
  assert.equal((await upload(c, 'STOR nw/f', Buffer.from('keep'))).done.code, 226);
  assert.equal((await c.cmd('SITE CHMOD 444 nw/f')).code, 200);
  assert.equal((await upload(c, 'STOR nw/f', Buffer.from('x'))).opening.code, 550);
  assert.equal((await upload(c, 'APPE nw/f', Buffer.from('x'))).opening.code, 550);
  assert.equal((await c.cmd('REST 1')).code, 350);
  assert.equal((await upload(c, 'STOR nw/f', Buffer.from('x'))).opening.code, 550);
  assert.equal((await c.cmd('MFMT 20000101000000 nw/f')).code, 213, 'times are link metadata, still settable');
  assert.equal((await transfer(c, 'RETR nw/f')).data.toString(), 'keep');
  assert.equal((await upload(c, 'STOR nw/g', Buffer.from('other'))).done.code, 226);
  assert.equal((await c.cmd('RNFR nw/g')).code, 350);
  assert.equal((await c.cmd('RNTO nw/f')).code, 250, 'replacing a no-write link is allowed (Tahoe)');
  assert.equal((await transfer(c, 'RETR nw/f')).data.toString(), 'other');
  assert.equal((await c.cmd('SITE CHMOD 444 nw/f')).code, 200);
  assert.equal((await c.cmd('DELE nw/f')).code, 250, 'unlinking a no-write link is allowed');
  assert.equal((await c.cmd('RMD nw')).code, 250);
  c.close();
});

test('traversal matrix: every path-taking command stays inside the root', async () => {
  const c = await RawFtp.open(h.port);
  await c.login();
  assert.equal((await c.cmd('CWD tiny_lit_dir')).code, 250, 'start below the root');
  const variants = ['../../tx', '/../tx', '..\\..\\tx', '\\/..\\/..\\/tx', 'a/../../../tx', '//tx', '../.././tx/.', '/../../tx/x/..'];
  for (const v of variants) {
    const mkd = await c.cmd(`MKD ${v}`);
    assert.deepEqual([mkd.code, mkd.text], [257, '"/tx" created'], `MKD ${v}`);
    assert.equal((await c.cmd(`CWD ${v}`)).code, 250, `CWD ${v}`);
    assert.equal((await c.cmd('PWD')).text, '"/tx" is the current directory', `CWD ${v}`);
    assert.equal((await c.cmd('CWD /tiny_lit_dir')).code, 250);
    assert.match((await c.cmd(`MLST ${v}`)).lines[1]!, / \/tx$/, `MLST ${v}`);
    assert.equal((await c.cmd(`SITE CHMOD 777 ${v}`)).code, 200, `SITE CHMOD ${v}`);
    const f = `${v}/../tx-file`;
    assert.equal((await upload(c, `STOR ${f}`, Buffer.from(v))).done.code, 226, `STOR ${f}`);
    assert.equal((await h.check.open(P('/tx-file'), { read: true }).then(async (fh) => {
      const b = await fh.read(0, 100);
      await h.check.closeFile(fh);
      return b.toString();
    })), v, `landed at /tx-file: ${f}`);
    assert.equal((await upload(c, `APPE ${f}`, Buffer.from('+'))).done.code, 226, `APPE ${f}`);
    assert.equal((await c.cmd(`SIZE ${f}`)).text, String(Buffer.byteLength(v) + 1), `SIZE ${f}`);
    const stou = await upload(c, `STOU ${f}`, Buffer.from('u'));
    assert.deepEqual([stou.opening.text, stou.done.code], ['FILE: tx-file.1', 226], `STOU ${f}`);
    assert.equal((await c.cmd('DELE /tx-file.1')).code, 250);
    assert.equal((await c.cmd(`MDTM ${f}`)).code, 213, `MDTM ${f}`);
    assert.equal((await c.cmd(`MFMT 20010101000000 ${f}`)).code, 213, `MFMT ${f}`);
    assert.equal((await transfer(c, `RETR ${f}`)).data.toString(), `${v}+`, `RETR ${f}`);
    assert.equal((await transfer(c, `LIST ${v}`)).done.code, 226, `LIST ${v}`);
    assert.equal((await transfer(c, `NLST ${f}`)).data.toString(), 'tx-file\r\n', `NLST ${f}`);
    assert.equal((await transfer(c, `MLSD ${v}`)).done.code, 226, `MLSD ${v}`);
    assert.equal((await c.cmd(`STAT ${f}`)).code, 213, `STAT ${f}`);
    assert.equal((await c.cmd(`RNFR ${f}`)).code, 350, `RNFR ${f}`);
    assert.equal((await c.cmd(`RNTO ${v}/../tx-renamed`)).code, 250, `RNTO ${v}`);
    assert.ok(await h.check.attrs(P('/tx-renamed')), `renamed inside the root: ${v}`);
    assert.equal((await c.cmd(`DELE ${v}/../tx-renamed`)).code, 250, `DELE ${v}`);
    assert.equal((await c.cmd(`RMD ${v}`)).code, 250, `RMD ${v}`);
  }
  assert.equal((await c.cmd('CWD ../../../../..')).code, 250);
  assert.equal((await c.cmd('PWD')).text, '"/" is the current directory');
  assert.equal((await c.cmd('CDUP')).code, 250);
  assert.equal((await c.cmd('PWD')).text, '"/" is the current directory');
  // A read-only account cannot write through a clamped path either.
  const r = await RawFtp.open(h.port);
  await r.login(READER);
  for (const v of variants) assert.equal((await r.cmd(`MKD ${v}`)).code, 550, `read-only MKD ${v}`);
  r.close();
  c.close();
});

async function listenOn(host: string, port = 0): Promise<{ server: Server; port: number; connections: number }> {
  const state = { server: createServer(), port: 0, connections: 0 };
  state.server.on('connection', (s) => {
    state.connections++;
    s.destroy();
  });
  await new Promise<void>((resolve, reject) => {
    state.server.once('error', reject);
    state.server.listen(port, host, resolve);
  });
  state.port = (state.server.address() as { port: number }).port;
  return state;
}

test('FTP bounce: PORT and EPRT only to the client itself and ports >= 1024', async () => {
  const victim = await listenOn('127.0.0.2');
  const c = await RawFtp.open(h.port);
  await c.login();
  const p = victim.port;
  assert.equal((await c.cmd(`PORT 127,0,0,2,${p >> 8},${p & 255}`)).code, 500);
  assert.equal((await c.cmd(`EPRT |1|127.0.0.2|${p}|`)).code, 500);
  assert.equal((await c.cmd('PORT 127,0,0,1,0,25')).code, 500, 'privileged port');
  assert.equal((await c.cmd('EPRT |1|127.0.0.1|21|')).code, 500);
  assert.equal((await c.cmd(`EPRT |2|::1|${p}|`)).code, 522, 'protocol mismatch');
  assert.equal((await c.cmd(`EPRT |3|127.0.0.1|${p}|`)).code, 522);
  assert.equal((await c.cmd('PORT 127,0,0,1,300,1')).code, 501);
  assert.equal((await c.cmd('RETR small')).code, 425, 'no refused target was kept');
  await delay(100);
  assert.equal(victim.connections, 0, 'nothing ever connected to the third party');
  victim.server.close();
  c.close();
});

// Found on 2026-12-07: each refused PORT was a log line, so one client repeating it grew the log
// as fast as it could send. Now the first is logged and the others are counted when it leaves.
test('a refused PORT repeated on one connection is logged once and counted in its closing line', async () => {
  const c = await RawFtp.open(h.port);
  await c.login();
  const clientPort = c.sock.localPort;
  const conn = h.logger.entries.find((e) => e.msg === 'ftp connection' && e.obj.clientPort === clientPort)?.obj.conn;
  assert.ok(conn, 'the connection was logged');
  const times = 300;
  for (let i = 0; i < times; i++) assert.equal((await c.cmd(`PORT 127,0,0,2,${40 + (i % 100)},${i % 256}`)).code, 500);
  assert.equal((await c.cmd('QUIT')).code, 221);
  const closing = () => h.logger.entries.find((e) => e.msg === 'ftp disconnected' && e.obj.conn === conn);
  await waitFor('the closing line', () => closing() !== undefined, 5000);
  const ours = h.logger.entries.filter((e) => e.obj.conn === conn && e.msg === 'ftp active-mode target refused');
  assert.equal(ours.length, 1);
  assert.deepEqual(closing()?.obj.refused, { 'ftp active-mode target refused': times });
});

test('PASV stealing: a connection from another address is dropped and the client still transfers', async () => {
  const c = await RawFtp.open(h.port);
  await c.login();
  const port = await c.epsv();
  const thief = await dataConnect(port, { localAddress: '127.0.0.2' });
  const stolen = await thief.received; // the server closes it at once
  assert.equal(stolen.length, 0);
  const d = await dataConnect(port);
  assert.equal((await c.cmd('RETR small')).code, 150);
  assert.equal((await d.received).toString(), '0123456789');
  assert.equal((await c.read()).code, 226);
  assert.ok(h.logger.entries.some((e) => e.msg === 'ftp data connection from a foreign address dropped' && e.obj.intruder === '127.0.0.2'));
  // One connection per PASV: a second one, even from the client's address, is dropped.
  const port2 = await c.epsv();
  const first = await dataConnect(port2);
  await delay(50);
  const second = await dataConnect(port2).catch(() => undefined);
  if (second) assert.equal((await second.received).length, 0);
  assert.equal((await c.cmd('NLST tiny_lit_dir')).code, 150);
  assert.equal((await first.received).toString(), 'short\r\n');
  assert.equal((await c.read()).code, 226);
  c.close();
});

test('the passive port range: every free port is tried; a full range is a clean 425', async () => {
  // Find three consecutive free ports and keep two of them busy. Below the kernel's ephemeral
  // range: there, a client connection of another test could take the third port between our
  // probe and the server's use of it (seen once in a CI run: a 425 one EPSV early).
  let base = 0;
  let busy: { server: Server }[] = [];
  for (let attempt = 0; attempt < 50 && !base; attempt++) {
    const b = portBelowEphemeralRange(3);
    const held: { server: Server }[] = [];
    try {
      for (let i = 0; i < 3; i++) held.push(await listenOn('127.0.0.1', b + i));
      base = b;
      busy = held;
    } catch {
      for (const s of held) s.server.close();
    }
  }
  assert.ok(base, 'found a free range');
  await new Promise<void>((r) => busy[2]!.server.close(() => r()));
  const held = [busy[0]!, busy[1]!];
  let c: RawFtp | undefined;
  // Closed whatever fails: a listener left open kept this file running until its timeout.
  try {
    const h2 = await startHarness({ passivePorts: { min: base, max: base + 2 } });
    c = await RawFtp.open(h2.port);
    await c.login();
    for (let i = 0; i < 5; i++) {
      assert.equal(await c.epsv(), base + 2, 'the one free port, wherever the search starts');
    }
    const port = await c.epsv();
    const d = await dataConnect(port);
    assert.equal((await c.cmd('RETR small')).code, 150);
    assert.equal((await d.received).toString(), '0123456789');
    assert.equal((await c.read()).code, 226);
    held.push(await listenOn('127.0.0.1', base + 2));
    await delay(50);
    const full = await c.cmd('EPSV');
    assert.equal(full.code, 425);
    assert.match(full.text, /no free port/);
  } finally {
    for (const s of held) s.server.close();
    c?.close();
  }
});

/** A port with `span` ports after it, all below the kernel's ephemeral (client) port range. */
function portBelowEphemeralRange(span: number): number {
  let low = 32768;
  try {
    low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]) || low;
  } catch {
    // not Linux: the IANA range starts at 49152, and 32768 is below it too
  }
  const min = 10000;
  const max = Math.max(min + 1000, low - span);
  return min + Math.floor(Math.random() * (max - min));
}

