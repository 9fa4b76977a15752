// What an authenticated client may do with channels: the sftp subsystem and `df -P -k /` only.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, connect, type AddressInfo } from 'node:net';
import { spawn } from 'node:child_process';
import { formatDf, REFUSAL } from '../../src/ssh/index.js';
import { BaseAgent, DISK, KEY_USER, PASSWORD, PASSWORD_USER, clientConnect, delay, run, sha256, sshKeyArgs, waitFor, withServer, type SftpRecord, type TestServer } from './ssh-harness.js';

const quiet = ['-o', 'LogLevel=ERROR'];

test('df -P -k / answers with the store figures in df format, CRLF lines, exit status 0', () =>
  withServer(async (s) => {
    const r = await run('ssh', sshKeyArgs(s, [...quiet, '127.0.0.1', 'df -P -k /']));
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.toString(), formatDf(DISK));
    assert.equal(r.stdout.toString(), 'Filesystem         1024-blocks      Used Available Capacity Mounted on\r\ntahoe                  1048576    262144    786432      25% /\r\n');
    assert.equal(r.stderr, '');
  }));

test('df reports a failing disk-usage source as an error, not as made-up figures', () =>
  withServer(
    async (s) => {
      const r = await run('ssh', sshKeyArgs(s, [...quiet, '127.0.0.1', 'df -P -k /']));
      assert.equal(r.code, 1);
      assert.equal(r.stdout.length, 0);
      assert.match(r.stderr, /df: cannot read the disk usage/);
    },
    { diskUsage: async () => Promise.reject(new Error('store offline')) },
  ));

test('other commands and shells get the one-line refusal on stderr and exit status 1', () =>
  withServer(async (s) => {
    for (const extra of [['ls -la'], ['scp -t /tmp'], ['df'], ['-T'], ['-tt']]) {
      const r = await run('ssh', sshKeyArgs(s, [...quiet, ...(extra[0]!.startsWith('-') ? [extra[0]!, '127.0.0.1'] : ['127.0.0.1', extra[0]!])]));
      assert.equal(r.code, 1, `${extra}: ${r.stderr}`);
      assert.equal(r.stdout.length, 0, extra.join(' '));
      assert.equal(r.stderr, REFUSAL, extra.join(' '));
    }
    assert.equal(s.logger.with('ssh exec refused').length, 3);
    assert.equal(s.logger.with('ssh shell refused').length, 2);
    assert.match(REFUSAL, /^This server supports only the SFTP protocol\.[^\r\n]*\r\n$/);
  }));

test('a pty request and sent environment do not break df (sshfs and OpenSSH defaults)', () =>
  withServer(async (s) => {
    const r = await run('ssh', sshKeyArgs(s, [...quiet, '-tt', '-o', 'SendEnv=LANG LC_*', '127.0.0.1', 'df -P -k /']), {
      env: { ...process.env, LANG: 'C.UTF-8', LC_ALL: 'C.UTF-8' },
    });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout.toString(), /1024-blocks/);
  }));

test('subsystems other than sftp are refused', () =>
  withServer(async (s) => {
    for (const name of ['foo', 'SFTP', 'sftp ']) {
      const r = await run('ssh', sshKeyArgs(s, [...quiet, '-s', '127.0.0.1', name]));
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /subsystem request failed/);
    }
    assert.equal(s.sftp.length, 0);
    assert.equal(s.logger.with('ssh subsystem refused').length, 3);
  }));

test('the sftp subsystem carries bytes both ways, and several sessions share one connection', () =>
  withServer(async (s) => {
    const c = await clientConnect({ port: s.port, username: KEY_USER, privateKey: s.userKey.privateKey });
    try {
      const one = (payload: Buffer) =>
        new Promise<string>((resolve, reject) => {
          c.subsys('sftp', (err, stream) => {
            if (err) return reject(err);
            const out: Buffer[] = [];
            stream.on('data', (d: Buffer) => out.push(d));
            stream.on('close', () => resolve(Buffer.concat(out).toString()));
            stream.end(payload);
          });
        });
      const payloads = [Buffer.alloc(0), Buffer.from('hello'), Buffer.alloc(3 * 1024 * 1024, 7)];
      const answers = await Promise.all(payloads.map(one));
      assert.deepEqual(answers, payloads.map((p) => `${p.length} ${sha256(p)}\n`));
      assert.equal(new Set(s.sftp.map((r) => r.info.connectionId)).size, 1);
      const download = await new Promise<Buffer>((resolve, reject) => {
        c.subsys('sftp', (err, stream) => {
          if (err) return reject(err);
          const out: Buffer[] = [];
          stream.on('data', (d: Buffer) => out.push(d));
          stream.on('close', () => resolve(Buffer.concat(out)));
          stream.write('GET 5000000\n');
        });
      });
      assert.equal(download.length, 5_000_000);
      assert.equal(download[65536 * 3], 3);
    } finally {
      c.end();
    }
  }));

/**
 * Sends `payload` on a new sftp channel while `stall` holds its server side back; once nothing
 * more arrives, takes `measure`, lets go with `unstall`, and returns that and the handler's
 * answer (`<count> <sha256>` of everything it got).
 */
async function sendWhileStalled(
  s: TestServer,
  payload: Buffer,
  hooks: { stall(r: SftpRecord): void; measure(r: SftpRecord): number; unstall(r: SftpRecord): void },
): Promise<{ stalled: number; answer: string }> {
  const c = await clientConnect({ port: s.port, username: KEY_USER, privateKey: s.userKey.privateKey });
  try {
    let stalled = -1;
    let checked: Promise<void> | undefined;
    const answer = await new Promise<string>((resolve, reject) => {
      c.subsys('sftp', (err, stream) => {
        if (err) return reject(err);
        const out: Buffer[] = [];
        stream.on('data', (d: Buffer) => out.push(d));
        stream.on('close', () => resolve(Buffer.concat(out).toString()));
        checked = (async () => {
          await waitFor('the server side of the channel', () => s.sftp.length === 1);
          const record = s.sftp[0]!;
          hooks.stall(record);
          stream.end(payload);
          while (hooks.measure(record) !== stalled) {
            stalled = hooks.measure(record);
            await delay(300);
          }
          hooks.unstall(record);
        })();
        checked.catch(reject);
      });
    });
    await checked;
    return { stalled, answer };
  } finally {
    c.end();
  }
}

test('the window gate: held, a client can send only the window it already had, and the stream keeps flowing; released, the rest arrives', () =>
  withServer(async (s) => {
    const payload = Buffer.alloc(16 * 1024 * 1024, 3);
    const gate = (r: SftpRecord) => {
      if (!r.info.windowGate) throw new Error('this ssh2 channel cannot be gated');
      return r.info.windowGate;
    };
    // The handler reads every chunk at once (the stream flows): only the SSH window (2 MiB,
    // granted at open) limits what arrives while the gate is held.
    const { stalled, answer } = await sendWhileStalled(s, payload, {
      stall: (r) => gate(r).hold(),
      measure: (r) => r.bytes,
      unstall: (r) => gate(r).release(),
    });
    assert.ok(stalled > 0 && stalled <= 2 * 1024 * 1024, `${stalled} bytes arrived while held`);
    assert.equal(answer, `${payload.length} ${sha256(payload)}\n`);
  }));

// Found on 2026-12-05, in the window pool's first version: it granted window whenever a
// channel's window ran low, whether or not anyone read the stream, so a paused stream buffered
// everything a client sent (24 MiB of 24 here). ssh2 stops at the stream's high-water mark
// (2 MiB); so do we now.
test('a channel whose stream nobody reads stops getting window: at most its buffer and one window arrive; read again, the rest arrives', () =>
  withServer(async (s) => {
    const payload = Buffer.alloc(24 * 1024 * 1024, 5);
    const { stalled, answer } = await sendWhileStalled(s, payload, {
      stall: (r) => r.channel.pause(),
      measure: (r) => r.channel.readableLength,
      unstall: (r) => r.channel.resume(),
    });
    assert.ok(stalled > 0 && stalled <= 4 * 1024 * 1024 + 64 * 1024, `${stalled} bytes buffered by a stream nobody read`);
    assert.equal(answer, `${payload.length} ${sha256(payload)}\n`);
  }));

test('x11 and agent forwarding requests are refused; a pty request is accepted', () =>
  withServer(async (s) => {
    // An agent is needed for ssh2 to send auth-agent-req; this one is never asked to sign.
    const agent = new (class extends BaseAgent {
      override getIdentities(cb: (err: Error | undefined, keys?: never[]) => void) {
        cb(undefined, []);
      }
      override sign(_k: unknown, _d: Buffer, _o: unknown, cb?: (err: Error | undefined) => void) {
        cb?.(new Error('not used'));
      }
    })();
    const withAgent = await clientConnect({
      port: s.port,
      username: KEY_USER,
      privateKey: s.userKey.privateKey,
      agent,
      agentForward: true,
      authHandler: ['publickey'] as never,
    });
    try {
      const agentFwd = await new Promise<Error | undefined>((resolve) => withAgent.exec('df -P -k /', (err) => resolve(err)));
      assert.match(String(agentFwd), /Unable to request agent forwarding/);
    } finally {
      withAgent.end();
    }
    const c = await clientConnect({ port: s.port, username: KEY_USER, privateKey: s.userKey.privateKey });
    try {
      const x11 = await new Promise<Error | undefined>((resolve) => c.exec('df -P -k /', { x11: true }, (err) => resolve(err)));
      assert.match(String(x11), /Unable to request X11/);
      const pty = await new Promise<string>((resolve, reject) =>
        c.exec('df -P -k /', { pty: true }, (err, stream) => {
          if (err) return reject(err);
          const out: Buffer[] = [];
          stream.on('data', (d: Buffer) => out.push(d));
          stream.on('close', () => resolve(Buffer.concat(out).toString()));
        }),
      );
      assert.match(pty, /1024-blocks/);
    } finally {
      c.end();
    }
  }));

test('ssh -W, -L and -R forwarding are refused and the target is never contacted', () =>
  withServer(async (s) => {
    // A target that must never be reached through the server.
    let reached = 0;
    const target = createServer((sock) => {
      reached += 1;
      sock.destroy();
    });
    await new Promise<void>((r) => target.listen(0, '127.0.0.1', r));
    const targetPort = (target.address() as AddressInfo).port;
    try {
      const w = await run('ssh', sshKeyArgs(s, [...quiet, '-W', `127.0.0.1:${targetPort}`, '127.0.0.1']));
      assert.equal(w.code, 255);
      assert.match(w.stderr, /stdio forwarding failed|administratively prohibited|open failed/);

      const r = await run('ssh', sshKeyArgs(s, [...quiet, '-o', 'ExitOnForwardFailure=yes', '-N', '-R', `0:127.0.0.1:${targetPort}`, '127.0.0.1']), { timeoutMs: 15_000 });
      assert.equal(r.code, 255);
      assert.match(r.stderr, /remote port forwarding failed/);

      // -L: ssh listens locally; a connection through it must be refused by the server.
      const lport = await freePort();
      const child = spawn('ssh', sshKeyArgs(s, ['-v', '-N', '-L', `127.0.0.1:${lport}:127.0.0.1:${targetPort}`, '127.0.0.1']));
      let err = '';
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      try {
        await waitFor('ssh -L ready', () => err.includes('Entering interactive session') || err.includes('pledge: network'), 10_000);
        const closedQuickly = await new Promise<boolean>((resolve) => {
          const sock = connect(lport, '127.0.0.1');
          const timer = setTimeout(() => {
            sock.destroy();
            resolve(false);
          }, 5000);
          sock.on('error', () => {});
          sock.on('close', () => {
            clearTimeout(timer);
            resolve(true);
          });
        });
        assert.ok(closedQuickly);
        await waitFor('ssh -L refusal', () => /open failed|administratively prohibited/.test(err), 5000);
      } finally {
        child.kill();
      }
      assert.equal(reached, 0, 'the forwarding target was never contacted');
      assert.ok(s.logger.with('ssh port forwarding refused').length >= 2);
      assert.ok(s.logger.with('ssh global request refused').some((e) => e.obj.request === 'tcpip-forward'));
    } finally {
      target.close();
    }
  }));

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

// Found on 2026-12-07: every refused forwarding, global request, exec and shell was a log line,
// so one client repeating them as fast as it could grew the log as fast (a disk to fill). Now the
// first of each kind on a connection is logged and the others counted in its closing line.
test('refusals repeated on one connection are logged once each and counted when it closes', () =>
  withServer(async (s) => {
    const c = await clientConnect({ port: s.port, username: PASSWORD_USER, password: PASSWORD });
    const closed = new Promise<void>((resolve) => c.once('close', () => resolve()));
    const asked = (fn: (done: (err: Error | undefined) => void) => void) => new Promise<Error | undefined>((resolve) => fn(resolve));
    const [forwards, opens, execs] = [300, 200, 20];
    const results = await Promise.all([
      ...Array.from({ length: forwards }, () => asked((done) => c.forwardIn('127.0.0.1', 0, (err) => done(err)))),
      ...Array.from({ length: opens }, () => asked((done) => c.forwardOut('127.0.0.1', 1, '127.0.0.1', 22, (err) => done(err)))),
    ]);
    assert.ok(results.every((err) => err instanceof Error), 'every forwarding refused');
    for (let i = 0; i < execs; i++) {
      const code = await new Promise<number>((resolve, reject) =>
        c.exec(`echo ${i}`, (err, stream) => (err ? reject(err) : stream.on('exit', (n: number) => resolve(n)).resume().stderr.resume())),
      );
      assert.equal(code, 1);
    }
    c.end();
    await closed;
    await waitFor('the closing line', () => s.logger.with('ssh connection closed').length > 0, 5000);
    assert.equal(s.logger.with('ssh global request refused').length, 1);
    assert.equal(s.logger.with('ssh port forwarding refused').length, 1);
    assert.equal(s.logger.with('ssh exec refused').length, 1);
    assert.deepEqual(s.logger.with('ssh connection closed')[0]!.obj.refused, {
      'ssh global request refused': forwards,
      'ssh port forwarding refused': opens,
      'ssh exec refused': execs,
    });
  }));

test('one connection holds at most 10 sessions at a time', () =>
  withServer(async (s) => {
    const c = await clientConnect({ port: s.port, username: KEY_USER, privateKey: s.userKey.privateKey });
    try {
      const open = () =>
        new Promise<import('ssh2').ClientChannel>((resolve, reject) => c.subsys('sftp', (err, stream) => (err ? reject(err) : resolve(stream))));
      const streams = [];
      for (let i = 0; i < 10; i++) streams.push(await open());
      await assert.rejects(open(), /Channel open failure/);
      // Closing one frees its slot.
      const first = streams.shift()!;
      const gone = new Promise((r) => first.once('close', r));
      first.resume(); // ssh2 emits 'close' only once the readable side has been consumed
      first.end();
      await gone;
      await waitFor('ten sessions', () => s.sftp.length === 10, 5000);
      streams.push(await open());
      for (const st of streams) st.end();
    } finally {
      c.end();
    }
  }));
