// The metrics and health listener of a real `lafsd run` (issue #12), scraped while real clients
// work: OpenSSH sftp uploads, curl FTP downloads and uploads, an ssh2 session held open, wrong
// passwords up to a ban. Every counter must move by exactly what the clients did, and no series
// may carry a user name, path, address or cap.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { OpenFlags } from '../../src/sftp/index.js';
import { pseudoRandom, sha256 } from '../helpers/data.js';
import { ftpUrlOf, startLafsd, sshOptions } from '../helpers/lafsd.js';
import { eventually, httpGet, scrape, type Scrape } from '../helpers/metrics.js';
import { run } from '../helpers/run.js';
import { keyUserSftpSession } from '../helpers/sftp-client.js';
import { tempDir } from '../helpers/tmp.js';
import { curl } from './ftp-harness.js';

const node = await startLafsd({
  backend: 'embedded',
  config: {
    lafsd: 'metrics = tcp:0:interface=127.0.0.1',
    // Two wrong passwords (3 points each) ban the address, briefly: the last test bans 127.0.0.1.
    auth: 'defender.threshold = 6\ndefender.ban_time = 3s\ndefender.ban_time_max = 3s',
  },
});
const port = node.metricsPort!;
const local = tempDir('lafsd-metrics-it-');
const ftp = (path: string, password = node.password) => ftpUrlOf(node, path, password);

/** `after` minus `before` for one series (summed over the labels not given). */
function delta(before: Scrape, after: Scrape, name: string, labels: Record<string, string> = {}): number {
  return after.value(name, labels) - before.value(name, labels);
}

const sftpSession = () => keyUserSftpSession(node);

test('the listener answers /healthz, /readyz and /metrics; other paths and methods are refused', async () => {
  assert.deepEqual([(await httpGet(port, '/healthz')).status, (await httpGet(port, '/healthz')).body], [200, 'ok\n']);
  const ready = await httpGet(port, '/readyz');
  assert.deepEqual([ready.status, ready.body], [200, 'ready\n']);
  const m = await httpGet(port, '/metrics');
  assert.equal(m.status, 200);
  assert.match(String(m.headers['content-type']), /^text\/plain; version=0\.0\.4/);
  assert.equal((await httpGet(port, '/')).status, 404);
  assert.equal((await httpGet(port, '/metrics', 'POST')).status, 405);
  const head = await httpGet(port, '/readyz', 'HEAD');
  assert.deepEqual([head.status, head.body], [200, '']);
  const s = await scrape(port);
  assert.equal(s.value('lafsd_build_info', { version: JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')).version, backend: 'embedded' }), 1);
  for (const name of ['process_cpu_seconds_total', 'process_resident_memory_bytes', 'nodejs_eventloop_lag_seconds', 'lafsd_store_free_bytes']) {
    assert.ok(s.has(name), `${name} is exported`);
  }
  assert.ok(s.value('lafsd_store_free_bytes') > 0);
});

test('real transfers move the counters by exactly what the clients did', async () => {
  const a = pseudoRandom('metrics-a', 70_000); // below one segment: a small object in the database
  const b = pseudoRandom('metrics-b', 1_000_000); // an object file
  const c = Buffer.from('ten bytes\n'); // a LIT cap: no object at all
  writeFileSync(join(local, 'a.bin'), a);
  writeFileSync(join(local, 'b.bin'), b);
  writeFileSync(join(local, 'c.txt'), c);
  writeFileSync(join(local, 'batch'), 'mkdir d\nput a.bin d/a.bin\nput b.bin b.bin\n');
  const before = await scrape(port);

  const up = await run('sftp', [...sshOptions(node), '-b', join(local, 'batch'), `${node.keyUser}@127.0.0.1`], { cwd: local, timeoutMs: 60_000 });
  assert.equal(up.code, 0, up.stderr);
  const down = await curl([ftp('/b.bin')]);
  assert.equal(down.code, 0, down.stderr);
  assert.equal(sha256(down.stdout), sha256(b));
  const put = await curl(['-T', join(local, 'c.txt'), ftp('/c.txt')]);
  assert.equal(put.code, 0, put.stderr);

  const after = await eventually(port, (s) => {
    assert.ok(delta(before, s, 'lafsd_store_objects') >= 2, 'the two new objects are counted');
  });
  const d = (name: string, labels: Record<string, string> = {}) => delta(before, after, name, labels);
  assert.equal(d('lafsd_connections_total', { frontend: 'sftp', result: 'accepted' }), 1);
  assert.equal(d('lafsd_connections_total', { frontend: 'ftp', result: 'accepted' }), 2);
  assert.equal(d('lafsd_logins_total', { frontend: 'sftp', method: 'publickey', result: 'ok' }), 1);
  assert.equal(d('lafsd_logins_total', { frontend: 'ftp', method: 'password', result: 'ok' }), 2);
  assert.equal(d('lafsd_logins_total', { result: 'refused', method: 'password' }), 0);
  // The second curl's password was verified at the first's login.
  assert.equal(d('lafsd_password_verifications_total'), 2);
  assert.ok(d('lafsd_password_verifications_total', { how: 'remembered' }) >= 1);
  assert.equal(d('lafsd_transfers_total', { frontend: 'sftp', direction: 'upload', result: 'ok' }), 2);
  assert.equal(d('lafsd_transfer_bytes_total', { frontend: 'sftp', direction: 'upload' }), a.length + b.length);
  assert.equal(d('lafsd_transfers_total', { frontend: 'ftp', direction: 'upload', result: 'ok' }), 1);
  assert.equal(d('lafsd_transfer_bytes_total', { frontend: 'ftp', direction: 'upload' }), c.length);
  assert.equal(d('lafsd_transfers_total', { frontend: 'ftp', direction: 'download', result: 'ok' }), 1);
  assert.equal(d('lafsd_transfer_bytes_total', { frontend: 'ftp', direction: 'download' }), b.length);
  assert.equal(d('lafsd_transfers_total', { result: 'error' }), 0);
  assert.equal(d('lafsd_commit_duration_seconds_count', { frontend: 'sftp', result: 'ok' }), 2);
  assert.equal(d('lafsd_commit_duration_seconds_count', { frontend: 'ftp', result: 'ok' }), 1);
  assert.ok(d('lafsd_commit_duration_seconds_sum') > 0);
  assert.equal(d('lafsd_operations_total', { frontend: 'sftp', operation: 'mkdir', result: 'ok' }), 1);
  assert.ok(d('lafsd_backend_request_duration_seconds_count', { backend: 'embedded', operation: 'upload' }) >= 3);
  assert.ok(d('lafsd_backend_request_duration_seconds_count', { backend: 'embedded', operation: 'read' }) >= 1);
  assert.ok(d('lafsd_store_size_bytes') >= a.length + b.length, `the store grew by ${d('lafsd_store_size_bytes')} bytes`);
  // Sessions ended with their clients.
  assert.equal(after.value('lafsd_sessions'), 0);
  assert.equal(after.value('lafsd_open_handles'), 0);
  // Bounded labels only: nothing about who, where or what.
  for (const secret of [node.user, node.keyUser, node.password, 'URI:', 'a.bin', 'b.bin', 'c.txt', '127.0.0.1']) {
    assert.equal(after.text.includes(secret), false, `${secret} appears in /metrics`);
  }
});

// A download's runs of file data (896 KiB each) are read into buffers that come back to the store
// once the client has been sent their bytes (grid/embedded/buffer-pool.ts): 45 runs here, of
// which only the few in flight at once need buffers of their own.
test('SFTP and FTP downloads give their buffers back: the store reuses them rather than make one per run', async () => {
  const big = pseudoRandom('metrics-runs', 40 * 1024 * 1024 + 5);
  writeFileSync(join(local, 'runs.bin'), big);
  writeFileSync(join(local, 'runs-batch'), 'put runs.bin runs.bin\n');
  const up = await run('sftp', [...sshOptions(node), '-b', join(local, 'runs-batch'), `${node.keyUser}@127.0.0.1`], { cwd: local, timeoutMs: 60_000 });
  assert.equal(up.code, 0, up.stderr);
  const newAndReused = (a: Scrape, b: Scrape) => [delta(a, b, 'lafsd_store_read_buffers_total', { source: 'new' }), delta(a, b, 'lafsd_store_read_buffers_total', { source: 'reused' })];

  const s0 = await scrape(port);
  writeFileSync(join(local, 'runs-get'), `get runs.bin ${join(local, 'runs-back.bin')}\n`);
  const get = await run('sftp', [...sshOptions(node), '-b', join(local, 'runs-get'), `${node.keyUser}@127.0.0.1`], { cwd: local, timeoutMs: 60_000 });
  assert.equal(get.code, 0, get.stderr);
  assert.equal(sha256(readFileSync(join(local, 'runs-back.bin'))), sha256(big));
  const s1 = await scrape(port);
  const [sftpNew, sftpReused] = newAndReused(s0, s1);
  assert.ok(sftpNew + sftpReused >= 45, `SFTP: ${sftpNew} new and ${sftpReused} reused buffers for 46 runs`);
  assert.ok(sftpReused >= 30, `SFTP: ${sftpNew} new and ${sftpReused} reused buffers for 46 runs`);

  const down = await curl([ftp('/runs.bin')]);
  assert.equal(down.code, 0, down.stderr);
  assert.equal(sha256(down.stdout), sha256(big));
  const [ftpNew, ftpReused] = newAndReused(s1, await scrape(port));
  assert.ok(ftpReused >= 35 && ftpNew <= 8, `FTP: ${ftpNew} new and ${ftpReused} reused buffers for 46 runs`);
});

test('open sessions and open files are gauges: up while a client holds them, down when it leaves', async () => {
  const { client, c } = await sftpSession();
  try {
    await eventually(port, (s) => assert.deepEqual([s.value('lafsd_sessions', { frontend: 'sftp' }), s.value('lafsd_open_handles')], [1, 0]));
    const w = await c.open('held.bin', OpenFlags.WRITE | OpenFlags.CREAT | OpenFlags.TRUNC);
    const r = await c.open('b.bin', OpenFlags.READ);
    await c.write(w, 0, 'held');
    const s = await scrape(port);
    assert.deepEqual([s.value('lafsd_sessions', { frontend: 'sftp' }), s.value('lafsd_open_handles', { frontend: 'sftp' })], [1, 2]);
    assert.equal(s.value('lafsd_open_connections'), 1, 'the one SSH connection, counted until it closes');
    await c.close(w);
    await c.close(r);
    assert.equal((await scrape(port)).value('lafsd_open_handles'), 0);
  } finally {
    client.end();
  }
  await eventually(port, (s) => assert.deepEqual([s.value('lafsd_sessions'), s.value('lafsd_open_connections')], [0, 0]));
});

// A commit with no upload open syncs the index's log on the event loop when the disk is fast
// (grid/embedded/group-sync.ts); while any session has an upload open, commits wait for the
// thread pool's syncs, which they share.
test('the store\'s log syncs: none on the event loop while another session has an upload open', async () => {
  for (const i of [1, 2, 3]) writeFileSync(join(local, `sync-${i}.bin`), pseudoRandom(`sync-${i}`, 4096));
  const upload = async (name: string) => {
    const r = await curl(['-T', join(local, name), ftp(`/${name}`)]);
    assert.equal(r.code, 0, r.stderr);
  };
  const { client, c } = await sftpSession();
  try {
    const w = await c.open('open-upload.bin', OpenFlags.WRITE | OpenFlags.CREAT | OpenFlags.TRUNC);
    await c.write(w, 0, 'an upload under way');
    const before = await scrape(port);
    for (const i of [1, 2, 3]) await upload(`sync-${i}.bin`);
    const beside = await scrape(port);
    assert.equal(delta(before, beside, 'lafsd_store_log_syncs_total', { thread: 'event_loop' }), 0);
    assert.ok(delta(before, beside, 'lafsd_store_log_syncs_total', { thread: 'pool' }) >= 1);
    await c.close(w);
    // Alone now: each commit has its own sync, wherever it runs (the event loop on a fast disk).
    for (const i of [1, 2, 3]) await upload(`sync-${i}.bin`);
    assert.ok(delta(beside, await scrape(port), 'lafsd_store_log_syncs_total') >= 3);
  } finally {
    client.end();
  }
});

// While two sessions change things side by side, neither syncs on the event loop: the store
// cannot see the other's commit coming (vfs/change-activity.ts).
test('the store\'s log syncs: none on the event loop while two sessions change things side by side', async () => {
  const { client, c } = await sftpSession();
  try {
    const before = await scrape(port);
    for (const i of [1, 2, 3, 4]) {
      await c.ok({ type: 'mkdir', path: Buffer.from(`side-sftp-${i}`), attrs: {} });
      const r = await curl(['-Q', `MKD /side-ftp-${i}`, ftp('/')]);
      assert.equal(r.code, 0, r.stderr);
    }
    const after = await scrape(port);
    assert.equal(delta(before, after, 'lafsd_store_log_syncs_total', { thread: 'event_loop' }), 0);
    assert.ok(delta(before, after, 'lafsd_store_log_syncs_total', { thread: 'pool' }) >= 8, 'a sync for each mkdir, one at a time');
  } finally {
    client.end();
  }
});

// An SFTP client may send the removals of several files without waiting for the replies; the
// session runs them side by side (sftp/ordering.ts), and their commits share syncs.
test('the store\'s log syncs: removals sent together by one session share their syncs', async () => {
  const { client, c } = await sftpSession();
  try {
    const names = Array.from({ length: 8 }, (_, i) => `together-${i}.bin`);
    for (const name of names) await c.writeFile(name, pseudoRandom(name, 4096));
    const before = await scrape(port);
    await Promise.all(names.map((name) => c.ok({ type: 'remove', path: Buffer.from(name) })));
    const after = await scrape(port);
    const syncs = delta(before, after, 'lafsd_store_log_syncs_total');
    assert.ok(syncs >= 1 && syncs < names.length, `${syncs} syncs for ${names.length} removals sent together`);
    for (const name of names) await assert.rejects(c.stat(name));
  } finally {
    client.end();
  }
});

test('wrong passwords are counted, and the ban they cause shows as a ban, a banned address and refused connections', async () => {
  const before = await scrape(port);
  const wrong = await curl([ftp('/', 'not the password')]);
  assert.equal(wrong.code, 67, `curl: login denied (${wrong.stderr})`);
  const mid = await scrape(port);
  assert.equal(delta(before, mid, 'lafsd_bans_total'), 0);
  await curl([ftp('/', 'still not it')]); // the second failure reaches the threshold
  const refused = await curl([ftp('/')]);
  assert.notEqual(refused.code, 0, 'the banned address cannot even log in with the right password');
  const after = await scrape(port);
  const d = (name: string, labels: Record<string, string> = {}) => delta(before, after, name, labels);
  assert.equal(d('lafsd_logins_total', { frontend: 'ftp', method: 'password', result: 'refused' }), 2);
  assert.equal(d('lafsd_auth_failures_total', { frontend: 'ftp', reason: 'bad_password' }), 2);
  assert.equal(d('lafsd_password_verifications_total', { how: 'hashed' }), 2, 'a wrong password is never remembered');
  assert.equal(d('lafsd_bans_total'), 1);
  assert.equal(after.value('lafsd_banned_addresses'), 1);
  assert.equal(d('lafsd_connections_total', { frontend: 'ftp', result: 'banned' }), 1);
  // The ban ends by itself (3 s); leave the address usable.
  await eventually(port, (s) => assert.equal(s.value('lafsd_banned_addresses'), 0), 10_000);
});

test('the server printed no warning of Node.js (deprecations and the like) while all this ran', () => {
  assert.doesNotMatch(node.log(), /Warning:/);
});
