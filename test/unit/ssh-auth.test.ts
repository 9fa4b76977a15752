// ConnectionAuth with hand-made ssh2 auth contexts: the paths real clients rarely take.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import ssh2 from 'ssh2';
import type { AuthContext, ParsedKey } from 'ssh2';
import type { Account, Authenticator, FailureReason } from '../../src/auth/types.js';
import { AUTH_METHODS, ConnectionAuth } from '../../src/ssh/auth.js';
import { sshKeyPair } from '../helpers/keys.js';

const account: Account = { username: 'u', rootCap: 'URI:DIR2:x:y' };

interface Fake {
  ctx: AuthContext;
  answers: string[];
}

function fakeCtx(method: string, fields: Record<string, unknown>): Fake {
  const answers: string[] = [];
  const ctx = Object.assign(new EventEmitter(), {
    username: 'u',
    service: 'ssh-connection',
    method,
    accept: () => answers.push('accept'),
    reject: (methods?: string[]) => answers.push(`reject ${methods?.join(',') ?? ''}`),
    ...fields,
  });
  return { ctx: ctx as unknown as AuthContext, answers };
}

function setup(authenticator: Partial<Authenticator>, maxAuthTries = 6) {
  const logs: { level: string; msg: string; obj: Record<string, unknown> }[] = [];
  const failures: FailureReason[] = [];
  let tooMany = 0;
  const log = (level: string) => (obj: object, msg = '') => logs.push({ level, msg, obj: obj as Record<string, unknown> });
  const auth = new ConnectionAuth({
    authenticator: {
      checkPassword: async () => undefined,
      findKey: async () => undefined,
      ...authenticator,
    },
    defender: {
      admission: () => 'ok',
      release: () => {},
      closed: () => {},
      recordFailure: (_a, r) => failures.push(r),
      recordSuccess: () => {},
    },
    logger: { info: log('info'), warn: log('warn'), error: log('error'), debug: log('debug') },
    maxAuthTries,
    remoteAddress: '192.0.2.1',
    remotePort: 5555,
    connectionId: 'c1',
    onTooManyFailures: () => (tooMany += 1),
  });
  return { auth, logs, failures, tooMany: () => tooMany };
}

const settle = () => new Promise((r) => setTimeout(r, 10));

test('an authenticator that throws refuses the login (fail closed) and logs an error', async () => {
  const { auth, logs, failures } = setup({
    checkPassword: async () => {
      throw new Error('db down');
    },
  });
  const f = fakeCtx('password', { password: 'pw' });
  auth.handle(f.ctx);
  await settle();
  assert.deepEqual(f.answers, [`reject ${AUTH_METHODS.join(',')}`]);
  assert.equal(auth.account, undefined);
  assert.ok(logs.some((l) => l.level === 'error' && l.msg === 'ssh authenticator failed'));
  assert.deepEqual(failures, ['protocol-error']);
});

test('an answer that arrives after the connection closed is dropped', async () => {
  let release!: (a: Account) => void;
  const { auth } = setup({ checkPassword: () => new Promise((r) => (release = r)) });
  const f = fakeCtx('password', { password: 'pw' });
  auth.handle(f.ctx);
  auth.connectionClosed();
  release(account);
  await settle();
  assert.deepEqual(f.answers, []);
  assert.equal(auth.account, undefined);
});

function rsaKey(): ParsedKey {
  return ssh2.utils.parseKey(sshKeyPair('rsa', { bits: 2048 }).private) as ParsedKey;
}

test('SHA-1 ssh-rsa signatures and keys offered under another type are refused before lookup', async () => {
  let lookups = 0;
  const { auth } = setup({
    findKey: async () => {
      lookups += 1;
      return account;
    },
  });
  const rsa = rsaKey();
  const blob = rsa.getPublicSSH();
  const sha1 = fakeCtx('publickey', { key: { algo: 'ssh-rsa', data: blob }, hashAlgo: undefined });
  const liar = fakeCtx('publickey', { key: { algo: 'ssh-ed25519', data: blob } });
  auth.handle(sha1.ctx);
  await settle();
  auth.handle(liar.ctx);
  await settle();
  assert.equal(lookups, 0);
  assert.match(sha1.answers[0]!, /^reject/);
  assert.match(liar.answers[0]!, /^reject/);
  // The same key with a SHA-2 signature does get in.
  const data = Buffer.from('session-bound data');
  const good = fakeCtx('publickey', { key: { algo: 'ssh-rsa', data: blob }, hashAlgo: 'sha256', blob: data, signature: rsa.sign(data, 'sha256') });
  auth.handle(good.ctx);
  await settle();
  assert.deepEqual(good.answers, ['accept']);
  assert.equal(auth.account, account);
});

test('after the last allowed failure nothing more is answered or checked', async () => {
  let calls = 0;
  const { auth, tooMany, failures } = setup(
    {
      checkPassword: async () => {
        calls += 1;
        return undefined;
      },
    },
    2,
  );
  const fakes = [1, 2, 3].map(() => fakeCtx('password', { password: 'x' }));
  for (const f of fakes) {
    auth.handle(f.ctx);
    await settle();
  }
  assert.equal(calls, 2);
  assert.equal(tooMany(), 1);
  assert.deepEqual(fakes.map((f) => f.answers), [[`reject ${AUTH_METHODS.join(',')}`], ['reject '], []]);
  assert.deepEqual(failures, ['bad-password', 'bad-password', 'too-many-attempts']);
});

test('hostbased and unknown methods are refused and counted', async () => {
  const { auth, failures } = setup({});
  const f = fakeCtx('hostbased', {});
  auth.handle(f.ctx);
  await settle();
  assert.match(f.answers[0]!, /^reject publickey/);
  assert.deepEqual(failures, ['protocol-error']);
});
