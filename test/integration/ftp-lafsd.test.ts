// Smoke test of the FTP frontend through the real `lafsd run` (CLI, config, server wiring):
// curl, lftp and basic-ftp against the node's FTP port, the log lines it promises, a clean stop.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from 'basic-ftp';
import { pseudoRandom } from '../helpers/data.js';
import { ftpUrlOf, startLafsd } from '../helpers/lafsd.js';
import { tempDir } from '../helpers/tmp.js';
import { HOST, RawFtp, curl, lftp, run } from './ftp-harness.js';

test('lafsd run: FTP upload, download, listing, lftp and basic-ftp, logs without caps, clean stop', async () => {
  const node = await startLafsd();
  assert.ok(node.ftpPort, 'the default node serves FTP');
  const user = { user: node.user, password: node.password };
  const url = (p: string) => ftpUrlOf(node, p);
  const dir = tempDir('lafsd-ftp-smoke-');
  const data = pseudoRandom('smoke', 2_000_000);
  writeFileSync(join(dir, 'up.bin'), data);
  const up = await curl(['--ftp-create-dirs', '-T', join(dir, 'up.bin'), url('/smoke/ünï.bin')]);
  assert.equal(up.code, 0, up.stderr);
  const down = await curl([url('/smoke/ünï.bin')]);
  assert.deepEqual(down.stdout, data);
  const nlst = await curl(['-l', url('/smoke/')]);
  assert.match(nlst.stdout.toString(), /^ünï\.bin\r?\n$/);
  const l = await lftp(node.ftpPort!, user, `cd smoke; cls -l; get ünï.bin -o ${JSON.stringify(join(dir, 'l.bin'))}`);
  assert.equal(l.code, 0, l.stderr);
  assert.deepEqual(readFileSync(join(dir, 'l.bin')), data);
  const client = new Client(15_000);
  try {
    await client.access({ host: HOST, port: node.ftpPort!, user: node.user, password: node.password });
    const [entry] = await client.list('/smoke');
    assert.equal(entry!.name, 'ünï.bin');
    assert.equal(entry!.size, data.length);
  } finally {
    client.close();
  }
  // lftp exactly as installed (it would try AUTH TLS and refuse a self-signed certificate):
  // a fresh node must work with it out of the box.
  const stock = await run('lftp', ['-u', `${node.user},${node.password}`, '-p', String(node.ftpPort), '-e', 'set cmd:fail-exit true; set net:max-retries 1; cls smoke; quit', HOST], { timeoutMs: 60_000 });
  assert.equal(stock.code, 0, stock.stderr);
  assert.match(stock.stdout.toString(), /ünï\.bin/);
  const refused = await curl([`ftp://${node.user}:wrong@${HOST}:${node.ftpPort}/`]);
  assert.equal(refused.code, 67, 'curl: login denied');
  const log = node.log();
  assert.match(log, /"msg":"ftp login"/);
  assert.match(log, /"msg":"ftp transfer"/);
  assert.ok(!log.includes(node.rootCap), 'no cap in the log');
  assert.ok(!log.includes(node.password), 'no password in the log');
  assert.equal(await node.stop('SIGTERM'), 0);
});

test('lafsd run: one line turns on explicit and implicit FTPS with the certificate lafsd init made', async () => {
  const node = await startLafsd({ rewriteConfig: (cfg) => cfg.replace(/^tls = off$/m, 'tls = optional\nimplicit_port = tcp:0:interface=127.0.0.1') });
  assert.match(readFileSync(join(node.basedir, 'tahoe.cfg'), 'utf8'), /^tls = optional$/m);
  assert.ok(node.ftpsPort, 'the implicit FTPS listener reported its port');
  const dir = tempDir('lafsd-ftps-smoke-');
  writeFileSync(join(dir, 'up.txt'), 'over TLS\n');
  const creds = `${node.user}:${encodeURIComponent(node.password)}`;
  const up = await curl(['--ssl-reqd', '-k', '-T', join(dir, 'up.txt'), `ftp://${creds}@${HOST}:${node.ftpPort}/tls.txt`]);
  assert.equal(up.code, 0, up.stderr);
  const down = await curl(['-k', `ftps://${creds}@${HOST}:${node.ftpsPort}/tls.txt`]);
  assert.equal(down.code, 0, down.stderr);
  assert.equal(down.stdout.toString(), 'over TLS\n');
  assert.equal(await node.stop('SIGTERM'), 0);
});

// curl 7.88 (Debian 12) stalls for one second when a same-host server's EPSV answer is already
// there at its first look after sending EPSV (src/ftp/session.ts, sameHostPause): without the
// pause, 11-32 of these 800 transfers stalled in one session's four runs and 0-19 in another's
// (33-115 in the bench's rounds, at a lower log level). The pause sleeps on the thread pool, so
// the event loop goes on serving meanwhile (util/pool-sleep.ts). On an idle machine it lets about
// one in 12,000 through; a loaded one can keep curl off the CPU for longer than the pause: with
// two other processes spinning, 12 in 16,000 got through, and CI, with another test file
// running, saw 4 in 800. So up to 1 in 100 is tolerated here; that the pause is there at all is
// checked exactly by ftp-commands.test.ts.
test('lafsd run: curl on the same host moves 800 small files over one connection without its one-second EPSV stall', async () => {
  await withSmallFileNode('epsv', async (url, file) => {
    const times: number[] = [];
    for (const direction of ['up', 'down']) {
      const each = await curlTimes(Array.from({ length: 400 }, () => (direction === 'up' ? ['-T', file, url('/small.bin')] : [url('/small.bin'), '-o', '/dev/null'])));
      times.push(...each);
    }
    const stalls = times.filter((s) => s >= 0.9);
    assert.ok(stalls.length <= 8, `${stalls.length} of 800 transfers took a second or more`);
  });
});

// Where curl sends a CWD before each EPSV (files in two folders, taken in turns), lafsd answers
// the EPSV at once (src/ftp/curl-stall.ts): curl 7.88 cannot stall there. Measured with no pause
// at all: 0 stalls in 1,600 such transfers, against ~20 in 400 from one folder.
test('lafsd run: curl on the same host alternating between two folders gets no one-second stall either', async () => {
  await withSmallFileNode('cwd', async (url, file) => {
    const made = await curl(['--ftp-create-dirs', '-T', file, url('/a/small.bin'), '-T', file, url('/b/small.bin')]);
    assert.equal(made.code, 0, made.stderr);
    const times = await curlTimes(Array.from({ length: 400 }, (_, i) => [url(i % 2 ? '/b/small.bin' : '/a/small.bin'), '-o', '/dev/null']));
    const stalls = times.filter((s) => s >= 0.9);
    assert.ok(stalls.length <= 4, `${stalls.length} of 400 transfers took a second or more`);
  });
});

// Every login costs one password hash (~60 ms of CPU on libuv's pool, which also seals and reads
// every transfer's data; a refusal costs one too). Checked one at a time, a flood of logins
// cannot fill the pool: six loops of logins made a 512 MiB download 20 times slower before
// (src/auth/passwords.ts), 2-3 times after. The bound here is loose for loaded machines.
test('lafsd run: a flood of logins does not starve a download', async () => {
  const node = await startLafsd({ env: { LAFSD_LOG_LEVEL: 'info' } });
  const url = (p: string) => ftpUrlOf(node, p);
  const file = join(tempDir('lafsd-ftp-flood-'), 'big.bin');
  writeFileSync(file, pseudoRandom('flood', 128 * 1024 * 1024));
  const up = await curl(['-T', file, url('/big.bin')], { timeoutMs: 120_000 });
  assert.equal(up.code, 0, up.stderr);
  const download = async () => {
    const t0 = performance.now();
    const got = await curl([url('/big.bin'), '-o', '/dev/null'], { timeoutMs: 120_000 });
    assert.equal(got.code, 0, got.stderr);
    return (performance.now() - t0) / 1000;
  };
  await download(); // warm
  const alone = Math.min(await download(), await download());
  let flooding = true;
  let logins = 0;
  const loop = async () => {
    while (flooding) {
      const c = await RawFtp.open(node.ftpPort!);
      await c.login({ user: node.user, password: node.password });
      logins++;
      c.close();
    }
  };
  const loops = Array.from({ length: 6 }, loop);
  await new Promise((r) => setTimeout(r, 300));
  const flooded = await download();
  flooding = false;
  await Promise.all(loops);
  assert.ok(logins > 0);
  assert.ok(flooded < 5 * alone + 1.5, `download: ${flooded.toFixed(2)} s beside ${logins} logins, ${alone.toFixed(2)} s alone`);
  assert.equal(await node.stop('SIGTERM'), 0);
});

/** A `lafsd run` at the default log level and a 4 KiB file to move; stopped cleanly afterwards. */
async function withSmallFileNode(name: string, use: (url: (path: string) => string, file: string) => Promise<void>): Promise<void> {
  // At the default log level: the tests' debug lines slow each answer enough to hide the stall.
  const node = await startLafsd({ env: { LAFSD_LOG_LEVEL: 'info' } });
  const url = (p: string) => ftpUrlOf(node, p);
  const file = join(tempDir(`lafsd-ftp-${name}-`), 'small.bin');
  writeFileSync(file, pseudoRandom(name, 4096));
  await use(url, file);
  assert.equal(await node.stop('SIGTERM'), 0);
}

/** One curl run of `transfers` (each its own URL and options): every transfer's seconds. */
async function curlTimes(transfers: string[][]): Promise<number[]> {
  const got = await curl(['-w', '%{time_total}\\n', ...transfers.flat()], { timeoutMs: 120_000 });
  assert.equal(got.code, 0, got.stderr);
  const times = got.stdout.toString().trim().split('\n').map(Number);
  assert.equal(times.length, transfers.length);
  return times;
}
