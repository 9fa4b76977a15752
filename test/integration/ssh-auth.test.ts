// Logins against the real server: OpenSSH `ssh` for keys and passwords (through SSH_ASKPASS),
// ssh2's Client where the CLI cannot express the case (key query without signature, bad
// signatures, counting attempts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  BaseAgent,
  Client,
  KEY_USER,
  PASSWORD,
  PASSWORD_USER,
  clientConnect,
  delay,
  waitFor,
  rawConnect,
  run,
  sha256,
  sshBaseArgs,
  sshKeyArgs,
  utils,
  type TestServer,
  withServer,
} from './ssh-harness.js';
import type { ParsedKey } from 'ssh2';

const logins = (s: TestServer, result: string) => s.logger.with('ssh login').filter((e) => e.obj.result === result);

test('key login with OpenSSH reaches the sftp subsystem with the account and client address', () =>
  withServer(async (s) => {
    const data = Buffer.alloc(300_000, 'x');
    const r = await run('ssh', sshKeyArgs(s, ['-o', 'LogLevel=ERROR', '-s', '127.0.0.1', 'sftp']), { input: data });
    assert.equal(r.stdout.toString(), `${data.length} ${sha256(data)}\n`, r.stderr);
    assert.equal(s.sftp.length, 1);
    const info = s.sftp[0]!.info;
    assert.equal(info.account.username, KEY_USER);
    assert.equal(info.remoteAddress, '127.0.0.1');
    assert.match(info.connectionId, /^[0-9a-f]{12}$/);
    const ok = logins(s, 'ok');
    assert.equal(ok.length, 1);
    assert.deepEqual([ok[0]!.obj.method, ok[0]!.obj.user, ok[0]!.obj.client], ['publickey', KEY_USER, '127.0.0.1']);
    // Nothing secret in the log: no cap, no key material.
    const logText = s.logger.text();
    assert.ok(!logText.includes('URI:DIR2'));
    assert.ok(!logText.includes(s.userKey.key.blob.toString('base64').slice(0, 40)));
    // The client has exited, so the connection closes too; waiting for that (rather than for the
    // release only) keeps the check from racing the close (CI once saw it land first).
    await waitFor('the connection to close', () => s.defender.calls.includes('closed 127.0.0.1'), 5000);
    assert.deepEqual(s.defender.calls.filter((c) => !c.startsWith('failure')), ['admit 127.0.0.1', 'success 127.0.0.1', 'release 127.0.0.1 true', 'closed 127.0.0.1']);
  }));

/** An agent that holds the user's public key but signs as told: error, garbage, or another key. */
class ScriptedAgent extends BaseAgent {
  signCalls = 0;
  constructor(private readonly pub: ParsedKey, private readonly sign_: (data: Buffer) => Buffer | Error) {
    super();
  }
  override getIdentities(cb: (err: Error | undefined, keys?: ParsedKey[]) => void): void {
    cb(undefined, [this.pub]);
  }
  override sign(_pub: ParsedKey, data: Buffer, _opts: unknown, cb?: (err: Error | undefined, sig?: Buffer) => void): void {
    this.signCalls += 1;
    const out = this.sign_(data);
    if (out instanceof Error) cb!(out);
    else cb!(undefined, out);
  }
}

function publicOf(s: TestServer): ParsedKey {
  const k = utils.parseKey(s.userKey.privateKey);
  assert.ok(!(k instanceof Error) && !Array.isArray(k));
  return utils.parseKey(k.getPublicSSH()) as ParsedKey;
}

test('a listed key offered without a signature gets PK_OK but never a session', () =>
  withServer(async (s) => {
    // The agent refuses to sign: the client only ever sends the unsigned query. That the agent
    // was asked at all proves the server answered the query with USERAUTH_PK_OK.
    const agent = new ScriptedAgent(publicOf(s), () => new Error('user refused'));
    await assert.rejects(clientConnect({ port: s.port, username: KEY_USER, agent, authHandler: ['agent'] as never }));
    assert.equal(agent.signCalls, 1);
    assert.equal(s.logger.with('ssh public key acceptable, awaiting signature').length, 1);
    assert.equal(logins(s, 'ok').length, 0);
    assert.equal(s.sftp.length, 0);
    assert.ok(!s.defender.calls.includes('success 127.0.0.1'));
  }));

test('bad signatures are refused: garbage, and a signature by another key', () =>
  withServer(async (s) => {
    const other = utils.parseKey(s.otherKey.privateKey) as ParsedKey;
    for (const sign of [(_d: Buffer) => Buffer.alloc(64, 1), (d: Buffer) => other.sign(d)]) {
      const agent = new ScriptedAgent(publicOf(s), sign);
      await assert.rejects(clientConnect({ port: s.port, username: KEY_USER, agent, authHandler: ['agent'] as never }));
      assert.equal(agent.signCalls, 1);
    }
    assert.equal(logins(s, 'ok').length, 0);
    assert.equal(logins(s, 'refused').filter((e) => e.obj.detail === 'bad signature').length, 2);
  }));

test('wrong key, right key for the wrong user, wrong password and unknown user are refused alike', () =>
  withServer(async (s) => {
    const base = ['-o', 'LogLevel=ERROR', '127.0.0.1', 'df -P -k /'];
    const wrongKey = await run('ssh', sshKeyArgs(s, base, s.otherKey.path));
    const wrongUser = await run('ssh', sshKeyArgs(s, base, s.userKey.path, 'mallory'));
    for (const r of [wrongKey, wrongUser]) {
      assert.equal(r.code, 255);
      assert.match(r.stderr, /Permission denied \(publickey,password,keyboard-interactive\)/);
      assert.equal(r.stdout.length, 0);
    }
    // Passwords: the same failure list for an unknown user as for a known one, and both go
    // all the way to the authenticator (no shortcut that would answer faster).
    const failures: string[][] = [];
    for (const username of [PASSWORD_USER, 'nobody-here']) {
      let methodsAfterFailure: string[] | undefined;
      let tried = false;
      await assert.rejects(
        clientConnect({
          port: s.port,
          username,
          authHandler: ((methodsLeft: string[] | null, _partial: boolean, next: (m: unknown) => void) => {
            if (tried) {
              methodsAfterFailure = methodsLeft ?? undefined;
              return next(false);
            }
            tried = true;
            next({ type: 'password', username, password: 'wrong password' });
          }) as never,
        }),
        /All configured authentication methods failed/,
      );
      failures.push(methodsAfterFailure!);
    }
    assert.deepEqual(failures[0], ['publickey', 'password', 'keyboard-interactive']);
    assert.deepEqual(failures[1], failures[0]);
    assert.deepEqual(
      s.auth.passwordCalls.map((a) => a.username),
      [PASSWORD_USER, 'nobody-here'],
    );
    assert.equal(logins(s, 'ok').length, 0);
    assert.equal(s.sftp.length, 0);
  }));

test('password login works with ssh2 and with OpenSSH through SSH_ASKPASS', () =>
  withServer(async (s) => {
    const c = await clientConnect({ port: s.port, username: PASSWORD_USER, password: PASSWORD });
    c.end();
    const askpass = s.dir.write('askpass.sh', `#!/bin/sh\necho '${PASSWORD}'\n`, 0o700);
    const env = { ...process.env, SSH_ASKPASS: askpass, SSH_ASKPASS_REQUIRE: 'force', DISPLAY: ':0' };
    for (const method of ['password', 'keyboard-interactive']) {
      const r = await run(
        'ssh',
        [...sshBaseArgs(s.port), '-o', 'LogLevel=ERROR', '-o', `PreferredAuthentications=${method}`, '-o', 'NumberOfPasswordPrompts=1', '-l', PASSWORD_USER, '127.0.0.1', 'df -P -k /'],
        { env },
      );
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout.toString(), /^Filesystem +1024-blocks/);
    }
    assert.deepEqual(
      logins(s, 'ok').map((e) => e.obj.method),
      ['password', 'password', 'keyboard-interactive'],
    );
    assert.equal(s.logger.text().includes(PASSWORD), false, 'password must never be logged');
  }));

test('keyboard-interactive asks once for "Password: " without echo', () =>
  withServer(async (s) => {
    const seen: { prompt: string; echo?: boolean }[][] = [];
    const kbd = { port: s.port, username: PASSWORD_USER, tryKeyboard: true, authHandler: ['keyboard-interactive'] as never };
    for (const [answer, ok] of [
      ['nope', false],
      [PASSWORD, true],
    ] as const) {
      const c = new Client();
      c.on('keyboard-interactive', (_n, _i, _l, prompts, finish) => {
        seen.push(prompts.map((p) => ({ prompt: p.prompt, echo: p.echo })));
        finish([answer]);
      });
      const result = await new Promise<boolean>((resolve) => {
        c.once('ready', () => resolve(true));
        c.once('error', () => resolve(false));
        c.connect({ host: '127.0.0.1', ...kbd });
      });
      c.end();
      assert.equal(result, ok);
    }
    assert.deepEqual(seen, [[{ prompt: 'Password: ', echo: false }], [{ prompt: 'Password: ', echo: false }]]);
  }));

test('the sixth failed attempt disconnects; no seventh attempt reaches the authenticator', () =>
  withServer(async (s) => {
    let attempts = 0;
    const c = new Client();
    const closed = new Promise<void>((resolve) => c.once('close', () => resolve()));
    c.on('error', () => {});
    c.connect({
      host: '127.0.0.1',
      port: s.port,
      username: PASSWORD_USER,
      authHandler: ((_m: unknown, _p: unknown, next: (x: unknown) => void) => {
        attempts += 1;
        next(attempts <= 10 ? { type: 'password', username: PASSWORD_USER, password: `guess ${attempts}` } : false);
      }) as never,
    });
    await closed;
    assert.equal(s.auth.passwordCalls.length, 6);
    assert.ok(attempts <= 7, `client got to try ${attempts} times`);
    assert.equal(s.defender.failures.filter((f) => f === 'bad-password').length, 6);
    assert.ok(s.defender.failures.includes('too-many-attempts'));
    assert.equal(s.logger.with('ssh too many authentication failures, disconnecting').length, 1);
    await waitFor('release', () => s.defender.calls.includes('release 127.0.0.1 false'), 5000);
  }));

test('OpenSSH offering several wrong keys is cut off at six failures', () =>
  withServer(async (s) => {
    const keys = Array.from({ length: 8 }, (_, i) => s.dir.keygen(`extra${i}`).path);
    const args = [...sshBaseArgs(s.port), '-o', 'BatchMode=yes', '-o', 'LogLevel=ERROR', ...keys.flatMap((k) => ['-i', k]), '-l', KEY_USER, '127.0.0.1', 'true'];
    const r = await run('ssh', args);
    assert.equal(r.code, 255);
    assert.match(r.stderr, /Too many authentication failures|Connection closed|disconnect/i);
    assert.equal(s.auth.keyCalls.length, 6);
  }));

test('a client that does not log in within the grace time is disconnected', () =>
  withServer(
    async (s) => {
      // One that stops after its banner, and one that sends nothing at all.
      const quiet = await rawConnect(s.port);
      const mute = await rawConnect(s.port);
      quiet.sock.write('SSH-2.0-OpenSSH_9.2p1 test\r\n');
      const [t1, t2] = await Promise.all([quiet.closed, mute.closed]);
      for (const t of [t1, t2]) assert.ok(t >= 900 && t < 5000, `closed after ${t} ms`);
      assert.match(quiet.received().toString('latin1'), /^SSH-2\.0-lafsd\r\n/);
      assert.equal(s.logger.with('ssh login grace time exceeded').length, 2);
      assert.equal(s.defender.failures.filter((f) => f === 'grace-timeout').length, 2);
      // A client that logged in is not affected by the timer.
      const c = await clientConnect({ port: s.port, username: PASSWORD_USER, password: PASSWORD });
      const early = await new Promise<boolean>((resolve) => {
        c.once('close', () => resolve(true));
        setTimeout(() => resolve(false), 1800);
      });
      assert.equal(early, false);
      c.end();
    },
    { limits: { loginGraceMs: 1000 } },
  ));

test('the none method is refused with the list of methods, and is not counted as a failure', () =>
  withServer(async (s) => {
    const lists: (string[] | null)[] = [];
    await assert.rejects(
      clientConnect({
        port: s.port,
        username: KEY_USER,
        authHandler: ((methodsLeft: string[] | null, _p: boolean, next: (x: unknown) => void) => {
          lists.push(methodsLeft);
          next(lists.length <= 3 ? 'none' : false);
        }) as never,
      }),
    );
    assert.deepEqual(lists.slice(1), [
      ['publickey', 'password', 'keyboard-interactive'],
      ['publickey', 'password', 'keyboard-interactive'],
      ['publickey', 'password', 'keyboard-interactive'],
    ]);
    assert.equal(s.defender.failures.filter((f) => f !== 'protocol-error').length, 0);
  }));

test('a connection the defender refuses is closed before the SSH banner', () =>
  withServer(async (s) => {
    s.defender.admitAll = false;
    const c = await rawConnect(s.port);
    const ms = await c.closed;
    assert.equal(c.received().length, 0, 'no banner');
    assert.ok(ms < 1000);
    assert.deepEqual(s.defender.calls, ['admit 127.0.0.1']);
    const r = await run('ssh', sshKeyArgs(s, ['-o', 'LogLevel=ERROR', '127.0.0.1', 'true']));
    assert.equal(r.code, 255);
    assert.match(r.stderr, /closed|reset|banner/i);
    assert.equal(s.logger.with('ssh connection refused by defender').length, 2);
    assert.equal(s.logger.with('ssh handshake').length, 0);
  }));

test('several refused keys before the right one score with the defender once, and the login succeeds', () =>
  withServer(async (s) => {
    const keys = Array.from({ length: 3 }, (_, i) => s.dir.keygen(`spare${i}`).path);
    const args = [...sshBaseArgs(s.port), '-o', 'BatchMode=yes', '-o', 'LogLevel=ERROR', '-o', 'IdentitiesOnly=yes',
      ...keys.flatMap((k) => ['-i', k]), '-i', s.userKey.path, '-s', '-l', KEY_USER, '127.0.0.1', 'sftp'];
    const r = await run('ssh', args, { input: Buffer.from('hi') });
    assert.match(r.stdout.toString(), /^2 /, r.stderr);
    assert.equal(s.auth.keyCalls.length, 5); // three refused keys, then the right one queried and signed
    assert.deepEqual(s.defender.failures, ['bad-key'], 'an agent offering many keys must not look like brute force');
  }));

test('a logged-in connection leaves the unauthenticated pool at login, not when it closes', () =>
  withServer(async (s) => {
    const client = new Client();
    await new Promise<void>((resolve, reject) => {
      client.on('ready', () => resolve()).on('error', reject);
      client.connect({ host: '127.0.0.1', port: s.port, username: PASSWORD_USER, password: PASSWORD });
    });
    await waitFor('release at login', () => s.defender.releases.length === 1, 5000);
    assert.deepEqual(s.defender.releases, [true]);
    client.end();
    await delay(300);
    assert.deepEqual(s.defender.releases, [true], 'released once only');
  }));
