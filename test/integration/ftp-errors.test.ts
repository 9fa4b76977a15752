// Every storage failure reaches the FTP client as an error reply (Tahoe's #1081 must not
// exist): a failed commit, a full disk during an upload (452, "insufficient storage"), a read error during a download, an
// unreachable store before a transfer. The server runs over a real embedded store wrapped so
// that chosen operations fail.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after } from 'node:test';
import { FileAuthenticator, hashPassword } from '../../src/auth/index.js';
import { startFtpServer } from '../../src/ftp/index.js';
import { GridError, type FileReader, type Grid, type UploadSink } from '../../src/grid/index.js';
import { OpenFiles, VfsSession, parsePath } from '../../src/vfs/index.js';
import { buildFixture } from '../helpers/fixture.js';
import { pseudoRandom } from '../helpers/data.js';
import { tempDir } from '../helpers/tmp.js';
import { ALICE, RawFtp, RecordingLogger, dataConnect, upload } from './ftp-harness.js';

interface Faults {
  setChild?: Error;
  getChild?: Error;
  /** Thrown by an upload's write once this many bytes were accepted. */
  uploadAfter?: { bytes: number; error: Error };
  /** Thrown by a read at or past this offset. */
  readAfter?: { offset: number; error: Error };
}

const faults: Faults = {};
const f = await buildFixture();

function faulty(grid: Grid): Grid {
  return new Proxy(grid, {
    get(target, prop, receiver) {
      const real = Reflect.get(target, prop, receiver) as unknown;
      if (typeof real !== 'function') return real;
      const fn = real.bind(target) as (...a: unknown[]) => Promise<unknown>;
      switch (prop) {
        case 'setChild':
          return async (...a: unknown[]) => {
            if (faults.setChild) throw faults.setChild;
            return fn(...a);
          };
        case 'getChild':
          return async (...a: unknown[]) => {
            if (faults.getChild) throw faults.getChild;
            return fn(...a);
          };
        case 'upload':
          return async () => {
            const sink = (await fn()) as UploadSink;
            let seen = 0;
            return new Proxy(sink, {
              get(s, p, r) {
                if (p === 'write') {
                  return async (data: Buffer) => {
                    seen += data.length;
                    if (faults.uploadAfter && seen > faults.uploadAfter.bytes) throw faults.uploadAfter.error;
                    return s.write(data);
                  };
                }
                const v = Reflect.get(s, p, r) as unknown;
                return typeof v === 'function' ? v.bind(s) : v;
              },
            });
          };
        case 'openRead':
          return async (...a: unknown[]) => {
            const reader = (await fn(...a)) as FileReader;
            return {
              size: reader.size,
              read: async (offset: number, length: number) => {
                if (faults.readAfter && offset >= faults.readAfter.offset) throw faults.readAfter.error;
                return reader.read(offset, length);
              },
              close: () => reader.close(),
            } satisfies FileReader;
          };
        default:
          return fn;
      }
    },
  });
}

const dir = tempDir('lafsd-ftp-errors-');
writeFileSync(join(dir, 'accounts'), `${ALICE.user} ${await hashPassword(ALICE.password)} ${f.root}\n`);
const logger = new RecordingLogger();
const authenticator = await FileAuthenticator.open({ path: join(dir, 'accounts'), logger, watch: false });
const grid = faulty(f.grid);
const openFiles = new OpenFiles();
const server = await startFtpServer({
  host: '127.0.0.1',
  port: 0,
  authenticator,
  openSession: (account) => new VfsSession({ grid, rootCap: account.rootCap, username: account.username, openFiles, spillDir: dir }),
  logger,
});
const check = new VfsSession({ grid: f.grid, rootCap: f.root, username: 'check', openFiles, spillDir: dir });
after(async () => {
  await server.close();
  await check.close();
  authenticator.close();
  await f.grid.close();
});

async function open(): Promise<RawFtp> {
  const c = await RawFtp.open(server.address.port);
  await c.login();
  return c;
}

const exists = (p: string) => check.attrs(parsePath(p)).then(() => true, () => false);

test('a commit that fails is a 451 with the reason, and links nothing', async () => {
  const c = await open();
  faults.setChild = new GridError('UNAVAILABLE', 'the storage grid cannot be reached');
  const r = await upload(c, 'STOR commit-fails', Buffer.from('data'));
  delete faults.setChild;
  assert.equal(r.opening.code, 150);
  assert.deepEqual([r.done.code, r.done.text], [451, 'the storage grid cannot be reached']);
  assert.equal(await exists('commit-fails'), false);
  assert.equal(openFiles.size, 0);
  assert.equal((await upload(c, 'STOR commit-fails', Buffer.from('data'))).done.code, 226, 'the next try works');
  assert.equal(await exists('commit-fails'), true);
  c.close();
});

test('a full disk during an upload is a 452, the upload stops, nothing is linked', async () => {
  const c = await open();
  faults.uploadAfter = { bytes: 2_000_000, error: Object.assign(new Error('write failed'), { code: 'ENOSPC' }) };
  const r = await upload(c, 'STOR too-big', pseudoRandom('full', 6_000_000));
  delete faults.uploadAfter;
  assert.equal(r.done.code, 452);
  assert.match(r.done.text, /no space/);
  assert.equal(await exists('too-big'), false);
  assert.equal(openFiles.size, 0);
  assert.equal((await c.cmd('NOOP')).code, 200);
  c.close();
});

test('a read error during a download is a 451 and the data connection is cut short', async () => {
  const big = pseudoRandom('readfail', 5_000_000);
  const w = await check.open(parsePath('read-fails'), { write: true, create: true, truncate: true });
  await w.write(0, big);
  await check.closeFile(w);
  const c = await open();
  faults.readAfter = { offset: 2 * 1024 * 1024, error: new GridError('CORRUPT', 'stored data failed its integrity check') };
  const port = await c.epsv();
  const d = await dataConnect(port);
  assert.equal((await c.cmd('RETR read-fails')).code, 150);
  const got = await d.received;
  const done = await c.read();
  delete faults.readAfter;
  assert.deepEqual([done.code, done.text], [451, 'stored data failed its integrity check']);
  assert.ok(got.length < big.length, `short: ${got.length} bytes`);
  c.close();
});

test('a store that cannot be reached is a 451 (never the 450 curl reads as "no files"), before any data connection is used', async () => {
  const c = await open();
  faults.getChild = new GridError('UNAVAILABLE', 'the storage grid cannot be reached');
  const r = await upload(c, 'STOR later', Buffer.from('x'));
  const size = await c.cmd('SIZE small');
  const listings: Array<[string, number]> = [];
  for (const cmd of ['LIST loop', 'NLST loop', 'MLSD loop']) {
    const port = await c.epsv();
    const d = await dataConnect(port);
    listings.push([cmd, (await c.cmd(cmd)).code]);
    d.sock.destroy();
  }
  const cwd = await c.cmd('CWD loop');
  delete faults.getChild;
  assert.deepEqual([r.opening.code, r.opening.text], [451, 'the storage grid cannot be reached']);
  assert.equal(size.code, 451);
  assert.deepEqual(listings, [['LIST loop', 451], ['NLST loop', 451], ['MLSD loop', 451]]);
  assert.equal(cwd.code, 451);
  assert.equal((await c.cmd('SIZE small')).code, 213);
  assert.ok(!logger.text().includes(f.root), 'no cap in any log line');
  c.close();
});
