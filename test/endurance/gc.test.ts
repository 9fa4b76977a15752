// Garbage collection as an operator uses it: the real `lafsd gc` command on real node
// directories, next to a real `lafsd run` serving SFTP uploads, with roots from the accounts
// file, the keep file and the account service. Grace periods are a second or two here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statfsSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import ssh2 from 'ssh2';
import { startAccountServer } from '../../examples/account-server/server.js';
import { EmbeddedGrid } from '../../src/grid/embedded/index.js';
import { readConvergenceSecret } from '../../src/node/nodedir.js';
import { lafsd, lafsdOk } from '../helpers/cli.js';
import { pseudoRandom, sha256 } from '../helpers/data.js';
import { get } from '../helpers/grid-io.js';
import { runLafsd, startLafsd, type RunningLafsd } from '../helpers/lafsd.js';
import { tempDir } from '../helpers/tmp.js';
import { flipEntryByte } from '../helpers/store-damage.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A fresh node (no server) with the given [lafsd] keys, and an account `alice`. */
async function newNode(lafsdKeys: string): Promise<{ base: string; root: string }> {
  const base = join(tempDir(), 'node');
  await lafsdOk(['init', base]);
  const cfg = join(base, 'tahoe.cfg');
  writeFileSync(cfg, readFileSync(cfg, 'utf8').replace(/^grid = embedded$/m, `grid = embedded\n${lafsdKeys}`));
  const root = (await lafsdOk(['add-user', base, 'alice', '--password', 'pw'])).stdout.toString().trim();
  return { base, root };
}

interface Line {
  dirs: number;
  entries: number;
  mutables: number;
  objects: number;
  bytes: number;
}

/** A counts line of `lafsd gc` output: `freed`, `would free`, `reachable` or `young`. */
function line(out: string, label: string): Line {
  const m = new RegExp(`^${label}:\\s+(\\d+) director(?:y|ies)(?: \\((\\d+) entr(?:y|ies)\\))?, (\\d+) mutable files?, (\\d+) objects?, (\\d+) bytes`, 'm').exec(out);
  assert.ok(m, `no "${label}" line in:\n${out}`);
  return { dirs: Number(m[1]), entries: Number(m[2] ?? 0), mutables: Number(m[3]), objects: Number(m[4]), bytes: Number(m[5]) };
}

function objectFiles(base: string): string[] {
  const dir = join(base, 'storage', 'objects');
  return readdirSync(dir).flatMap((p) => readdirSync(join(dir, p)).map((n) => join(dir, p, n)));
}

function storeBytes(base: string): number {
  const dir = join(base, 'storage');
  return objectFiles(base).reduce((sum, f) => sum + statSync(f).size, 0)
    + readdirSync(dir).filter((n) => n.startsWith('store.db')).reduce((sum, n) => sum + statSync(join(dir, n)).size, 0);
}

test('lafsd gc: a replaced file\'s space comes back after the grace period, not before; --dry-run changes nothing', async () => {
  const { base, root } = await newNode('gc.grace_period = 3s');
  const first = pseudoRandom('first', 1024 * 1024);
  await lafsdOk(['put', base, `${root}/f`], first);
  const second = pseudoRandom('second', 1024 * 1024);
  await lafsdOk(['put', base, `${root}/f`], second);
  const early = await lafsdOk(['gc', base]);
  assert.deepEqual(line(early.stdout.toString(), 'freed'), { dirs: 0, entries: 0, mutables: 0, objects: 0, bytes: 0 });
  assert.equal(line(early.stdout.toString(), 'young').objects, 1);
  assert.match(early.stdout.toString(), /^roots:\s+1 account, 0 kept caps, 0 account-service roots$/m);
  await sleep(3100);
  const filesBefore = objectFiles(base);
  const dry = await lafsdOk(['gc', base, '--dry-run']);
  assert.equal(line(dry.stdout.toString(), 'would free').objects, 1);
  assert.match(dry.stdout.toString(), /^dry run: +nothing was deleted$/m);
  assert.deepEqual(objectFiles(base), filesBefore);
  const real = await lafsdOk(['gc', base]);
  const freed = line(real.stdout.toString(), 'freed');
  assert.equal(freed.objects, 1);
  assert.ok(freed.bytes > 1024 * 1024, `${freed.bytes} bytes freed`);
  assert.deepEqual(freed, line(dry.stdout.toString(), 'would free'));
  assert.equal(objectFiles(base).length, filesBefore.length - 1);
  assert.equal(sha256((await lafsdOk(['get', base, `${root}/f`])).stdout), sha256(second));
  assert.doesNotMatch(real.stdout.toString() + real.stderr, /URI:/, 'gc never prints caps');
});

test('lafsd put and mkdir without a path keep what they print (the keep file); --no-keep does not', async () => {
  const { base } = await newNode('gc.grace_period = 1s');
  const kept = (await lafsdOk(['put', base], pseudoRandom('kept', 200_000))).stdout.toString().trim();
  const notKept = (await lafsdOk(['put', base, '--no-keep'], pseudoRandom('not-kept', 200_000))).stdout.toString().trim();
  const keptMutable = (await lafsdOk(['put', base, '--mutable'], pseudoRandom('kept-mutable', 5000))).stdout.toString().trim();
  const keptDir = (await lafsdOk(['mkdir', base])).stdout.toString().trim();
  await lafsdOk(['put', base, `${keptDir}/inside`], pseudoRandom('inside', 5000));
  const keepFile = readFileSync(join(base, 'private', 'gc-keep'), 'utf8');
  assert.equal(statSync(join(base, 'private', 'gc-keep')).mode & 0o777, 0o600, 'the keep file holds secrets');
  for (const cap of [kept, keptMutable, keptDir]) assert.ok(keepFile.includes(`${cap}  # lafsd`), 'kept');
  assert.ok(!keepFile.includes(notKept));
  await sleep(1100);
  const r = await lafsdOk(['gc', base]);
  assert.match(r.stdout.toString(), /^roots:\s+1 account, 3 kept caps, 0 account-service roots$/m);
  assert.equal(line(r.stdout.toString(), 'freed').objects, 1);
  assert.equal(sha256((await lafsdOk(['get', base, kept])).stdout), sha256(pseudoRandom('kept', 200_000)));
  assert.equal(sha256((await lafsdOk(['get', base, keptMutable])).stdout), sha256(pseudoRandom('kept-mutable', 5000)));
  assert.equal(sha256((await lafsdOk(['get', base, `${keptDir}/inside`])).stdout), sha256(pseudoRandom('inside', 5000)));
  const lost = await lafsd(['get', base, notKept]);
  assert.equal(lost.code, 1);
  // A keep file with a line that is not a cap stops gc, naming the line but not its text.
  writeFileSync(join(base, 'private', 'gc-keep'), `${keepFile}URI:CHK:broken-cap-text\n`);
  const broken = await lafsd(['gc', base]);
  assert.equal(broken.code, 1);
  assert.match(broken.stderr, /gc-keep:\d+: not a cap/);
  assert.doesNotMatch(broken.stderr, /broken-cap-text/);
});

test('a damaged directory entry stops lafsd gc (exit 1) and is reported by path; a name that looks like a cap is redacted', async () => {
  const { base, root } = await newNode('gc.grace_period = 1s');
  const sub = (await lafsdOk(['mkdir', base, `${root}/URI:LIT:nbswy3dp`])).stdout.toString().trim();
  await lafsdOk(['put', base, `${sub}/f`], pseudoRandom('f', 5000));
  flipEntryByte(join(base, 'storage', 'store.db'), sub, 40);
  const r = await lafsd(['gc', base]);
  assert.equal(r.code, 1);
  assert.match(r.stdout.toString(), /^damaged: +a directory entry cannot be read: alice's root\/\[cap\]$/m);
  assert.match(r.stdout.toString(), /^stopped: +1 damaged node\(s\) could not be read/m);
  assert.doesNotMatch(r.stdout.toString(), /URI:/);
  assert.equal((await lafsd(['gc', base, '--ignore-damaged'])).code, 0);
});

test('lafsd gc on a node that uses a Tahoe-LAFS grid says that Tahoe\'s lease-based gc applies', async () => {
  const base = join(tempDir(), 'node');
  await lafsdOk(['init', base]);
  const cfg = join(base, 'tahoe.cfg');
  writeFileSync(cfg, readFileSync(cfg, 'utf8').replace(/^grid = embedded$/m, 'grid = webapi\nwebapi.url = http://127.0.0.1:9/'));
  const r = await lafsd(['gc', base]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /Tahoe-LAFS grid \(grid = webapi\): there Tahoe's own lease-based garbage collection applies/);
});

// --- with a running server -----------------------------------------------------------------

interface Sftp {
  write(name: string, data: Buffer): Promise<void>;
  read(name: string): Promise<Buffer>;
  end(): void;
}

/** An ssh2 SFTP session; every pending request fails when the connection dies. */
function sftpConnect(port: number, username: string, password: string): Promise<Sftp> {
  return new Promise((resolve, reject) => {
    const client = new ssh2.Client();
    const pending = new Set<(err: Error) => void>();
    let dead: Error | undefined;
    const die = (err: Error) => {
      dead ??= err;
      reject(err);
      for (const fail of pending) fail(err);
      pending.clear();
    };
    client.on('error', die);
    client.on('close', () => die(new Error('connection closed')));
    const call = <T>(start: (done: (err: Error | null | undefined, value?: T) => void) => void): Promise<T> =>
      new Promise<T>((res, rej) => {
        if (dead) return rej(dead);
        pending.add(rej);
        start((err, value) => {
          pending.delete(rej);
          if (err) rej(err);
          else res(value as T);
        });
      });
    client.on('ready', () => {
      client.sftp((err, sftp) => {
        if (err) return reject(err);
        resolve({
          write: (name, data) => call<void>((done) => sftp.writeFile(name, data, (e) => done(e))),
          read: (name) => call<Buffer>((done) => sftp.readFile(name, (e, d) => done(e, d))),
          end: () => client.end(),
        });
      });
    });
    client.connect({ host: '127.0.0.1', port, username, password, readyTimeout: 20_000 });
  });
}

test('an account-service root seen within the retention window survives gc; one not seen for longer is collected', { timeout: 120_000 }, async () => {
  const service = await startAccountServer({ db: ':memory:' });
  try {
    const node = await startLafsd({
      config: {
        lafsd: 'gc.grace_period = 1s\ngc.account_root_retention = 5s',
        sftpd: `accounts.url = ${service.url}`,
        ftpd: `accounts.url = ${service.url}`,
      },
    });
    // carol's root is known only to the account service: nothing on this node links it.
    const carolRoot = (await lafsdOk(['mkdir', node.basedir, '--no-keep'])).stdout.toString().trim();
    await service.addUser('carol', 'carol-pw', carolRoot);
    const refused = await lafsd(['gc', node.basedir]);
    assert.equal(refused.code, 1, 'too early: roots have not been recorded for a whole retention window');
    assert.match(refused.stderr, /garbage collection refused: .* lafsd has recorded logins for \ds of the 5s gc\.account_root_retention/);
    const sftp = await sftpConnect(node.sftpPort, 'carol', 'carol-pw');
    await sftp.write('carols-file', pseudoRandom('carol', 300_000));
    sftp.end();
    const recorded = readFileSync(join(node.basedir, 'private', 'account-service-roots'), 'utf8');
    assert.ok(recorded.includes(carolRoot), 'the login recorded carol\'s root');
    assert.equal(statSync(join(node.basedir, 'private', 'account-service-roots')).mode & 0o777, 0o600);
    assert.doesNotMatch(node.log(), /URI:/, 'the server never logs caps');
    await sleep(5100); // now a whole retention window of logins has been recorded
    // carol logs in again, so her last login is recent when gc runs.
    const again = await sftpConnect(node.sftpPort, 'carol', 'carol-pw');
    assert.equal(sha256(await again.read('carols-file')), sha256(pseudoRandom('carol', 300_000)));
    again.end();
    const kept = await lafsdOk(['gc', node.basedir]);
    assert.match(kept.stdout.toString(), /^roots:\s+2 accounts, 0 kept caps, 1 account-service root$/m);
    assert.equal(line(kept.stdout.toString(), 'reachable').dirs, 2, 'alice\'s and carol\'s roots');
    assert.equal(sha256((await lafsdOk(['get', node.basedir, `${carolRoot}/carols-file`])).stdout), sha256(pseudoRandom('carol', 300_000)));
    // No login for longer than the retention window: carol's tree is garbage.
    await sleep(5100);
    const gone = await lafsdOk(['gc', node.basedir]);
    assert.match(gone.stdout.toString(), /^roots:\s+2 accounts, 0 kept caps, 0 account-service roots$/m);
    const freed = line(gone.stdout.toString(), 'freed');
    assert.deepEqual([freed.dirs, freed.entries, freed.objects], [1, 1, 1]);
    assert.equal((await lafsd(['get', node.basedir, `${carolRoot}/carols-file`])).code, 1);
  } finally {
    await service.close();
  }
});

test('gc while lafsd run serves SFTP uploads (and collects periodically) loses nothing; logs carry no caps', { timeout: 180_000 }, async () => {
  const node = await startLafsd({ config: { lafsd: 'gc.grace_period = 1s\ngc.interval = 1s' } });
  const sftp = await sftpConnect(node.sftpPort, node.user, node.password);
  // Contents come from a small pool, so many uploads deduplicate to objects replaced more
  // than a grace period ago: exactly what the collectors are deleting meanwhile.
  const pool = Array.from({ length: 40 }, (_, i) => pseudoRandom(`pool-${i}`, i % 3 === 0 ? 3000 + i : 150_000 + 1000 * i));
  const expected = new Map<string, string>();
  let uploading = true;
  let cliRuns = 0;
  let cliFreed = 0;
  const collector = (async () => {
    while (uploading) {
      const r = await lafsd(['gc', node.basedir]);
      // Exit 1 is allowed only for "another gc is running" (the server's periodic one).
      if (r.code !== 0) assert.match(r.stderr, /another garbage collection of this store is running/);
      else cliFreed += line(r.stdout.toString(), 'freed').objects;
      cliRuns++;
    }
  })();
  try {
    for (let i = 0; i < 240; i++) {
      const name = `file-${i % 4}`;
      const data = pool[(i * 7) % pool.length]!; // 7 and 40 are coprime: every content in turn
      await sftp.write(name, data);
      expected.set(name, sha256(data));
      assert.equal(sha256(await sftp.read(name)), sha256(data), `${name} right after upload ${i}`);
      if (i % 10 === 0) await sleep(300);
    }
  } finally {
    uploading = false;
    await collector;
  }
  for (const [name, hash] of expected) assert.equal(sha256(await sftp.read(name)), hash, name);
  sftp.end();
  for (const [name, hash] of expected) assert.equal(sha256((await lafsdOk(['get', node.basedir, `${node.rootCap}/${name}`])).stdout), hash);
  const periodic = node.log().split('\n').filter((l) => l.includes('"garbage collection finished"'));
  const periodicFreed = periodic.reduce((n, l) => n + (JSON.parse(l) as { freed: { objects: number } }).freed.objects, 0);
  assert.ok(periodic.length >= 2, `the server collected periodically (${periodic.length} runs)`);
  assert.ok(cliFreed + periodicFreed > 10, `garbage was collected while uploads ran (cli ${cliFreed} in ${cliRuns} runs, server ${periodicFreed})`);
  assert.doesNotMatch(node.log(), /URI:/, 'no caps in the log');
});

test('kill -9 of lafsd run while it collects garbage and takes uploads loses nothing acknowledged', { timeout: 240_000 }, async () => {
  const node = await startLafsd({ config: { lafsd: 'gc.grace_period = 1s\ngc.interval = 1s' } });
  await node.stop('SIGKILL');
  const secret = await readConvergenceSecret(node.basedir);
  const acked = new Map<string, string>();
  for (let round = 0; round < 4; round++) {
    const server: RunningLafsd = await runLafsd(node.basedir);
    const sftp = await sftpConnect(server.sftpPort, node.user, node.password);
    const killAt = Date.now() + 1500 + Math.random() * 2000; // periodic runs at 1 s, 2 s, ...
    let i = 0;
    const killer = (async () => {
      await sleep(killAt - Date.now());
      await server.stop('SIGKILL');
    })();
    try {
      for (; Date.now() < killAt; i++) {
        const data = pseudoRandom(`r${round}-${i}`, i % 4 === 0 ? 200_000 : 2000 + i);
        await sftp.write('churn', data); // replaced over and over: garbage for the collector
        if (i % 3 === 0) {
          await sftp.write(`live-${round}-${i}`, data);
          acked.set(`live-${round}-${i}`, sha256(data));
        }
      }
    } catch {
      // the server died under the client
    }
    await killer;
    sftp.end();
    const grid = await EmbeddedGrid.open({ storeDir: join(node.basedir, 'storage'), convergenceSecret: secret });
    try {
      for (const [name, hash] of acked) {
        const entry = await grid.getChild(node.rootCap, name);
        assert.ok(entry, `${name} survived kill -9 in round ${round}`);
        assert.equal(sha256(await get(grid, entry.node.cap)), hash, name);
      }
      const churn = await grid.getChild(node.rootCap, 'churn');
      if (churn) await get(grid, churn.node.cap); // whatever version is linked is readable
    } finally {
      await grid.close();
    }
  }
  assert.ok(acked.size > 20, `uploads were acknowledged (${acked.size})`);
  await sleep(1100);
  const final = await lafsdOk(['gc', node.basedir]);
  assert.equal(line(final.stdout.toString(), 'young').objects, 0, 'a later run finishes the job');
  assert.deepEqual(readdirSync(join(node.basedir, 'storage', 'trash')), []);
});

test('measured: 100 replacements of a 1 MiB file over SFTP, then gc gives the space back', { timeout: 300_000 }, async (t) => {
  const node = await startLafsd({ config: { lafsd: 'gc.grace_period = 2s' } });
  const sftp = await sftpConnect(node.sftpPort, node.user, node.password);
  const storeAtStart = storeBytes(node.basedir);
  for (let i = 0; i < 100; i++) await sftp.write('big.bin', pseudoRandom(`replace-${i}`, 1024 * 1024));
  sftp.end();
  await sleep(2100);
  const free = () => {
    const s = statfsSync(join(node.basedir, 'storage'));
    return s.bavail * s.bsize;
  };
  const [storeBefore, freeBefore] = [storeBytes(node.basedir), free()];
  const r = await lafsdOk(['gc', node.basedir]);
  const [storeAfter, freeAfter] = [storeBytes(node.basedir), free()];
  const freed = line(r.stdout.toString(), 'freed');
  const mib = (n: number) => `${(n / 2 ** 20).toFixed(1)} MiB`;
  t.diagnostic(`store: ${mib(storeAtStart)} at start, ${mib(storeBefore)} after 100 replacements, ${mib(storeAfter)} after gc`);
  t.diagnostic(`filesystem free: ${mib(freeBefore)} before gc, ${mib(freeAfter)} after (+${mib(freeAfter - freeBefore)}; other processes share the disk)`);
  t.diagnostic(`lafsd gc: freed ${freed.objects} objects, ${mib(freed.bytes)}: ${/^took:\s+(\d+ ms)$/m.exec(r.stdout.toString())?.[1]}`);
  assert.equal(freed.objects, 99);
  assert.ok(storeBefore - storeAfter >= 99 * 1024 * 1024, `the store shrank by ${mib(storeBefore - storeAfter)}`);
  assert.equal(sha256((await lafsdOk(['get', node.basedir, `${node.rootCap}/big.bin`])).stdout), sha256(pseudoRandom('replace-99', 1024 * 1024)));
});
