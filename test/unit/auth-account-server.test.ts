import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import fc from 'fast-check';
import Database from 'better-sqlite3';
import { startAccountServer } from '../../examples/account-server/server.js';
import { multipartBoundary, parseForm, parseMultipart } from '../../examples/account-server/form.js';
import { multipartBody } from '../../src/auth/index.js';

const ROOT = 'URI:DIR2:tmtxiysosbogziok2bzqtjqyly:odeejxkxue6ruqz4xaxzw6bhavb244akuqkdbg2d3svxdubq4b3q';
const CHK = 'URI:CHK:cijcjzcaplulf7swndt4pfiyhy:yzmwugnohxefq5j5htnfxgjqs23vnl7jgy7nsncquckawbpjlo2a:2:3:1968';
const here = dirname(fileURLToPath(import.meta.url));

async function encode(fields: [string, string][]): Promise<{ body: Buffer; contentType: string }> {
  const fd = new FormData();
  for (const [k, v] of fields) fd.append(k, v);
  const res = new Response(fd);
  return { body: Buffer.from(await res.arrayBuffer()), contentType: res.headers.get('content-type')! };
}

test('multipart parser agrees with the standard encoder, for fields in any order', async () => {
  const name = fc.string({ minLength: 1, maxLength: 10 }).filter((s) => !/["\r\n\\%]/.test(s));
  // FormData turns bare CR/LF in values into CRLF; compare after that normalisation.
  const value = fc.string({ maxLength: 40 }).map((s) => s.replace(/\r\n|\r|\n/g, '\r\n'));
  await fc.assert(
    fc.asyncProperty(fc.uniqueArray(fc.tuple(name, value), { selector: (t) => t[0], maxLength: 6 }), async (fields) => {
      const { body, contentType } = await encode(fields);
      const parsed = parseMultipart(body, multipartBoundary(contentType)!);
      assert.deepEqual(parsed && Object.fromEntries(parsed), Object.fromEntries(fields));
    }),
    { numRuns: 200 },
  );
  // And with our own client's encoder, in every field order.
  const fields: [string, string][] = [['passwd', 'p\r\n--x'], ['action', 'authenticate'], ['email', 'ü']];
  for (const order of [[0, 1, 2], [2, 1, 0], [1, 0, 2]]) {
    const { body, contentType } = multipartBody(order.map((i) => fields[i]!));
    assert.deepEqual(Object.fromEntries(parseForm(contentType, body)!), { action: 'authenticate', email: 'ü', passwd: 'p\r\n--x' });
  }
});

test('multipart details: quoted boundary, preamble, padding, part headers; malformed bodies refused', () => {
  const b = 'XyZ';
  const good = `preamble\r\n--${b}  \r\nContent-Disposition: form-data; name="email"\r\nContent-Type: text/plain\r\n\r\nbob\r\n--${b}\r\ncontent-disposition: form-data; name=passwd\r\n\r\n\r\n--${b}--\r\nepilogue`;
  assert.equal(multipartBoundary(`multipart/form-data; boundary="${b}"`), b);
  assert.equal(multipartBoundary(`Multipart/Form-Data;charset=utf-8; boundary=${b}`), b);
  assert.equal(multipartBoundary('text/plain; boundary=x'), undefined);
  assert.equal(multipartBoundary('multipart/form-data'), undefined);
  assert.deepEqual(Object.fromEntries(parseMultipart(Buffer.from(good), b)!), { email: 'bob', passwd: '' });
  for (const bad of [
    `--${b}\r\nContent-Disposition: form-data; name="a"\r\n\r\nno closing delimiter`,
    `--${b}\r\nContent-Type: text/plain\r\n\r\nno name\r\n--${b}--`,
    `--${b}\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n--${b}\r\nContent-Disposition: form-data; name="a"\r\n\r\n2\r\n--${b}--`,
    `no delimiter at all`,
    `--${b}garbage`,
  ]) {
    assert.equal(parseMultipart(Buffer.from(bad), b), undefined, bad);
  }
  assert.equal(parseMultipart(Buffer.concat([Buffer.from(`--${b}\r\nContent-Disposition: form-data; name="a"\r\n\r\n`), Buffer.from([0xff]), Buffer.from(`\r\n--${b}--`)]), b), undefined);
  fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), fc.string({ minLength: 1, maxLength: 5 }), (bytes, boundary) => {
    parseMultipart(Buffer.from(bytes), boundary); // must not throw
  }));
});

test('url-encoded forms; unknown content types refused', () => {
  assert.deepEqual(Object.fromEntries(parseForm('application/x-www-form-urlencoded', Buffer.from('action=authenticate&email=a%40b&passwd=p+w%26'))!), { action: 'authenticate', email: 'a@b', passwd: 'p w&' });
  assert.equal(parseForm('application/x-www-form-urlencoded', Buffer.from('email=a&email=b')), undefined);
  assert.equal(parseForm('application/json', Buffer.from('{}')), undefined);
  assert.equal(parseForm(undefined, Buffer.from('x')), undefined);
});

test('the service answers the protocol and rejects other requests', async () => {
  const s = await startAccountServer({ db: ':memory:' });
  try {
    await s.addUser('alice', 'pw', ROOT);
    const post = async (body: NonNullable<Parameters<typeof fetch>[1]>['body'], headers: Record<string, string> = {}) => {
      const res = await fetch(s.url, { method: 'POST', body, headers });
      return [res.status, (await res.text()).trim()] as const;
    };
    const fd = (fields: Record<string, string>) => {
      const f = new FormData();
      for (const [k, v] of Object.entries(fields)) f.append(k, v);
      return f;
    };
    assert.deepEqual(await post(fd({ passwd: 'pw', email: 'alice', action: 'authenticate' })), [200, ROOT]);
    assert.deepEqual(await post(fd({ action: 'authenticate', email: 'alice', passwd: 'PW' })), [200, '0']);
    assert.deepEqual(await post(new URLSearchParams({ action: 'authenticate', email: 'alice', passwd: 'pw' })), [200, ROOT]);
    assert.deepEqual(await post(fd({ action: 'register', email: 'alice', passwd: 'pw' })), [400, 'unknown action']);
    assert.deepEqual(await post(fd({ action: 'authenticate', email: 'alice' })), [400, 'missing email or passwd']);
    assert.deepEqual(await post('{"email":"alice"}', { 'content-type': 'application/json' }), [400, 'expected multipart/form-data or application/x-www-form-urlencoded']);
    assert.equal((await post(new URLSearchParams({ x: 'y'.repeat(100_000) }))).at(0), 413);
    assert.equal((await fetch(s.url)).status, 405);
    s.removeUser('alice');
    assert.deepEqual(await post(fd({ action: 'authenticate', email: 'alice', passwd: 'pw' })), [200, '0']);
    await assert.rejects(s.addUser('bob', 'pw', CHK), /directory cap/);
    await assert.rejects(s.addUser('bo b', 'pw', ROOT), /email/);
  } finally {
    await s.close();
  }
});

test('CLI: --add stores a hash (not the password), --listen prints the URL first', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'lafsd-acct-'));
  const script = join(here, '../../examples/account-server/server.js');
  const db = join(dir, 'users.sqlite');
  try {
    const add = spawn(process.execPath, [script, '--db', db, '--add', 'carol', 'hunter2', ROOT, '--hash', 'bcrypt']);
    assert.equal(await new Promise((r) => add.on('exit', r)), 0);
    const conn = new Database(db, { readonly: true });
    const row = conn.prepare('SELECT * FROM users').get() as { email: string; password_hash: string; rootcap: string };
    conn.close();
    assert.equal(row.email, 'carol');
    assert.match(row.password_hash, /^\$2b\$10\$/);
    assert.equal(row.rootcap, ROOT);

    const child = spawn(process.execPath, [script, '--db', db, '--listen', '127.0.0.1:0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      const first = await new Promise<string>((resolve) => createInterface({ input: child.stdout! }).once('line', resolve));
      assert.match(first, /^http:\/\/127\.0\.0\.1:\d+\/$/);
      const f = new FormData();
      f.append('action', 'authenticate');
      f.append('email', 'carol');
      f.append('passwd', 'hunter2');
      assert.equal((await (await fetch(first, { method: 'POST', body: f })).text()).trim(), ROOT);
    } finally {
      child.kill('SIGTERM');
      assert.equal(await new Promise((r) => child.on('exit', (code) => r(code))), 0);
    }
    const bad = spawn(process.execPath, [script, '--listen', '127.0.0.1:0'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    bad.stderr!.on('data', (c: Buffer) => (err += c));
    assert.equal(await new Promise((r) => bad.on('exit', r)), 2);
    assert.match(err, /--db FILE is required/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
