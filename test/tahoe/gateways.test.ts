// Several gateways on one grid (README, "Several gateways"): two `lafsd run` with the same
// accounts and host key, as behind a TCP load balancer, first on one Tahoe-LAFS client node,
// then on two client nodes of one grid (the second started here with the grid's own tahoe, its
// directory changes sent to the first node with webapi.directory_url). A change made through one
// gateway shows through the other within the listing cache time (3 s), and concurrent uploads
// and mkdirs into one directory through both, with curl (FTP) and OpenSSH sftp, lose no entry.
// Opt-in lane: skipped without a real grid.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pseudoRandom } from '../helpers/data.js';
import { startGateway, startLafsd, type Lafsd, type RunningLafsd } from '../helpers/lafsd.js';
import { run } from '../helpers/run.js';
import { realGridOrSkip, skipReason, startExtraClient } from '../helpers/tahoe-grid.js';
import { tempDir } from '../helpers/tmp.js';

/** lafsd's listing cache (src/grid/webapi/grid.ts DEFAULTS.cacheTtlMs), as the README documents it. */
const CACHE_MS = 3000;

const grid = await realGridOrSkip();

interface Gateway {
  name: string;
  ftpPort: number;
  sftpPort: number;
}

function ftpUrl(g: Gateway, first: Lafsd, path: string): string {
  return `ftp://${first.user}:${encodeURIComponent(first.password)}@127.0.0.1:${g.ftpPort}${path}`;
}

async function curl(args: string[], input?: Buffer): Promise<{ code: number | null; out: string; err: string }> {
  const r = await run('curl', ['-sS', '--connect-timeout', '10', '--max-time', '120', ...args], { timeoutMs: 150_000, ...(input ? { input } : {}) });
  return { code: r.code, out: r.stdout.toString(), err: r.stderr };
}

async function names(g: Gateway, first: Lafsd, dir: string): Promise<string[]> {
  const r = await curl(['-l', ftpUrl(g, first, `/${dir}/`)]);
  assert.equal(r.code, 0, `${g.name} NLST ${dir}: ${r.err}`);
  return r.out.split(/\r?\n/).filter(Boolean).sort();
}

/** Polls a gateway's listing until `want` holds; returns the time it took from `since`. */
async function seenWithin(g: Gateway, first: Lafsd, dir: string, since: number, want: (n: string[]) => boolean): Promise<number> {
  for (;;) {
    if (want(await names(g, first, dir))) return Date.now() - since;
    assert.ok(Date.now() - since < CACHE_MS + 15_000, `${g.name} never showed the change`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** One sftp batch as the key account. */
async function sftp(g: Gateway, first: Lafsd, cwd: string, lines: string[]): Promise<void> {
  const batch = join(cwd, `batch-${g.name}-${Math.random().toString(36).slice(2)}`);
  writeFileSync(batch, `${lines.join('\n')}\n`);
  const r = await run('sftp', [
    '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'BatchMode=yes', '-o', 'LogLevel=ERROR',
    '-i', first.keyFile, '-P', String(g.sftpPort), '-b', batch, `${first.keyUser}@127.0.0.1`,
  ], { cwd, timeoutMs: 180_000 });
  assert.equal(r.code, 0, `${g.name} sftp: ${r.stderr}`);
}

async function twoGateways(first: Lafsd, second: RunningLafsd): Promise<void> {
  const g1: Gateway = { name: 'gateway 1', ftpPort: first.ftpPort!, sftpPort: first.sftpPort };
  const g2: Gateway = { name: 'gateway 2', ftpPort: second.ftpPort!, sftpPort: second.sftpPort };
  const local = tempDir('lafsd-gateways-');
  const dir = `shared-${Date.now()}`;
  assert.equal((await curl(['-Q', `MKD ${dir}`, ftpUrl(g1, first, '/'), '-o', '/dev/null'])).code, 0);

  // Seen through the other gateway within the cache time: an upload, then a delete.
  assert.deepEqual(await names(g2, first, dir), []);
  assert.equal((await curl(['-T', '-', ftpUrl(g1, first, `/${dir}/one.txt`)], Buffer.from('one\n'))).code, 0);
  const shown = await seenWithin(g2, first, dir, Date.now(), (n) => n.includes('one.txt'));
  assert.ok(shown <= CACHE_MS + 2000, `an upload through gateway 1 showed through gateway 2 after ${shown} ms`);
  assert.equal((await curl([ftpUrl(g2, first, `/${dir}/one.txt`)])).out, 'one\n');
  assert.equal((await curl(['-Q', `DELE ${dir}/one.txt`, ftpUrl(g2, first, '/'), '-o', '/dev/null'])).code, 0);
  const gone = await seenWithin(g1, first, dir, Date.now(), (n) => !n.includes('one.txt'));
  assert.ok(gone <= CACHE_MS + 2000, `a delete through gateway 2 showed through gateway 1 after ${gone} ms`);

  // Concurrent uploads and mkdirs into the one directory, through both gateways at once.
  const expected: string[] = [];
  const work: Array<Promise<void>> = [];
  for (const g of [g1, g2]) {
    const tag = g === g1 ? 'a' : 'b';
    for (let p = 0; p < 3; p++) {
      const files = Array.from({ length: 5 }, (_, i) => `${tag}-curl${p}-${i}.bin`);
      expected.push(...files);
      for (const f of files) writeFileSync(join(local, f), pseudoRandom(f, 3000 + f.length));
      work.push(curl(files.flatMap((f) => ['-T', join(local, f), ftpUrl(g, first, `/${dir}/${f}`)])).then((r) => assert.equal(r.code, 0, `${g.name} curl: ${r.err}`)));
    }
    for (let s = 0; s < 2; s++) {
      const files = Array.from({ length: 5 }, (_, i) => `${tag}-sftp${s}-${i}.bin`);
      expected.push(...files);
      for (const f of files) writeFileSync(join(local, f), pseudoRandom(f, 3000 + f.length));
      work.push(sftp(g, first, local, files.map((f) => `put ${f} ${dir}/${f}`)));
    }
    const dirs = Array.from({ length: 4 }, (_, i) => `${tag}-dir${i}`);
    expected.push(...dirs);
    work.push(curl([...dirs.flatMap((d) => ['-Q', `MKD ${dir}/${d}`]), ftpUrl(g, first, '/'), '-o', '/dev/null']).then((r) => assert.equal(r.code, 0, `${g.name} MKD: ${r.err}`)));
  }
  const t0 = Date.now();
  await Promise.all(work);
  process.stdout.write(`# ${expected.length} concurrent changes of one directory through two gateways: ${Date.now() - t0} ms\n`);
  await new Promise((r) => setTimeout(r, CACHE_MS));
  for (const g of [g1, g2]) assert.deepEqual(await names(g, first, dir), [...expected].sort(), `${g.name}: every entry is there`);
  for (const f of [expected[0]!, expected[expected.length - 6]!]) {
    assert.deepEqual(Buffer.from((await run('curl', ['-sS', ftpUrl(g2, first, `/${dir}/${f}`)])).stdout), pseudoRandom(f, 3000 + f.length), f);
  }
}

if (!grid) {
  test('several gateways on a real Tahoe-LAFS grid', { skip: await skipReason() }, () => {});
} else {
  test('two gateways on one Tahoe node: changes seen through the other within the cache time, concurrent changes of one directory all kept', { timeout: 600_000 }, async () => {
    const first = await startLafsd({ backend: 'tahoe' });
    const second = await startGateway(first);
    await twoGateways(first, second);
  });

  test('two gateways on two client nodes of one grid (directory changes through one node): the same', { timeout: 600_000 }, async (t) => {
    const extra = await startExtraClient(grid);
    if (typeof extra === 'string') {
      t.skip(extra);
      return;
    }
    try {
      const first = await startLafsd({ backend: 'tahoe' });
      const second = await startGateway(first, { webapiUrl: extra.url, lafsd: `webapi.directory_url = ${grid.url}` });
      await twoGateways(first, second).catch((err: Error) => {
        const failed = second.log().split('\n').filter((l) => /"result":"(?!ok)|"level":[45]0/.test(l));
        err.message += `\ngateway 2 log:\n${failed.slice(-5).join('\n')}`;
        throw err;
      });
      await second.stop('SIGTERM');
    } finally {
      await extra.stop();
    }
  });
}
