// The transport: which algorithms are offered and negotiated, strict kex, rekeying both ways
// under load, hostile bytes, and shutdown.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { connect } from 'node:net';
import {
  KEY_USER,
  clientConnect,
  pattern,
  rawConnect,
  run,
  sha256,
  sshKeyArgs,
  startTestServer,
  utils,
  waitFor,
  type TestServer,
  withServer,
} from './ssh-harness.js';
import { generateHostKeyPair } from '../../src/ssh/index.js';
import type { ParsedKey } from 'ssh2';

const MiB = 1024 * 1024;

/** The server's KEXINIT lists as `ssh -vv` prints them ("peer server KEXINIT proposal"). */
function serverProposal(stderr: string): Record<string, string> {
  const block = stderr.split('peer server KEXINIT proposal')[1]!.split('first_kex_follows')[0]!;
  const out: Record<string, string> = {};
  for (const m of block.matchAll(/debug2: ([a-zA-Z ]+): (.*)/g)) out[m[1]!.trim()] = m[2]!.trim();
  return out;
}

const handshakes = (s: TestServer) => s.logger.with('ssh handshake').map((e) => e.obj);
const rekeys = (s: TestServer) => s.logger.with('ssh rekey').map((e) => e.obj);

test('OpenSSH negotiates curve25519, ssh-ed25519 and an AEAD cipher with strict kex; nothing weaker is offered', () =>
  withServer(async (s) => {
    const r = await run('ssh', sshKeyArgs(s, ['-vvv', '127.0.0.1', 'df -P -k /']));
    assert.equal(r.code, 0, r.stderr);
    const offer = serverProposal(r.stderr);
    assert.equal(
      offer['KEX algorithms'],
      'curve25519-sha256,curve25519-sha256@libssh.org,ecdh-sha2-nistp256,ecdh-sha2-nistp384,ecdh-sha2-nistp521,' +
        'diffie-hellman-group16-sha512,diffie-hellman-group18-sha512,diffie-hellman-group14-sha256,kex-strict-s-v00@openssh.com',
    );
    assert.equal(offer['host key algorithms'], 'ssh-ed25519');
    const ciphers = 'aes128-gcm@openssh.com,chacha20-poly1305@openssh.com,aes256-gcm@openssh.com,aes128-ctr,aes256-ctr';
    assert.equal(offer['ciphers ctos'], ciphers);
    assert.equal(offer['ciphers stoc'], ciphers);
    const macs = 'hmac-sha2-256-etm@openssh.com,hmac-sha2-512-etm@openssh.com,hmac-sha2-256,hmac-sha2-512';
    assert.equal(offer['MACs ctos'], macs);
    assert.equal(offer['compression ctos'], 'none');
    // Terrapin countermeasure in force (OpenSSH's own words, Debian's 9.2p1 backport).
    assert.match(r.stderr, /will use strict KEX ordering/);
    assert.match(r.stderr, /kex: algorithm: curve25519-sha256\r?\n/);
    assert.match(r.stderr, /kex: host key algorithm: ssh-ed25519/);
    assert.match(r.stderr, /kex: server->client cipher: chacha20-poly1305@openssh.com/);
    assert.match(r.stderr, /Remote protocol version 2.0, remote software version lafsd/);
    assert.deepEqual(
      [handshakes(s)[0]!.kex, handshakes(s)[0]!.cipher, handshakes(s)[0]!.strictKex],
      ['curve25519-sha256', 'chacha20-poly1305@openssh.com', true],
    );
  }));

test('every offered cipher, MAC and kex works; CBC, SHA-1 kex and SHA-1 MACs are refused', () =>
  withServer(async (s) => {
    const ok: string[][] = [
      ['-c', 'aes128-gcm@openssh.com'],
      ['-c', 'aes256-gcm@openssh.com'],
      ['-c', 'aes128-ctr', '-o', 'MACs=hmac-sha2-256-etm@openssh.com'],
      ['-c', 'aes256-ctr', '-o', 'MACs=hmac-sha2-512-etm@openssh.com'],
      ['-c', 'aes128-ctr', '-o', 'MACs=hmac-sha2-256'],
      ['-o', 'KexAlgorithms=ecdh-sha2-nistp256'],
      ['-o', 'KexAlgorithms=ecdh-sha2-nistp521'],
      ['-o', 'KexAlgorithms=diffie-hellman-group14-sha256'],
      ['-o', 'KexAlgorithms=diffie-hellman-group16-sha512'],
      ['-o', 'KexAlgorithms=curve25519-sha256@libssh.org'],
    ];
    for (const opts of ok) {
      const r = await run('ssh', sshKeyArgs(s, ['-o', 'LogLevel=ERROR', ...opts, '127.0.0.1', 'df -P -k /']));
      assert.equal(r.code, 0, `${opts.join(' ')}: ${r.stderr}`);
    }
    const hs = handshakes(s);
    assert.deepEqual(hs.slice(0, 5).map((h) => [h.cipher, h.mac ?? '']), [
      ['aes128-gcm@openssh.com', ''],
      ['aes256-gcm@openssh.com', ''],
      ['aes128-ctr', 'hmac-sha2-256-etm@openssh.com'],
      ['aes256-ctr', 'hmac-sha2-512-etm@openssh.com'],
      ['aes128-ctr', 'hmac-sha2-256'],
    ]);
    assert.deepEqual(hs.slice(5).map((h) => h.kex), [
      'ecdh-sha2-nistp256',
      'ecdh-sha2-nistp521',
      'diffie-hellman-group14-sha256',
      'diffie-hellman-group16-sha512',
      'curve25519-sha256@libssh.org',
    ]);
    const refused: [string[], RegExp][] = [
      [['-c', 'aes128-cbc'], /no matching cipher found/],
      [['-c', 'aes256-cbc'], /no matching cipher found/],
      [['-c', '3des-cbc'], /no matching cipher found/],
      [['-o', 'KexAlgorithms=diffie-hellman-group1-sha1'], /no matching key exchange method found/],
      [['-o', 'KexAlgorithms=diffie-hellman-group14-sha1'], /no matching key exchange method found/],
      [['-o', 'KexAlgorithms=diffie-hellman-group-exchange-sha1'], /no matching key exchange method found/],
      [['-c', 'aes128-ctr', '-o', 'MACs=hmac-sha1'], /no matching MAC found/],
      [['-c', 'aes128-ctr', '-o', 'MACs=hmac-sha1-etm@openssh.com'], /no matching MAC found/],
      [['-o', 'HostKeyAlgorithms=ssh-rsa'], /no matching host key type found/],
    ];
    for (const [opts, why] of refused) {
      const r = await run('ssh', sshKeyArgs(s, [...opts, '127.0.0.1', 'df -P -k /']));
      assert.equal(r.code, 255, opts.join(' '));
      assert.match(r.stderr, why, opts.join(' '));
    }
    assert.equal(handshakes(s).length, ok.length, 'no refused client got a session');
  }));

test('RSA and ECDSA host keys: rsa-sha2-512/256 and ecdsa work, SHA-1 ssh-rsa is never offered', async () => {
  const s0 = await startTestServer();
  const rsa = s0.dir.keygen('host_rsa', 'rsa', ['-b', '3072']).privateKey;
  const ecdsa = s0.dir.keygen('host_ecdsa', 'ecdsa', ['-b', '256']).privateKey;
  await s0.close();
  await withServer(
    async (s) => {
      const verbose = await run('ssh', sshKeyArgs(s, ['-vv', '127.0.0.1', 'df -P -k /']));
      assert.equal(verbose.code, 0, verbose.stderr);
      assert.equal(serverProposal(verbose.stderr)['host key algorithms'], 'ssh-ed25519,ecdsa-sha2-nistp256,rsa-sha2-512,rsa-sha2-256');
      for (const algo of ['rsa-sha2-512', 'rsa-sha2-256', 'ecdsa-sha2-nistp256', 'ssh-ed25519']) {
        const r = await run('ssh', sshKeyArgs(s, ['-v', '-o', `HostKeyAlgorithms=${algo}`, '127.0.0.1', 'df -P -k /']));
        assert.equal(r.code, 0, `${algo}: ${r.stderr}`);
        assert.match(r.stderr, new RegExp(`kex: host key algorithm: ${algo}\\b`));
      }
      const sha1 = await run('ssh', sshKeyArgs(s, ['-o', 'HostKeyAlgorithms=ssh-rsa', '127.0.0.1', 'true']));
      assert.equal(sha1.code, 255);
      assert.match(sha1.stderr, /no matching host key type found/);
    },
    { hostKeys: [rsa, ecdsa, Buffer.from(generateHostKeyPair().privateKey)] },
  );
});

test('a client-initiated rekey every 1 MiB during a 32 MiB upload loses no byte', () =>
  withServer(async (s) => {
    const data = randomBytes(32 * MiB);
    const r = await run('ssh', sshKeyArgs(s, ['-vv', '-o', 'RekeyLimit=1M', '-s', '127.0.0.1', 'sftp']), { input: data, timeoutMs: 120_000 });
    assert.equal(r.stdout.toString(), `${data.length} ${sha256(data)}\n`, r.stderr.slice(-2000));
    const clientKexinits = r.stderr.match(/SSH2_MSG_KEXINIT sent/g)?.length ?? 0;
    assert.ok(clientKexinits >= 16, `client sent ${clientKexinits} KEXINITs`);
    await waitFor('connection end', () => s.logger.with('ssh connection closed').length === 1, 5000);
    const rk = rekeys(s);
    assert.ok(rk.length >= 16, `${rk.length} rekeys`);
    assert.ok(rk.every((e) => e.initiator === 'client' && e.strictKex === true));
  }));

test('the server rekeys after rekeyBytes during an upload and a download, data intact', () =>
  withServer(
    async (s) => {
      const up = randomBytes(32 * MiB);
      const r = await run('ssh', sshKeyArgs(s, ['-vv', '-s', '127.0.0.1', 'sftp']), { input: up, timeoutMs: 120_000 });
      assert.equal(r.stdout.toString(), `${up.length} ${sha256(up)}\n`, r.stderr.slice(-2000));
      // The first KEXINIT is the initial exchange; every further one came from the server.
      const received = r.stderr.match(/SSH2_MSG_KEXINIT received/g)?.length ?? 0;
      assert.ok(received >= 5, `client received ${received} KEXINITs`);
      assert.equal(r.stderr.match(/SSH2_MSG_KEXINIT sent/g)?.length, received, 'client answered each one');

      const n = 32 * MiB;
      const d = await run('ssh', sshKeyArgs(s, ['-vv', '-s', '127.0.0.1', 'sftp']), { input: Buffer.from(`GET ${n}\n`), timeoutMs: 120_000 });
      assert.equal(d.stdout.length, n, d.stderr.slice(-2000));
      assert.equal(sha256(d.stdout), sha256(pattern(n)));
      assert.ok((d.stderr.match(/SSH2_MSG_KEXINIT received/g)?.length ?? 0) >= 5);

      await waitFor('connection ends', () => s.logger.with('ssh connection closed').length === 2, 5000);
      const rk = rekeys(s);
      assert.ok(rk.length >= 10, `${rk.length} rekeys`);
      assert.ok(rk.every((e) => e.initiator === 'server'));
    },
    { limits: { rekeyBytes: 4 * MiB } },
  ));

test('the server rekeys after rekeyIntervalMs and the connection keeps working', () =>
  withServer(
    async (s) => {
      const c = await clientConnect({ port: s.port, username: KEY_USER, privateKey: s.userKey.privateKey });
      try {
        // Listening from 'ready' on, so every 'handshake' here is a rekey.
        let clientRekeys = 0;
        c.on('handshake', () => (clientRekeys += 1));
        await waitFor('two interval rekeys', () => clientRekeys >= 2, 5000);
        const answer = await new Promise<string>((resolve, reject) =>
          c.subsys('sftp', (err, stream) => {
            if (err) return reject(err);
            let out = '';
            stream.on('data', (b: Buffer) => (out += b.toString()));
            stream.on('close', () => resolve(out));
            stream.end('after rekey');
          }),
        );
        assert.equal(answer, `11 ${sha256(Buffer.from('after rekey'))}\n`);
        assert.ok(rekeys(s).every((e) => e.initiator === 'server'));
      } finally {
        c.end();
      }
    },
    { limits: { rekeyIntervalMs: 300 } },
  ));

test('garbage, oversized packets and abrupt disconnects never take the server down', () =>
  withServer(async (s) => {
    const hostile: Buffer[] = [
      randomBytes(64 * 1024),
      Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'),
      Buffer.concat([Buffer.from('SSH-2.0-evil\r\n'), randomBytes(100 * 1024)]),
      Buffer.concat([Buffer.from('SSH-2.0-evil\r\n'), Buffer.from([0xff, 0xff, 0xff, 0xff, 0x00]), randomBytes(64)]),
      Buffer.alloc(1024 * 1024, 'A'), // an endless identification line
      Buffer.from('SSH-1.5-old\r\n'),
    ];
    for (const bytes of hostile) {
      const c = await rawConnect(s.port);
      c.sock.write(bytes);
      const ms = await c.closed;
      assert.ok(ms < 5000, `closed after ${ms} ms`);
    }
    // A client killed in the middle of an upload.
    const child = spawn('ssh', sshKeyArgs(s, ['-o', 'LogLevel=ERROR', '-s', '127.0.0.1', 'sftp']));
    child.stdin.on('error', () => {});
    child.stdin.write(randomBytes(4 * MiB));
    await waitFor('upload under way', () => s.sftp.length === 1 && s.sftp[0]!.bytes > 0, 5000);
    child.kill('SIGKILL');
    await waitFor('all closed', () => s.logger.with('ssh connection closed').length === hostile.length + 1, 5000);
    // Still serving.
    const r = await run('ssh', sshKeyArgs(s, ['-o', 'LogLevel=ERROR', '127.0.0.1', 'df -P -k /']));
    assert.equal(r.code, 0, r.stderr);
    assert.ok(s.defender.failures.filter((f) => f === 'protocol-error').length >= hostile.length);
    assert.equal(s.logger.entries.filter((e) => e.level === 'error').length, 0, s.logger.text());
  }));

/** ssh2's transport used bare, to send what no well-behaved client sends. */
function rawProtocolClient(port: number, key: ParsedKey, user: string) {
  const require = createRequire(import.meta.url);
  const Protocol = require('ssh2/lib/protocol/Protocol.js');
  const events: string[] = [];
  const sock = connect(port, '127.0.0.1');
  sock.on('error', () => {});
  let onEvent: () => void = () => {};
  const push = (e: string) => {
    events.push(e);
    onEvent();
  };
  const proto = new Protocol({
    onWrite: (d: Buffer) => sock.writable && sock.write(d),
    onError: (err: Error) => push(`error ${err.message}`),
    onHeader: () => {},
    onHandshakeComplete: () => push('handshake'),
    messageHandlers: {
      SERVICE_ACCEPT: () => push('service-accept'),
      USERAUTH_PK_OK: () => push('pk-ok'),
      USERAUTH_SUCCESS: () => push('auth-success'),
      USERAUTH_FAILURE: () => push('auth-failure'),
      CHANNEL_OPEN_CONFIRMATION: () => push('open-confirm'),
      CHANNEL_OPEN_FAILURE: (_p: unknown, _r: number, reason: number) => push(`open-failure ${reason}`),
      DISCONNECT: () => push('disconnect'),
    },
  });
  sock.on('data', (d: Buffer) => proto.parse(d, 0, d.length));
  sock.on('close', () => push('closed'));
  proto.start();
  const next = (what: string) =>
    new Promise<void>((resolve, reject) => {
      const check = () => {
        if (events.includes(what)) {
          onEvent = () => {};
          resolve();
        } else if (events.includes('closed')) reject(new Error(`closed while waiting for ${what}: ${events}`));
      };
      onEvent = check;
      check();
    });
  return { proto, events, next, sock, key, user };
}

test('channels cannot be opened before login, nor after an unsigned public-key query', () =>
  withServer(async (s) => {
    const key = utils.parseKey(s.userKey.privateKey) as ParsedKey;
    const c = rawProtocolClient(s.port, key, KEY_USER);
    try {
      await c.next('handshake');
      c.proto.session(0, 2 * MiB, 32768);
      await c.next('open-failure 1'); // ADMINISTRATIVELY_PROHIBITED
      c.proto.service('ssh-userauth');
      await c.next('service-accept');
      c.proto.authPK(KEY_USER, key);
      await c.next('pk-ok');
      c.proto.session(1, 2 * MiB, 32768);
      await c.next('open-failure 1'); // ...still prohibited: PK_OK is not a login
      assert.ok(!c.events.includes('auth-success'));
      // The same key with its signature does log in, so the refusals above were not an accident.
      c.proto.authPK(KEY_USER, key, (data: Buffer, cb: (sig: Buffer) => void) => cb(key.sign(data)));
      await c.next('auth-success');
      c.proto.session(2, 2 * MiB, 32768);
      await c.next('open-confirm');
    } finally {
      c.sock.destroy();
    }
  }));

test('close() disconnects logged-in and half-open clients, stops listening and resolves', async () => {
  const s = await startTestServer();
  let closedOk = false;
  try {
    const c = await clientConnect({ port: s.port, username: KEY_USER, privateKey: s.userKey.privateKey });
    const clientClosed = new Promise<void>((resolve) => c.once('close', () => resolve()));
    const half = await rawConnect(s.port);
    const t0 = Date.now();
    await s.close();
    closedOk = true;
    assert.ok(Date.now() - t0 < 4000);
    await clientClosed;
    await half.closed;
    await assert.rejects(rawConnect(s.port).then((x) => x.closed), /ECONNREFUSED/);
    assert.equal(s.logger.with('ssh stopped').length, 1);
  } finally {
    if (!closedOk) await s.close();
  }
});
