import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { UrlAuthenticator, AuthError, type AuthLogger, type LoginAttempt } from '../../src/auth/index.js';
import { startAccountServer } from '../../examples/account-server/server.js';
import { parseMultipart, multipartBoundary } from '../../examples/account-server/form.js';

const ROOT = 'URI:DIR2:tmtxiysosbogziok2bzqtjqyly:odeejxkxue6ruqz4xaxzw6bhavb244akuqkdbg2d3svxdubq4b3q';
const ROOT_RO = 'URI:DIR2-RO:a32icmmqnzvw5hutjevlpdrd5m:odeejxkxue6ruqz4xaxzw6bhavb244akuqkdbg2d3svxdubq4b3q';
const CHK = 'URI:CHK:cijcjzcaplulf7swndt4pfiyhy:yzmwugnohxefq5j5htnfxgjqs23vnl7jgy7nsncquckawbpjlo2a:2:3:1968';

interface Rec { level: string; obj: object; msg?: string }
function recorder(): AuthLogger & { records: Rec[] } {
  const records: Rec[] = [];
  const at = (level: string) => (obj: object, msg?: string) => void records.push({ level, obj, msg });
  return { records, info: at('info'), warn: at('warn'), error: at('error') };
}

const who = (username: string, remoteAddress = '192.0.2.1'): LoginAttempt => ({ username, remoteAddress, protocol: 'ftp' });

interface Seen { method: string; url: string; contentType: string | undefined; body: Buffer }
type Handler = (req: IncomingMessage, res: ServerResponse, body: Buffer) => void;

/** A throwaway HTTP server on 127.0.0.x that records every request. */
async function adHoc(handler: Handler, host = '127.0.0.1'): Promise<{ url: string; seen: Seen[]; server: Server; close(): Promise<void> }> {
  const seen: Seen[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      seen.push({ method: req.method!, url: req.url!, contentType: req.headers['content-type'], body });
      handler(req, res, body);
    });
  });
  await new Promise<void>((r) => server.listen(0, host, r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${host}:${port}/login`,
    seen,
    server,
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}

const answer = (text: string, status = 200): Handler => (_req, res) => {
  res.writeHead(status, { 'content-type': 'text/plain' });
  res.end(text);
};

test('against the example account service: success, 0, wrong password, unknown user', async () => {
  const service = await startAccountServer({ db: ':memory:' });
  const log = recorder();
  try {
    await service.addUser('alice@example.com', 'correct horse', ROOT);
    await service.addUser('bob', 'pw', ROOT_RO);
    const auth = new UrlAuthenticator({ url: service.url, logger: log, cacheTtlMs: 0 });
    assert.deepEqual(await auth.checkPassword(who('alice@example.com'), 'correct horse'), { username: 'alice@example.com', rootCap: ROOT });
    assert.deepEqual(await auth.checkPassword(who('bob'), 'pw'), { username: 'bob', rootCap: ROOT_RO });
    assert.equal(await auth.checkPassword(who('alice@example.com'), 'wrong'), undefined);
    assert.equal(await auth.checkPassword(who('nobody'), 'pw'), undefined);
    assert.equal(await auth.findKey(), undefined);
    // The service said 0: an ordinary refusal, logged at info without the password.
    const refusals = log.records.filter((r) => /refused/.test(r.msg ?? ''));
    assert.equal(refusals.length, 2);
    assert.ok(refusals.every((r) => r.level === 'info' && /service said 0/.test(r.msg!)));
    assert.deepEqual(refusals[0]!.obj, { user: 'alice@example.com', address: '192.0.2.1', service: new URL(service.url).origin });
    const logged = JSON.stringify(log.records);
    for (const secret of ['correct horse', 'wrong', ROOT, ROOT_RO]) assert.ok(!logged.includes(secret), secret);
  } finally {
    await service.close();
  }
});

test('the request is a standard multipart/form-data POST with the three fields, bytes exact', async () => {
  const srv = await adHoc(answer(ROOT));
  try {
    const auth = new UrlAuthenticator({ url: srv.url, logger: recorder(), cacheTtlMs: 0 });
    const password = 'pä ss\r\nwo"rd--\n\u0000';
    assert.ok(await auth.checkPassword(who('zoë'), password));
    const req = srv.seen[0]!;
    assert.equal(req.method, 'POST');
    assert.equal(req.url, '/login');
    // Decoded by undici's own multipart parser (the standard one) …
    const form = await new Request('http://x/', { method: 'POST', headers: { 'content-type': req.contentType! }, body: req.body }).formData();
    assert.deepEqual([...form.keys()].sort(), ['action', 'email', 'passwd']);
    assert.equal(form.get('action'), 'authenticate');
    assert.equal(form.get('email'), 'zoë');
    // … and by the example server's parser, which keeps the password's bytes exactly.
    const fields = parseMultipart(req.body, multipartBoundary(req.contentType)!)!;
    assert.deepEqual(Object.fromEntries(fields), { action: 'authenticate', email: 'zoë', passwd: password });
  } finally {
    await srv.close();
  }
});

test('the answer is trimmed; 0 and everything that is not a directory cap refuse', async () => {
  const cases: [string, number, boolean, RegExp][] = [
    [`\n  ${ROOT}\r\n\t`, 200, true, /./],
    [`ro.${ROOT_RO}`, 200, true, /./],
    ['0', 200, false, /service said 0/],
    [' 0\n', 200, false, /service said 0/],
    ['', 200, false, /malformed answer/],
    ['Welcome alice!', 200, false, /malformed answer \(14 characters, not a cap\)/],
    [CHK, 200, false, /answer is a CHK cap, not a directory cap/],
    [`${ROOT} ${ROOT}`, 200, false, /malformed answer/],
    [ROOT, 500, false, /HTTP error status/],
    [ROOT, 404, false, /HTTP error status/],
    [ROOT, 304, false, /HTTP error status/],
    ['x'.repeat(100_000), 200, false, /answer too long/],
  ];
  for (const [body, status, ok, why] of cases) {
    const srv = await adHoc(answer(body, status));
    const log = recorder();
    try {
      const auth = new UrlAuthenticator({ url: srv.url, logger: log, cacheTtlMs: 0 });
      const got = await auth.checkPassword(who('alice'), 'pw');
      assert.equal(!!got, ok, `${status} ${JSON.stringify(body.slice(0, 40))}`);
      if (ok) assert.equal(got!.rootCap, body.trim().replace(/^ro\./, ''));
      else {
        const rec = log.records.find((r) => /refused/.test(r.msg ?? ''))!;
        assert.match(rec.msg!, why);
        if (status !== 200) assert.equal((rec.obj as { status: number }).status, status);
        assert.ok(!JSON.stringify(log.records).includes(CHK), 'the answer itself is never logged');
      }
    } finally {
      await srv.close();
    }
  }
});

test('an answer may carry account options after the cap, as the accounts file does; bad options refuse', async () => {
  const cases: [string, boolean, object | undefined][] = [
    [`${ROOT} quota=10G quota_files=5000\n`, true, { bytes: 10 * 1024 ** 3, files: 5000 }],
    [`${ROOT} quota=512M`, true, { bytes: 512 * 1024 ** 2 }],
    [ROOT, true, undefined],
    [`${ROOT} quota=lots`, false, undefined],
    [`${ROOT} colour=blue`, false, undefined],
    [`quota=1G`, false, undefined],
  ];
  for (const [body, ok, quota] of cases) {
    const srv = await adHoc(answer(body));
    const log = recorder();
    try {
      const got = await new UrlAuthenticator({ url: srv.url, logger: log, cacheTtlMs: 0 }).checkPassword(who('alice'), 'pw');
      assert.equal(!!got, ok, body);
      if (ok) assert.deepEqual([got!.rootCap, got!.quota], [ROOT, quota]);
      else assert.match(log.records.find((r) => /refused/.test(r.msg ?? ''))!.msg!, /malformed answer/);
    } finally {
      await srv.close();
    }
  }
});

test('invalid UTF-8 in the answer refuses', async () => {
  const srv = await adHoc((_q, res) => res.end(Buffer.from([0x55, 0xff, 0xfe])));
  try {
    assert.equal(await new UrlAuthenticator({ url: srv.url, logger: recorder() }).checkPassword(who('a'), 'p'), undefined);
  } finally {
    await srv.close();
  }
});

test('a hanging service refuses within the timeout', async () => {
  const hang = await adHoc(() => {}); // never answers
  const slowBody = await adHoc((_q, res) => {
    res.writeHead(200);
    res.write('URI:DIR2:'); // headers and half a cap, then nothing
  });
  try {
    for (const srv of [hang, slowBody]) {
      const log = recorder();
      const auth = new UrlAuthenticator({ url: srv.url, logger: log, timeoutMs: 300 });
      const t = performance.now();
      assert.equal(await auth.checkPassword(who('alice'), 'pw'), undefined);
      const took = performance.now() - t;
      assert.ok(took >= 250 && took < 2000, `took ${took} ms`);
      assert.match(log.records[0]!.msg!, /no answer within 300 ms/);
      assert.equal(log.records[0]!.level, 'warn');
    }
  } finally {
    await hang.close();
    await slowBody.close();
  }
});

test('connection refused refuses the login, never throws', async () => {
  const srv = await adHoc(answer(ROOT));
  const url = srv.url;
  await srv.close();
  const log = recorder();
  const auth = new UrlAuthenticator({ url, logger: log });
  assert.equal(await auth.checkPassword(who('alice'), 'pw'), undefined);
  assert.match(log.records[0]!.msg!, /ECONNREFUSED/);
});

test('redirects: another host refuses (and gets nothing), the same host is followed a few times', async () => {
  const other = await adHoc(answer(ROOT), '127.0.0.2');
  const toOther = await adHoc((_q, res) => {
    res.writeHead(307, { location: other.url });
    res.end();
  });
  let hops = 0;
  const sameHost = await adHoc((req, res) => {
    if (req.url === '/final') return answer(ROOT)(req, res, Buffer.alloc(0));
    hops++;
    res.writeHead(hops === 1 ? 302 : 308, { location: hops < 3 ? `/hop${hops}` : '/final' });
    res.end();
  });
  const loop = await adHoc((_q, res) => {
    res.writeHead(307, { location: '/login' });
    res.end();
  });
  try {
    const log = recorder();
    assert.equal(await new UrlAuthenticator({ url: toOther.url, logger: log }).checkPassword(who('alice'), 'pw'), undefined);
    assert.match(log.records[0]!.msg!, /redirect to another host/);
    assert.equal(other.seen.length, 0, 'credentials never reach the other host');

    assert.deepEqual(await new UrlAuthenticator({ url: sameHost.url, logger: recorder() }).checkPassword(who('alice'), 'pw'), { username: 'alice', rootCap: ROOT });
    assert.deepEqual(sameHost.seen.map((s) => s.url), ['/login', '/hop1', '/hop2', '/final']);
    assert.ok(sameHost.seen.every((s) => s.method === 'POST' && s.body.includes('authenticate')), 'the form is posted on every hop');

    const loopLog = recorder();
    assert.equal(await new UrlAuthenticator({ url: loop.url, logger: loopLog, maxRedirects: 2 }).checkPassword(who('alice'), 'pw'), undefined);
    assert.equal(loop.seen.length, 3);
    assert.match(loopLog.records[0]!.msg!, /too many redirects/);
  } finally {
    await Promise.all([other.close(), toOther.close(), sameHost.close(), loop.close()]);
  }
});

test('cache: a success is reused within the TTL, per user, password and address; failures are not cached', async () => {
  let reply = ROOT;
  const srv = await adHoc((req, res, body) => answer(body.includes('good') ? reply : '0')(req, res, body));
  let now = 1_000_000;
  try {
    const auth = new UrlAuthenticator({ url: srv.url, logger: recorder(), cacheTtlMs: 60_000, now: () => now });
    assert.ok(await auth.checkPassword(who('alice'), 'good'));
    assert.equal(srv.seen.length, 1);
    now += 59_000;
    assert.deepEqual(await auth.checkPassword(who('alice'), 'good'), { username: 'alice', rootCap: ROOT });
    assert.equal(srv.seen.length, 1, 'cache hit');
    assert.equal(await auth.checkPassword(who('alice'), 'bad'), undefined, 'another password is not a hit');
    assert.ok(await auth.checkPassword(who('alice', '198.51.100.7'), 'good'));
    assert.ok(await auth.checkPassword(who('bob'), 'good'));
    assert.equal(srv.seen.length, 4, 'other password, address and user each asked the service');
    // After the TTL the service decides again (a password change takes effect).
    reply = '0';
    now += 1_001;
    assert.equal(await auth.checkPassword(who('alice'), 'good'), undefined);
    assert.equal(srv.seen.length, 5);
    // A refusal is not cached: once the service says yes again, the login works at once.
    reply = ROOT_RO;
    assert.deepEqual(await auth.checkPassword(who('alice'), 'good'), { username: 'alice', rootCap: ROOT_RO });
    assert.equal(srv.seen.length, 6);
  } finally {
    await srv.close();
  }
});

/** Waits until the service has seen `n` requests; fails after 5 s. */
async function requestsSeen(seen: Seen[], n: number): Promise<void> {
  for (const start = Date.now(); seen.length < n; await new Promise((r) => setTimeout(r, 5))) {
    assert.ok(Date.now() - start < 5000, `the service saw ${seen.length} requests, not ${n}`);
  }
}

test('logins with the same user, password and address at once share one request to the service', async () => {
  let reply = ROOT;
  const held: (() => void)[] = [];
  // Answers only when the test lets it, so the logins below are all under way at once.
  const srv = await adHoc((req, res, body) => held.push(() => answer(reply)(req, res, body)));
  const waitForRequests = (n: number) => requestsSeen(srv.seen, n);
  try {
    const log = recorder();
    const auth = new UrlAuthenticator({ url: srv.url, logger: log });
    const four = [1, 2, 3, 4].map(() => auth.checkPassword(who('alice'), 'good'));
    const elsewhere = auth.checkPassword(who('alice', '198.51.100.7'), 'good');
    await waitForRequests(2);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(srv.seen.length, 2, 'one request for the four, one for the other address');
    held.splice(0).forEach((go) => go());
    for (const account of await Promise.all([...four, elsewhere])) assert.deepEqual(account, { username: 'alice', rootCap: ROOT });

    // A refusal is shared the same way, and each refused login is logged.
    reply = '0';
    const refused = [1, 2, 3].map(() => auth.checkPassword(who('bob'), 'bad'));
    await waitForRequests(3);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(srv.seen.length, 3);
    held.splice(0).forEach((go) => go());
    assert.deepEqual(await Promise.all(refused), [undefined, undefined, undefined]);
    assert.equal(log.records.filter((r) => /service said 0/.test(r.msg ?? '')).length, 3);

    // After clearCache (SIGHUP) a login asks again rather than joining a request made before it,
    // and the older request's answer is not remembered.
    reply = ROOT;
    const before = auth.checkPassword(who('carol'), 'pw');
    await waitForRequests(4);
    auth.clearCache();
    const after = auth.checkPassword(who('carol'), 'pw');
    await waitForRequests(5);
    reply = ROOT_RO;
    held.splice(0).forEach((go) => go());
    assert.deepEqual(await before, { username: 'carol', rootCap: ROOT_RO });
    assert.deepEqual(await after, { username: 'carol', rootCap: ROOT_RO });
    const third = auth.checkPassword(who('carol'), 'pw');
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(srv.seen.length, 5, 'the answer asked for after clearCache is remembered');
    assert.deepEqual(await third, { username: 'carol', rootCap: ROOT_RO });
  } finally {
    held.splice(0).forEach((go) => go());
    await srv.close();
  }
});

test('an answer asked for before clearCache (SIGHUP) is not remembered after it', async () => {
  const held: (() => void)[] = [];
  const srv = await adHoc((req, res, body) => held.push(() => answer(ROOT)(req, res, body)));
  try {
    const auth = new UrlAuthenticator({ url: srv.url, logger: recorder() });
    const first = auth.checkPassword(who('dave'), 'pw');
    await requestsSeen(srv.seen, 1);
    auth.clearCache();
    held.splice(0).forEach((go) => go());
    assert.ok(await first, 'the login itself gets the answer');
    const again = auth.checkPassword(who('dave'), 'pw');
    await requestsSeen(srv.seen, 2);
    held.splice(0).forEach((go) => go());
    assert.ok(await again);
    assert.equal(srv.seen.length, 2, 'the service was asked again');
  } finally {
    held.splice(0).forEach((go) => go());
    await srv.close();
  }
});

test('cache: TTL 0 disables it, and the size is capped', async () => {
  const srv = await adHoc(answer(ROOT));
  try {
    const off = new UrlAuthenticator({ url: srv.url, logger: recorder(), cacheTtlMs: 0 });
    await off.checkPassword(who('a'), 'p');
    await off.checkPassword(who('a'), 'p');
    assert.equal(srv.seen.length, 2);
    const small = new UrlAuthenticator({ url: srv.url, logger: recorder(), cacheMax: 2 });
    for (const u of ['u1', 'u2', 'u3']) await small.checkPassword(who(u), 'p'); // u1 evicted
    assert.equal(srv.seen.length, 5);
    await small.checkPassword(who('u3'), 'p');
    await small.checkPassword(who('u2'), 'p');
    assert.equal(srv.seen.length, 5, 'u2 and u3 cached');
    await small.checkPassword(who('u1'), 'p');
    assert.equal(srv.seen.length, 6, 'u1 was evicted');
  } finally {
    await srv.close();
  }
});

test('over-long fields are refused without asking the service; bad URLs are config errors', async () => {
  const srv = await adHoc(answer(ROOT));
  try {
    const auth = new UrlAuthenticator({ url: srv.url, logger: recorder() });
    assert.equal(await auth.checkPassword(who('alice'), 'p'.repeat(2000)), undefined);
    assert.equal(await auth.checkPassword(who(''), 'p'), undefined);
    assert.equal(srv.seen.length, 0);
  } finally {
    await srv.close();
  }
  assert.throws(() => new UrlAuthenticator({ url: 'not a url', logger: recorder() }), AuthError);
  assert.throws(() => new UrlAuthenticator({ url: 'ftp://example.com/', logger: recorder() }), /http: or https:/);
});
