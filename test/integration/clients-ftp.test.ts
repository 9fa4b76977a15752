// FTP and FTPS clients against the real `lafsd run`: rclone over FTPS (Go's crypto/tls and
// jlaffaye/ftp, several connections at once), wget (mirror with times, resume) and ncftp
// (recursive put and get with times, resume, raw commands). Python's ftplib has its own file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ftpUrlOf, startLafsd } from '../helpers/lafsd.js';
import { run, type RunResult } from '../helpers/run.js';
import { sha256 } from '../helpers/data.js';
import { BIG, assertSameTree, clientTree, succeeded, UTF8_DIR, UTF8_FILE, type ClientTree } from '../helpers/client-tree.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';

// FTPS on, with the session-reuse check off: rclone resumes one TLS session on all its
// connections, which that check refuses (issue #9).
const node = await startLafsd({
  rewriteConfig: (cfg) => cfg.replace(/^tls = off$/m, 'tls = optional\ntls_require_session_reuse = false\nimplicit_port = tcp:0:interface=127.0.0.1'),
});

function rclone(args: string[], timeoutMs = 180_000): Promise<RunResult> {
  return run('rclone', ['--config', '/dev/null', '--retries', '1', '--low-level-retries', '1', ...args], { timeoutMs });
}

test('rclone over FTPS (explicit, then implicit): sync a tree with --transfers 4, check, copy back, move, delete, mkdir/rmdir', async () => {
  const t = clientTree('rclone-ftps');
  const dated = new Date('2011-02-03T04:05:06Z');
  utimesSync(join(t.tree, 'small.txt'), dated, dated);
  const pass = (await rclone(['obscure', node.password])).stdout.toString().trim();
  const common = `host=127.0.0.1,user=${node.user},pass=${pass},no_check_certificate=true`;
  const explicit = `:ftp,${common},port=${node.ftpPort},explicit_tls=true:rclone-ftps`;
  const implicit = `:ftp,${common},port=${node.ftpsPort},tls=true:rclone-ftps`;

  succeeded(await rclone(['sync', t.tree, explicit, '--transfers', '4', '--checkers', '4']), 'rclone sync up');
  succeeded(await rclone(['check', '--download', t.tree, explicit, '--transfers', '4', '--checkers', '4']), 'rclone check --download');
  const back = join(tempDir('lafsd-rclone-ftps-back-'), 'back');
  succeeded(await rclone(['copy', implicit, back, '--transfers', '4']), 'rclone copy down (implicit FTPS)');
  assertSameTree(back, t.tree, 'rclone FTPS');
  // rclone sets times with MFMT and reads them from MLSD, to the second.
  assert.match(succeeded(await rclone(['lsl', `${explicit}/small.txt`]), 'rclone lsl').stdout.toString(), /2011-02-03 04:05:06\.0+ small\.txt/);
  assert.equal(statSync(join(back, 'small.txt')).mtime.toISOString(), dated.toISOString());

  succeeded(await rclone(['moveto', `${explicit}/small.txt`, `${explicit}/moved.txt`]), 'rclone moveto');
  succeeded(await rclone(['deletefile', `${explicit}/empty`]), 'rclone deletefile');
  succeeded(await rclone(['mkdir', `${explicit}/made`]), 'rclone mkdir');
  assert.match((await rclone(['lsf', explicit])).stdout.toString(), /^made\/$/m);
  succeeded(await rclone(['rmdir', `${explicit}/made`]), 'rclone rmdir');
  const listed = succeeded(await rclone(['lsf', '-R', explicit]), 'rclone lsf').stdout.toString().split('\n').filter(Boolean).sort();
  assert.deepEqual(listed, ['big.bin', 'moved.txt', 'sub/', 'sub/deeper/', 'sub/deeper/x.txt', `${UTF8_DIR}/`, `${UTF8_DIR}/grüße €.txt`].sort());

  const log = node.log();
  assert.doesNotMatch(log, /"msg":"ftp data connection TLS refused"/);
  assert.doesNotMatch(log, /"op":"stor"[^\n]*"result":"(?!ok)/, 'every upload ended ok');
});

const RESUME_AT = 7_000_000;
const ftpUrl = (path: string) => ftpUrlOf(node, path);

function assertBig(path: string, t: ClientTree, what: string): void {
  const got = readFileSync(path);
  assert.equal(got.length, BIG, `${what}: size`);
  assert.equal(sha256(got), t.bigSha, `${what}: content`);
}

/** Puts the tree on the server with curl (wget cannot upload) and sets two times with MFMT. */
async function uploadWithCurl(t: ClientTree, dir: string, times: Record<string, string>): Promise<void> {
  const files = ['big.bin', 'small.txt', 'empty', `${UTF8_DIR}/${UTF8_FILE}`, 'sub/deeper/x.txt'];
  for (const f of files) {
    const url = ftpUrl(`${dir}/${f.split('/').map(encodeURIComponent).join('/')}`);
    succeeded(await run('curl', ['-sS', '--ftp-create-dirs', '-T', join(t.tree, f), url]), `curl -T ${f}`);
  }
  const quote = Object.entries(times).flatMap(([f, when]) => ['-Q', `MFMT ${when} ${dir}/${f}`]);
  succeeded(await run('curl', ['-sS', ...quote, ftpUrl('/')]), 'curl MFMT');
}

/** Bytes of each FTP transfer `op` of `path` logged so far, oldest first. */
function transfers(op: string, path: string): number[] {
  const lines = node.log().split('\n').filter((l) => l.includes('"msg":"ftp transfer"'));
  return lines.map((l) => JSON.parse(l) as { op: string; path: string; bytes: number }).filter((e) => e.op === op && e.path === path).map((e) => e.bytes);
}

/**
 * Bytes of the transfer logged after the `before` earlier ones of `op` on `path`. lafsd's log
 * comes through a pipe, and a client may exit before the line is there: wait for it (reading
 * the log at once found the previous transfer's line under load).
 */
async function nextTransferBytes(op: string, path: string, before: number): Promise<number> {
  await waitFor(`the log line of ${op} ${path}`, () => transfers(op, path).length > before);
  return transfers(op, path)[before]!;
}

/** YYYYMMDDHHMMSS (UTC) of a Date. */
function timeVal(d: Date): string {
  return d.toISOString().replace(/[-:T]/g, '').slice(0, 14);
}

test('wget: mirror (-m) with times from the listing, again without downloading, resume (-c)', async () => {
  const t = clientTree('wget');
  // LIST shows HH:MM for the last six months and only the day before that, so that is what
  // wget can set: a recent time to the minute, an old one to the day.
  const recent = new Date(Math.floor(Date.now() / 86_400_000 - 10) * 86_400_000 + 13 * 3600_000 + 37 * 60_000);
  await uploadWithCurl(t, '/wget/tree', { 'small.txt': timeVal(recent), 'sub/deeper/x.txt': '20030405060708' });
  const cwd = tempDir('lafsd-wget-');
  const env = { ...process.env, TZ: 'UTC' };
  const wget = (args: string[]) => run('wget', ['-nv', '--tries=1', ...args], { cwd, env, timeoutMs: 120_000 });
  succeeded(await wget(['-m', '-nH', '--cut-dirs=1', ftpUrl('/wget/tree/')]), 'wget -m');
  const back = join(cwd, 'tree');
  assertSameTree(back, t.tree, 'wget -m', (name) => name === '.listing');
  assert.equal(statSync(join(back, 'small.txt')).mtime.toISOString(), recent.toISOString(), 'a recent time, to the minute');
  assert.equal(statSync(join(back, 'sub', 'deeper', 'x.txt')).mtime.toISOString(), '2003-04-05T00:00:00.000Z', 'an old time, to the day');

  const again = succeeded(await wget(['-m', '-nH', '--cut-dirs=1', ftpUrl('/wget/tree/')]), 'wget -m again');
  const fetched = again.stderr.split('\n').filter((l) => l.includes(' -> ')).map((l) => /-> "(.*)"/.exec(l)![1]);
  assert.ok(fetched.length > 0 && fetched.every((f) => f!.endsWith('/.listing')), `only the listings are fetched again: ${fetched.join(', ')}`);

  writeFileSync(join(cwd, 'big.bin'), t.big.subarray(0, RESUME_AT));
  const earlier = transfers('retr', '/wget/tree/big.bin').length;
  const resumed = succeeded(await wget(['-c', ftpUrl('/wget/tree/big.bin')]), 'wget -c');
  assert.match(resumed.stderr, /big\.bin/);
  assertBig(join(cwd, 'big.bin'), t, 'wget -c');
  assert.equal(await nextTransferBytes('retr', '/wget/tree/big.bin', earlier), BIG - RESUME_AT, 'wget -c sent only the rest');
});

test('ncftp: ncftpput -R with times, ncftpls -l, ncftpget -R with times, resumed ncftpget, raw RNFR/RNTO/DELE/MKD/RMD', async () => {
  const t = clientTree('ncftp');
  utimesSync(join(t.tree, 'small.txt'), new Date('2003-04-05T06:07:08Z'), new Date('2003-04-05T06:07:08Z'));
  const login = ['-u', node.user, '-p', node.password, '-P', String(node.ftpPort)];
  const ncftp = (cmd: string, args: string[]) => run(cmd, [...login, ...args], { timeoutMs: 120_000 });
  succeeded(await ncftp('ncftpput', ['-R', '-m', '127.0.0.1', '/ncftp', t.tree]), 'ncftpput -R');

  let listing = succeeded(await ncftp('ncftpls', ['-l', 'ftp://127.0.0.1/ncftp/tree/']), 'ncftpls -l').stdout.toString();
  assert.match(listing, new RegExp(`^-rw-rw-rw- .* ${BIG} .* big\\.bin$`, 'm'));
  assert.match(listing, /^-rw-rw-rw- .* Apr 05 {2}2003 small\.txt$/m, 'ncftpput set the time (MFMT)');
  assert.match(listing, new RegExp(`^drwxrwxrwx .* ${UTF8_DIR}$`, 'm'));

  // -T: no "TAR mode" (ncftpget would first ask for tree.tar, a wu-ftpd feature).
  const back = tempDir('lafsd-ncftp-back-');
  succeeded(await ncftp('ncftpget', ['-R', '-T', '127.0.0.1', back, '/ncftp/tree']), 'ncftpget -R');
  assertSameTree(join(back, 'tree'), t.tree, 'ncftpget -R');
  assert.equal(statSync(join(back, 'tree', 'small.txt')).mtime.toISOString(), '2003-04-05T06:07:08.000Z', 'ncftpget set the time (MDTM)');

  const part = tempDir('lafsd-ncftp-part-');
  writeFileSync(join(part, 'big.bin'), t.big.subarray(0, RESUME_AT));
  const earlier = transfers('retr', '/ncftp/tree/big.bin').length;
  succeeded(await ncftp('ncftpget', ['127.0.0.1', part, '/ncftp/tree/big.bin']), 'ncftpget resume');
  assertBig(join(part, 'big.bin'), t, 'ncftpget resume');
  assert.equal(await nextTransferBytes('retr', '/ncftp/tree/big.bin', earlier), BIG - RESUME_AT, 'ncftpget sent only the rest');

  // Raw commands run after login; ncftpls exits 0 whether they worked or not, so the listing
  // that follows them is the check.
  const raw = ['RNFR /ncftp/tree/small.txt', 'RNTO /ncftp/tree/moved.txt', 'DELE /ncftp/tree/empty', 'MKD /ncftp/made', 'RMD /ncftp/made', 'MKD /ncftp/tree/made'];
  listing = succeeded(await ncftp('ncftpls', [...raw.flatMap((c) => ['-W', c]), 'ftp://127.0.0.1/ncftp/tree/']), 'ncftpls -W').stdout.toString();
  assert.deepEqual(listing.split('\n').filter(Boolean).sort(), ['big.bin', 'made', 'moved.txt', 'sub', UTF8_DIR].sort());
  listing = succeeded(await ncftp('ncftpls', ['-l', 'ftp://127.0.0.1/ncftp/']), 'ncftpls').stdout.toString();
  assert.doesNotMatch(listing, / made$/m);
});
