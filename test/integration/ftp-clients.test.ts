// Real FTP clients against the real server: curl (upload, download, listings, resume both ways,
// quoted commands, active mode), lftp (mirror of a tree with UTF-8 names both ways), and
// basic-ftp (its whole file API, MLSD parsing, sizes and times).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { Client, FileType } from 'basic-ftp';
import { readCapOf } from '../../src/caps/index.js';
import { parsePath } from '../../src/vfs/index.js';
import { GROSS } from '../helpers/fixture.js';
import { pseudoRandom } from '../helpers/data.js';
import { tempDir } from '../helpers/tmp.js';
import { ALICE, HOST, READER, curl, lftp, startHarness, type Harness } from './ftp-harness.js';

const h: Harness = await startHarness();
const P = (p: string) => parsePath(p);

/** path → bytes for every file below `dir` (directories as entries with `/`). */
function localTree(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      const full = join(d, name);
      const rel = relative(dir, full).normalize('NFC');
      if (statSync(full).isDirectory()) {
        out.set(`${rel}/`, '');
        walk(full);
      } else {
        out.set(rel, readFileSync(full).toString('base64'));
      }
    }
  };
  walk(dir);
  return out;
}

test('curl: upload, download, LIST, NLST, create dirs, quoted commands', async () => {
  const dir = tempDir('lafsd-curl-');
  const data = pseudoRandom('curl', 1_500_000);
  writeFileSync(join(dir, 'up.bin'), data);
  const up = await curl(['--ftp-create-dirs', '-T', join(dir, 'up.bin'), h.url('/curl/deep/up.bin')]);
  assert.equal(up.code, 0, up.stderr);
  assert.deepEqual(await h.content('curl/deep/up.bin'), data);
  const down = await curl([h.url('/curl/deep/up.bin')]);
  assert.deepEqual(down.stdout, data);
  assert.deepEqual((await curl([h.url('/groß')])).stdout, GROSS);
  assert.equal((await curl([h.url('/mutable')])).stdout.toString(), 'mutable file contents');
  const list = await curl([h.url('/curl/deep/')]);
  assert.match(list.stdout.toString(), /^-rw-rw-rw-    1 tahoe    tahoe     1500000 \w{3} \d\d \d\d:\d\d up\.bin\r?\n$/);
  const nlst = await curl(['-l', h.url('/')]);
  assert.deepEqual(nlst.stdout.toString().split(/\r?\n/).filter(Boolean), (await h.check.list(P('/'))).map((e) => e.name).sort());
  const q = await curl(['-Q', 'MKD /curl/q', '-Q', 'RNFR /curl/deep/up.bin', '-Q', 'RNTO /curl/q/moved.bin', '-Q', '-DELE /curl/q/moved.bin', h.url('/curl/')]);
  assert.equal(q.code, 0, q.stderr);
  assert.equal((await h.check.list(P('/curl/q'))).length, 0, 'moved, then deleted after the listing');
  const missing = await curl([h.url('/curl/nothing')]);
  assert.equal(missing.code, 78, 'curl: remote file not found');
  const denied = await curl(['-T', join(dir, 'up.bin'), h.url('/x', READER)]);
  assert.equal(denied.code, 25, 'curl: upload failed (550)');
});

test('curl: resume with -C - in both directions, active mode, ASCII mode', async () => {
  const dir = tempDir('lafsd-curl-resume-');
  const data = pseudoRandom('resume', 3_000_000);
  writeFileSync(join(dir, 'full.bin'), data);
  writeFileSync(join(dir, 'part.bin'), data.subarray(0, 1_234_567));
  // Upload the first part, then resume it with the full file: curl sends SIZE, then APPE.
  assert.equal((await curl(['-T', join(dir, 'part.bin'), h.url('/resume.bin')])).code, 0);
  const resumedUp = await curl(['-C', '-', '-T', join(dir, 'full.bin'), h.url('/resume.bin')]);
  assert.equal(resumedUp.code, 0, resumedUp.stderr);
  assert.deepEqual(await h.content('resume.bin'), data);
  // Download half, then resume.
  writeFileSync(join(dir, 'down.bin'), data.subarray(0, 2_000_001));
  const resumedDown = await curl(['-C', '-', '-o', join(dir, 'down.bin'), h.url('/resume.bin')]);
  assert.equal(resumedDown.code, 0, resumedDown.stderr);
  assert.deepEqual(readFileSync(join(dir, 'down.bin')), data);
  const range = await curl(['-r', '100-199', h.url('/resume.bin')]);
  assert.deepEqual(range.stdout, data.subarray(100, 200));
  const active = await curl(['-P', '-', h.url('/resume.bin')]);
  assert.equal(active.code, 0, active.stderr);
  assert.deepEqual(active.stdout, data);
  const eprt = await curl(['-P', '127.0.0.1', '--ftp-skip-pasv-ip', h.url('/groß')]);
  assert.deepEqual(eprt.stdout, GROSS);
  // curl -B sends local text as NVT-ASCII (CRLF) and the server stores Unix text (the raw
  // protocol test checks the bytes on the wire).
  const ascii = await curl(['-B', '-T', '-', h.url('/ascii.txt')], { input: Buffer.from('a\nb\n') });
  assert.equal(ascii.code, 0, ascii.stderr);
  assert.equal((await h.content('ascii.txt')).toString(), 'a\nb\n');
  assert.equal((await curl(['-B', h.url('/ascii.txt')])).stdout.toString(), 'a\nb\n', 'curl turns the CRLF it receives back into LF');
  assert.equal((await curl([h.url('/ascii.txt')])).stdout.toString(), 'a\nb\n', 'binary mode: the stored bytes');
});

test('lftp: mirror a tree with UTF-8 names up and back down, byte for byte', async () => {
  const local = tempDir('lafsd-lftp-up-');
  const names = ['Grüße', '日本語', 'naïve café', 'plain'];
  for (const [i, d] of names.entries()) {
    mkdirSync(join(local, d, `sub ${i}`), { recursive: true });
    writeFileSync(join(local, d, `fichier-${i}-été.txt`), `text ${i}\n`);
    writeFileSync(join(local, d, `sub ${i}`, 'empty'), '');
    writeFileSync(join(local, d, `sub ${i}`, `bin-${i}.dat`), pseudoRandom(`m${i}`, 100_000 * (i + 1)));
  }
  writeFileSync(join(local, 'ß-top.bin'), pseudoRandom('top', 1_300_000));
  const up = await lftp(h.port, ALICE, `mkdir -p mirror; mirror -R --no-perms ${JSON.stringify(local)} mirror`);
  assert.equal(up.code, 0, up.stderr);
  for (const [i, d] of names.entries()) {
    assert.deepEqual(await h.content(`mirror/${d}/sub ${i}/bin-${i}.dat`), pseudoRandom(`m${i}`, 100_000 * (i + 1)), d);
  }
  assert.equal((await h.check.attrs(P('mirror/plain/sub 3/empty'))).size, 0);
  const back = tempDir('lafsd-lftp-down-');
  const down = await lftp(h.port, ALICE, `mirror --no-perms mirror ${JSON.stringify(back)}`);
  assert.equal(down.code, 0, down.stderr);
  assert.deepEqual(localTree(back), localTree(local));
  // A second mirror finds nothing to do: sizes and times match (MLSD modify / MDTM).
  const again = await lftp(h.port, ALICE, `mirror --no-perms -v mirror ${JSON.stringify(back)}`);
  assert.equal(again.code, 0, again.stderr);
  assert.doesNotMatch(again.stdout.toString(), /Transferring file/);
  // lftp's own operations: rename, remove, chmod, ls.
  const ops = await lftp(h.port, ALICE, 'cd mirror; mv ß-top.bin renamed.bin; rm -r plain; chmod 444 renamed.bin; cls -l renamed.bin');
  assert.equal(ops.code, 0, ops.stderr);
  assert.match(ops.stdout.toString(), /^-r--r--r-- +1300000 .* renamed\.bin/m);
  assert.equal(await h.check.attrs(P('mirror/plain')).then(() => true, () => false), false);
});

test('basic-ftp: list (MLSD), upload, append, download, resume, rename, remove, dirs, size, times', async () => {
  const client = new Client(15_000);
  try {
    await client.access({ host: HOST, port: h.port, user: ALICE.user, password: ALICE.password });
    const feat = await client.features();
    for (const f of ['MLST', 'EPSV', 'UTF8', 'REST', 'SIZE', 'MDTM']) assert.ok(feat.has(f), f);
    const root = await client.list();
    const byName = new Map(root.map((f) => [f.name, f]));
    assert.equal(byName.get('small')!.size, 10);
    assert.equal(byName.get('mutable')!.size, 21);
    assert.equal(byName.get('groß')!.size, 1010);
    assert.equal(byName.get('loop')!.type, FileType.Directory);
    assert.equal(byName.get('loop')!.modifiedAt!.toISOString(), '1989-11-09T20:00:00.000Z', 'real times (#1688)');
    assert.ok(!byName.has('.') && !byName.has('..'), 'cdir/pdir entries are not files');
    await client.ensureDir('bftp/a/b');
    assert.equal(await client.pwd(), '/bftp/a/b');
    const body = pseudoRandom('bftp', 700_000);
    await client.uploadFrom(Readable.from([body.subarray(0, 300_000)]), 'f.bin');
    await client.appendFrom(Readable.from([body.subarray(300_000)]), 'f.bin');
    assert.equal(await client.size('f.bin'), 700_000);
    const sink = new PassThrough();
    const chunks: Buffer[] = [];
    sink.on('data', (d: Buffer) => chunks.push(d));
    await client.downloadTo(sink, 'f.bin', 500_000);
    assert.deepEqual(Buffer.concat(chunks), body.subarray(500_000), 'download from an offset (REST)');
    const mod = await client.lastMod('f.bin');
    assert.ok(Math.abs(mod.getTime() - Date.now()) < 120_000, `lastMod is now: ${mod.toISOString()}`);
    await client.rename('f.bin', '/bftp/g.bin');
    await client.cd('/bftp');
    assert.deepEqual((await client.list()).map((f) => f.name).sort(), ['a', 'g.bin']);
    await client.remove('g.bin');
    await client.removeDir('/bftp');
    assert.equal(await h.check.attrs(P('bftp')).then(() => true, () => false), false);
    await assert.rejects(client.remove('/nothing'), /550/);
  } finally {
    client.close();
  }
});

test('curl: /uri/CAP with its default method (CWD uri, then CWD or RETR of the cap) and with nocwd; /uri lists nothing', async () => {
  const dirCap = readCapOf(h.f.root);
  for (const method of [[], ['--ftp-method', 'nocwd'], ['--ftp-method', 'singlecwd']]) {
    const file = await curl([...method, h.url(`/uri/${h.f.caps.gross}`)]);
    assert.equal(file.code, 0, `${method.join(' ')}: ${file.stderr}`);
    assert.deepEqual(file.stdout, GROSS);
    const inDir = await curl([...method, h.url(`/uri/${dirCap}/groß`)]);
    assert.equal(inDir.code, 0, `${method.join(' ')}: ${inDir.stderr}`);
    assert.deepEqual(inDir.stdout, GROSS);
    const listed = await curl([...method, '-l', h.url(`/uri/${dirCap}/`)]);
    assert.equal(listed.code, 0, listed.stderr);
    assert.ok(listed.stdout.toString().split(/\r?\n/).includes('groß'), listed.stdout.toString());
  }
  const uri = await curl([h.url('/uri/')]);
  assert.deepEqual([uri.code, uri.stdout.length], [0, 0], uri.stderr);
  const denied = await curl(['-T', '-', h.url(`/uri/${dirCap}/new.txt`)], { input: Buffer.from('x') });
  assert.equal(denied.code, 25, 'a read cap gives no write authority: upload refused');
});
