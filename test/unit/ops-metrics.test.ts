// The metrics module, the status listener and the node lock on their own (issue #12): what each
// hook counts, that the Grid wrapper changes nothing but time and counts, that labels stay in
// their fixed sets, and the HTTP answers in every readiness state.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LoginDefender, hashPassword, verifyPassword } from '../../src/auth/index.js';
import { GridError, type FileReader, type Grid, type UploadSink } from '../../src/grid/index.js';
import { isLocked, lockDirs, lockedDirs, NodeLockedError, readPidFile } from '../../src/node/lock.js';
import { Metrics } from '../../src/server/metrics.js';
import { sampled } from '../../src/util/sampled.js';
import { startStatusServer } from '../../src/server/status-http.js';
import { httpGet, Scrape } from '../helpers/metrics.js';
import { RecordingLogger } from '../helpers/recording-logger.js';
import { tempDir } from '../helpers/tmp.js';

async function scrapeOf(m: Metrics): Promise<Scrape> {
  return new Scrape((await m.scrape()).body);
}

/** A grid of three methods (no checkSpace), whose reader and sink have getters. */
function tinyGrid(): Grid {
  const reader: FileReader = { size: 5, read: async () => Buffer.from('hello'), close: async () => {} };
  let written = 0;
  const sink: UploadSink = {
    get bytesWritten() {
      return written;
    },
    write: async (d: Buffer) => {
      written += d.length;
    },
    finish: async () => 'URI:LIT:',
    abort: async () => {},
  };
  return {
    stat: async (cap: string) => {
      if (cap === 'gone') throw new GridError('UNAVAILABLE', 'node down');
      if (cap === 'bug') throw new TypeError('a bug');
      return { kind: 'dir', cap, mutable: true, readOnly: false };
    },
    openRead: async () => reader,
    upload: async () => sink,
  } as unknown as Grid;
}

test('the Grid wrapper times every call, counts failures by code, and changes nothing else', async () => {
  const m = new Metrics('webapi', { version: 'test' });
  const grid = m.grid(tinyGrid());
  assert.equal('checkSpace' in grid, false, 'an optional method stays absent');
  assert.equal(grid.checkSpace, undefined);
  assert.equal((await grid.stat('URI:DIR2:x')).cap, 'URI:DIR2:x');
  await assert.rejects(grid.stat('gone'), (e: unknown) => e instanceof GridError && e.code === 'UNAVAILABLE');
  await assert.rejects(grid.stat('bug'), TypeError);
  const reader = await grid.openRead('URI:CHK:x');
  assert.equal(reader.size, 5);
  assert.equal((await reader.read(0, 5)).toString(), 'hello');
  const sink = await grid.upload();
  await sink.write(Buffer.alloc(7));
  assert.equal(sink.bytesWritten, 7, 'getters read through to the real sink');
  assert.equal(await sink.finish(), 'URI:LIT:');
  const s = await scrapeOf(m);
  const count = (operation: string) => s.value('lafsd_backend_request_duration_seconds_count', { backend: 'webapi', operation });
  assert.deepEqual(['stat', 'open_read', 'read', 'upload', 'upload_write', 'upload_finish'].map(count), [3, 1, 1, 1, 1, 1]);
  assert.equal(s.value('lafsd_backend_errors_total', { operation: 'stat', code: 'UNAVAILABLE' }), 1);
  assert.equal(s.value('lafsd_backend_errors_total', { operation: 'stat', code: 'other' }), 1);
  assert.equal(s.value('lafsd_backend_errors_total'), 2);
});

test('audit events, logins and defender decisions land in bounded label sets', async () => {
  const m = new Metrics('embedded', { version: 'test' });
  m.audit('sftp', { op: 'commit', path: 'a', bytes: 10, received: 4, ms: 20, result: 'ok' });
  m.audit('sftp', { op: 'commit', path: 'b', bytes: 10, received: 6, ms: 3000, result: 'NO_SPACE' });
  m.audit('ftp', { op: 'read', path: 'c', bytes: 99, ms: 1, result: 'ok' });
  m.audit('ftp', { op: 'mkdir', path: 'd', ms: 1, result: 'ok' });
  m.audit('ftp', { op: 'something-new', path: 'e', ms: 1, result: 'EXISTS' });
  const login = m.loginObserver('sftp');
  login('publickey', 'ok');
  login('hostbased', 'refused');
  const inner = new LoginDefender({ threshold: 6, logger: new RecordingLogger() });
  const defender = m.defender(inner, 'ftp');
  assert.equal(defender.admission('192.0.2.1'), 'ok');
  defender.recordFailure('192.0.2.1', 'bad-password');
  defender.recordFailure('192.0.2.1', 'bad-password'); // 6 points: banned
  defender.recordFailure('192.0.2.1', 'grace-timeout'); // already banned: no second ban
  assert.equal(defender.admission('192.0.2.1'), 'banned');
  m.watchDefender(inner);
  const s = await scrapeOf(m);
  assert.equal(s.value('lafsd_transfers_total', { frontend: 'sftp', direction: 'upload', result: 'ok' }), 1);
  assert.equal(s.value('lafsd_transfers_total', { frontend: 'sftp', direction: 'upload', result: 'error' }), 1);
  assert.equal(s.value('lafsd_transfer_bytes_total', { frontend: 'sftp', direction: 'upload' }), 10, 'bytes received, not file sizes');
  assert.equal(s.value('lafsd_transfer_bytes_total', { frontend: 'ftp', direction: 'download' }), 99);
  assert.equal(s.value('lafsd_commit_duration_seconds_bucket', { frontend: 'sftp', result: 'ok', le: '0.025' }), 1);
  assert.equal(s.value('lafsd_commit_duration_seconds_bucket', { frontend: 'sftp', result: 'error', le: '2.5' }), 0);
  assert.equal(s.value('lafsd_commit_duration_seconds_bucket', { frontend: 'sftp', result: 'error', le: '5' }), 1);
  assert.equal(s.value('lafsd_operations_total', { operation: 'mkdir', result: 'ok' }), 1);
  assert.equal(s.value('lafsd_operations_total', { operation: 'other', result: 'error' }), 1);
  assert.equal(s.value('lafsd_logins_total', { method: 'other', result: 'refused' }), 1);
  assert.equal(s.value('lafsd_connections_total', { frontend: 'ftp', result: 'accepted' }), 1);
  assert.equal(s.value('lafsd_connections_total', { frontend: 'ftp', result: 'banned' }), 1);
  assert.equal(s.value('lafsd_auth_failures_total', { reason: 'bad_password' }), 2);
  assert.equal(s.value('lafsd_auth_failures_total', { reason: 'grace_timeout' }), 1);
  assert.equal(s.value('lafsd_bans_total'), 1);
  assert.equal(s.value('lafsd_banned_addresses'), 1);
  assert.equal(s.value('lafsd_open_connections'), 1, 'the one admitted, not closed yet');
  // Series exist at 0 before anything happens, so rate() sees the first event.
  assert.ok(s.samples.has('lafsd_logins_total{frontend="ftp",method="password",result="ok"}'));
  assert.ok(!s.text.includes('192.0.2.1') && !s.text.includes('something-new') && !s.text.includes('hostbased'));
});

test('password checks running and waiting show at each scrape', async () => {
  const m = new Metrics('embedded', { version: 'test' });
  const idle = await scrapeOf(m);
  assert.deepEqual([idle.value('lafsd_password_checks', { state: 'running' }), idle.value('lafsd_password_checks', { state: 'waiting' })], [0, 0]);
  const stored = await hashPassword('pw');
  const checks = [verifyPassword(stored, 'pw'), verifyPassword(stored, 'no'), verifyPassword(stored, 'pw')];
  const busy = await scrapeOf(m);
  assert.deepEqual([busy.value('lafsd_password_checks', { state: 'running' }), busy.value('lafsd_password_checks', { state: 'waiting' })], [1, 2]);
  assert.deepEqual(await Promise.all(checks), [true, false, true]);
});

test('sampled() keeps a slow answer ten times as long as it took, and shares one read between callers', async () => {
  let reads = 0;
  let delay = 0;
  const read = sampled(async () => {
    reads += 1;
    await new Promise((r) => setTimeout(r, delay));
    return reads;
  }, 50);
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  assert.deepEqual(await Promise.all([read(), read()]), [1, 1], 'concurrent callers share one read');
  assert.equal(await read(), 1, 'fresh within the minimum (50 ms)');
  await sleep(300);
  delay = 100;
  assert.equal(await read(), 2, 'read again once the minimum is over');
  await sleep(300);
  assert.equal(await read(), 2, 'a 100 ms read is kept for about a second');
  await sleep(900);
  assert.equal(await read(), 3);
});

test('status listener: healthz always, readyz by state and probe, metrics, 404 and 405', async () => {
  let readiness: string | undefined = 'starting: the listeners are not bound yet';
  const status = await startStatusServer({
    host: '127.0.0.1',
    port: 0,
    logger: new RecordingLogger(),
    source: { readiness: async () => readiness, metrics: async () => ({ contentType: 'text/plain; version=0.0.4', body: 'x_total 1\n' }) },
  });
  try {
    const port = status.address.port;
    assert.deepEqual(await answer(port, '/healthz'), [200, 'ok\n']);
    assert.deepEqual(await answer(port, '/readyz'), [503, 'not ready: starting: the listeners are not bound yet\n']);
    readiness = undefined;
    assert.deepEqual(await answer(port, '/readyz?verbose'), [200, 'ready\n']);
    readiness = 'the store at URI:DIR2:abc is gone';
    assert.deepEqual(await answer(port, '/readyz'), [503, 'not ready: the store at [cap] is gone\n'], 'caps never leave');
    assert.deepEqual(await answer(port, '/metrics'), [200, 'x_total 1\n']);
    assert.equal((await httpGet(port, '/nope')).status, 404);
    const post = await httpGet(port, '/healthz', 'DELETE');
    assert.deepEqual([post.status, post.headers.allow], [405, 'GET, HEAD']);
  } finally {
    await status.close();
  }
});

async function answer(port: number, path: string): Promise<[number, string]> {
  const r = await httpGet(port, path);
  return [r.status, r.body];
}

test('node lock: one holder at a time, PID file while held, free again after release', () => {
  const base = tempDir();
  const dirs = lockedDirs(`${base}/node`, `${base}/node/storage`);
  assert.deepEqual(dirs, [`${base}/node`, `${base}/node/storage`]);
  assert.deepEqual(lockedDirs(`${base}/node`, `${base}/node`), [`${base}/node`]);
  const lock = lockDirs(dirs);
  assert.equal(readPidFile(dirs[0]!), process.pid);
  assert.equal(readPidFile(dirs[1]!), process.pid);
  // A second holder is refused, also when only the store is shared (another node, same store).
  for (const other of [dirs, [`${base}/other`, dirs[1]!]]) {
    assert.throws(() => lockDirs(other), (e: unknown) => e instanceof NodeLockedError && e.pid === process.pid && /PID \d+/.test(e.message));
  }
  assert.equal(readPidFile(`${base}/other`), undefined, 'a refused attempt leaves no PID file behind');
  assert.equal(isLocked(dirs[0]!), true);
  lock.release();
  lock.release();
  assert.deepEqual(readdirSync(dirs[0]!).sort(), ['storage'], 'a clean stop removes the lock and PID files');
  assert.deepEqual(readdirSync(dirs[1]!), []);
  assert.equal(isLocked(dirs[0]!), false);
  // A lock file left by a killed holder is taken over; a look (owner: false) changes nothing.
  writeFileSync(join(dirs[0]!, 'lafsd.lock'), '');
  lockDirs([dirs[0]!], { owner: false }).release();
  assert.deepEqual(readdirSync(dirs[0]!).sort(), ['lafsd.lock', 'storage']);
  lockDirs(dirs).release();
});

test('store gauges: one read per scrape for the three of them; a failed read is NaN, not 0', async () => {
  let reads = 0;
  let fail = false;
  const m = new Metrics('embedded', { version: 'test' });
  m.watchStore(async () => {
    reads += 1;
    if (fail) throw new Error('statfs: ENOENT');
    return { freeBytes: 1000, sizeBytes: 200, objects: 3 };
  });
  const s = await scrapeOf(m);
  assert.deepEqual(['lafsd_store_free_bytes', 'lafsd_store_size_bytes', 'lafsd_store_objects'].map((n) => s.value(n)), [1000, 200, 3]);
  assert.equal(reads, 1);
  fail = true;
  await new Promise((r) => setTimeout(r, 1100));
  const broken = await scrapeOf(m);
  assert.ok(Number.isNaN(broken.value('lafsd_store_free_bytes')) && Number.isNaN(broken.value('lafsd_store_objects')));
  assert.equal(reads, 2);
});
