// SFTP clients against the real `lafsd run`: PuTTY psftp (batch file), curl's sftp:// (libssh2)
// and Python's asyncssh (many requests in flight). Each uploads the tree with a UTF-8 name and the
// 20 MiB file, lists, downloads (the big file LAFSD_INTEROP_REPEAT times, since reply-order bugs
// are timing-dependent), resumes where the client can, renames, deletes, makes and removes a
// folder and sets times where it can; every run's exit status is checked.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { hostKeyFingerprint, startLafsd } from '../helpers/lafsd.js';
import { run, type RunResult } from '../helpers/run.js';
import { sha256 } from '../helpers/data.js';
import { BIG, REPEAT, UTF8_DIR, UTF8_FILE, assertSameTree, clientTree, succeeded } from '../helpers/client-tree.js';

const node = await startLafsd();
const RESUME_AT = 7_000_000;

function assertBig(path: string, bigSha: string, what: string): void {
  const got = readFileSync(path);
  assert.equal(got.length, BIG, `${what}: size`);
  assert.equal(sha256(got), bigSha, `${what}: content`);
}

test('psftp (PuTTY 0.78, batch file): put -r, ls, get -r, reget and reput resume, mv, rm, mkdir/rmdir, chmod', async () => {
  const t = clientTree('psftp');
  const local = (name: string) => JSON.stringify(join(t.dir, name));
  writeFileSync(join(t.dir, 'part.bin'), t.big.subarray(0, RESUME_AT));
  writeFileSync(join(t.dir, 'up-part.bin'), t.big.subarray(0, RESUME_AT));
  const batch = [
    'mkdir psftp',
    'cd psftp',
    `put -r ${local('tree')} tree`,
    'ls tree',
    `ls "tree/${UTF8_DIR}"`,
    `get -r tree ${local('back')}`,
    ...Array.from({ length: REPEAT }, (_, i) => `get tree/big.bin ${local(`down-${i}.bin`)}`),
    `reget tree/big.bin ${local('part.bin')}`,
    `put ${local('up-part.bin')} tree/big2.bin`,
    `reput ${local('tree/big.bin')} tree/big2.bin`,
    `get tree/big2.bin ${local('big2.bin')}`,
    'mv tree/small.txt tree/moved.txt',
    'rm tree/empty',
    'mkdir made',
    'rmdir made',
    'chmod 444 tree/moved.txt',
    'ls tree',
    'quit',
  ];
  writeFileSync(join(t.dir, 'batch'), `${batch.join('\n')}\n`);
  writeFileSync(join(t.dir, 'pw'), `${node.password}\n`);
  const r = succeeded(
    await run('psftp', ['-batch', '-P', String(node.sftpPort), '-l', node.user, '-pwfile', join(t.dir, 'pw'), '-hostkey', hostKeyFingerprint(node), '-b', join(t.dir, 'batch'), '127.0.0.1'], { timeoutMs: 180_000 }),
    'psftp',
  );
  const out = r.stdout.toString();
  assert.match(out, /reget: restarting at file position 7000000/);
  assert.match(out, /reput: restarting at file position 7000000/);
  assertSameTree(join(t.dir, 'back'), t.tree, 'psftp get -r');
  for (let i = 0; i < REPEAT; i++) assertBig(join(t.dir, `down-${i}.bin`), t.bigSha, `psftp get #${i}`);
  assertBig(join(t.dir, 'part.bin'), t.bigSha, 'psftp reget');
  assertBig(join(t.dir, 'big2.bin'), t.bigSha, 'psftp reput');
  // The last listing: the renamed file read-only, the removed one gone.
  const last = out.slice(out.lastIndexOf('Listing directory /psftp/tree'));
  assert.match(last, new RegExp(`^-rw-rw-rw- .* ${BIG} .* big\\.bin$`, 'm'));
  assert.match(last, /^-r--r--r-- .* moved\.txt$/m);
  assert.match(last, new RegExp(`^drwxrwxrwx .* ${UTF8_DIR}$`, 'm'));
  assert.doesNotMatch(last, / empty$| small\.txt$| made$/m);
});

test('curl sftp:// (libssh2): uploads, listing, downloads, resume both ways, quote commands (rename, rm, mkdir, rmdir, mtime), -R', async () => {
  const t = clientTree('curl-sftp');
  let fp = hostKeyFingerprint(node).replace(/^SHA256:/, '');
  while (fp.length % 4) fp += '=';
  const base = `sftp://127.0.0.1:${node.sftpPort}`;
  const curl = (args: string[]) => run('curl', ['-sS', '--hostpubsha256', fp, '-u', `${node.user}:${node.password}`, ...args], { timeoutMs: 120_000 });
  const enc = (p: string) => p.split('/').map(encodeURIComponent).join('/');
  const files = ['big.bin', 'small.txt', 'empty', `${UTF8_DIR}/${UTF8_FILE}`, 'sub/deeper/x.txt'];
  for (const f of files) succeeded(await curl(['--ftp-create-dirs', '-T', join(t.tree, f), `${base}/curl/tree/${enc(f)}`]), `curl -T ${f}`);

  const listing = succeeded(await curl([`${base}/curl/tree/`]), 'curl list').stdout.toString();
  assert.match(listing, new RegExp(`^-rw-rw-rw- .* ${BIG} .* big\\.bin$`, 'm'));
  assert.match(listing, new RegExp(`^drwxrwxrwx .* ${UTF8_DIR}$`, 'm'));
  const names = succeeded(await curl(['-l', `${base}/curl/tree/${enc(UTF8_DIR)}/`]), 'curl -l').stdout.toString();
  assert.deepEqual(names.split('\n').filter(Boolean), [UTF8_FILE]);

  for (let i = 0; i < REPEAT; i++) {
    const out = join(t.dir, `down-${i}.bin`);
    succeeded(await curl(['-o', out, `${base}/curl/tree/big.bin`]), `curl down #${i}`);
    assertBig(out, t.bigSha, `curl down #${i}`);
  }
  const back = join(t.dir, 'back');
  for (const f of files) succeeded(await curl(['--create-dirs', '-o', join(back, f), `${base}/curl/tree/${enc(f)}`]), `curl -o ${f}`);
  assertSameTree(back, t.tree, 'curl sftp');

  // Resume: a download from the length of the local part, an upload from the remote length.
  writeFileSync(join(t.dir, 'part.bin'), t.big.subarray(0, RESUME_AT));
  succeeded(await curl(['-C', '-', '-o', join(t.dir, 'part.bin'), `${base}/curl/tree/big.bin`]), 'curl -C - down');
  assertBig(join(t.dir, 'part.bin'), t.bigSha, 'curl resumed download');
  writeFileSync(join(t.dir, 'up-part.bin'), t.big.subarray(0, RESUME_AT));
  succeeded(await curl(['-T', join(t.dir, 'up-part.bin'), `${base}/curl/big2.bin`]), 'curl up part');
  succeeded(await curl(['-C', '-', '-T', join(t.tree, 'big.bin'), `${base}/curl/big2.bin`]), 'curl -C - up');
  succeeded(await curl(['-o', join(t.dir, 'big2.bin'), `${base}/curl/big2.bin`]), 'curl down big2');
  assertBig(join(t.dir, 'big2.bin'), t.bigSha, 'curl resumed upload');

  succeeded(
    await curl([
      '-Q', 'rename /curl/tree/small.txt /curl/tree/moved.txt',
      '-Q', 'rm /curl/tree/empty',
      '-Q', 'mkdir /curl/made',
      '-Q', 'rmdir /curl/made',
      '-Q', 'mtime "Sat, 05 Apr 2003 06:07:08 GMT" /curl/tree/moved.txt',
      `${base}/curl/`,
    ]),
    'curl -Q',
  );
  const after = succeeded(await curl([`${base}/curl/tree/`]), 'curl list after').stdout.toString();
  assert.match(after, /^-rw-rw-rw- .* Apr 05 {2}2003 moved\.txt$/m);
  assert.doesNotMatch(after, / empty$| small\.txt$/m);
  const dated = join(t.dir, 'dated.txt');
  succeeded(await curl(['-R', '-o', dated, `${base}/curl/tree/moved.txt`]), 'curl -R');
  assert.equal(statSync(dated).mtime.toISOString(), '2003-04-05T06:07:08.000Z');
  // A missing file is an error, not an empty download.
  const missing = await curl(['-o', join(t.dir, 'missing'), `${base}/curl/nothing-here`]);
  assert.equal(missing.code, 78, 'CURLE_REMOTE_FILE_NOT_FOUND');
});

const ASYNCSSH = String.raw`
import asyncio, hashlib, json, sys, warnings
warnings.filterwarnings('ignore')
import asyncssh
cfg = json.loads(sys.argv[1])

async def main():
    out = {}
    async with asyncssh.connect('127.0.0.1', cfg['port'], username=cfg['user'], password=cfg['password'], known_hosts=None) as conn:
        async with conn.start_sftp_client() as sftp:
            await sftp.makedirs('asyncssh')
            await sftp.put(cfg['tree'], 'asyncssh/tree', recurse=True, preserve=True)
            out['names'] = sorted(await sftp.listdir('asyncssh/tree'))
            out['utf8'] = sorted(await sftp.listdir('asyncssh/tree/' + cfg['utf8_dir']))
            st = await sftp.stat('asyncssh/tree/small.txt')
            out['small_mtime'] = st.mtime
            out['big_size'] = (await sftp.stat('asyncssh/tree/big.bin')).size
            await sftp.get('asyncssh/tree', cfg['back'], recurse=True, preserve=True)
            out['big_sha'] = []
            for i in range(cfg['repeat']):
                async with sftp.open('asyncssh/tree/big.bin', 'rb') as f:
                    out['big_sha'].append(hashlib.sha256(await f.read()).hexdigest())
            # Resume by hand: asyncssh's get/put cannot; read from an offset, append the rest.
            async with sftp.open('asyncssh/tree/big.bin', 'rb') as f:
                await f.seek(cfg['offset'])
                out['tail_sha'] = hashlib.sha256(await f.read()).hexdigest()
            with open(cfg['tree'] + '/big.bin', 'rb') as local:
                big = local.read()
            async with sftp.open('asyncssh/big2.bin', 'wb') as f:
                await f.write(big[:cfg['offset']])
            async with sftp.open('asyncssh/big2.bin', 'ab') as f:
                await f.write(big[cfg['offset']:])
            async with sftp.open('asyncssh/big2.bin', 'rb') as f:
                out['appended_sha'] = hashlib.sha256(await f.read()).hexdigest()
            await sftp.rename('asyncssh/tree/small.txt', 'asyncssh/tree/moved.txt')
            await sftp.posix_rename('asyncssh/big2.bin', 'asyncssh/tree/big.bin')
            await sftp.remove('asyncssh/tree/empty')
            await sftp.mkdir('asyncssh/made')
            await sftp.rmdir('asyncssh/made')
            try:
                await sftp.rmdir('asyncssh/tree/sub')
                out['rmdir_nonempty'] = 'removed'
            except asyncssh.SFTPError as e:
                out['rmdir_nonempty'] = e.code
            await sftp.utime('asyncssh/tree/moved.txt', (1000000000, 1000000000))
            out['moved_mtime'] = (await sftp.stat('asyncssh/tree/moved.txt')).mtime
            out['after'] = sorted(await sftp.listdir('asyncssh/tree'))
            out['statvfs'] = (await sftp.statvfs('/')).namemax
            out['realpath'] = await sftp.realpath('asyncssh/../asyncssh/tree')
    print(json.dumps(out))

asyncio.run(main())
`;

test('asyncssh (Python): put -r with times, listdir, get -r, reads in parallel again and again, offset read and append, renames, remove, mkdir/rmdir, utime, statvfs', async () => {
  const t = clientTree('asyncssh');
  const offset = RESUME_AT;
  const back = join(t.dir, 'back');
  const cfg = { port: node.sftpPort, user: node.user, password: node.password, tree: t.tree, back, repeat: REPEAT, offset, utf8_dir: UTF8_DIR };
  const r: RunResult = succeeded(await run('/usr/bin/python3', ['-c', ASYNCSSH, JSON.stringify(cfg)], { timeoutMs: 180_000 }), 'asyncssh');
  const out = JSON.parse(r.stdout.toString()) as {
    names: string[]; utf8: string[]; small_mtime: number; big_size: number; big_sha: string[]; tail_sha: string; appended_sha: string;
    rmdir_nonempty: number | string; moved_mtime: number; after: string[]; statvfs: number; realpath: string;
  };
  assert.deepEqual(out.names, ['big.bin', 'empty', 'small.txt', 'sub', UTF8_DIR].sort());
  assert.deepEqual(out.utf8, [UTF8_FILE]);
  assert.equal(out.small_mtime, Math.floor(statSync(join(t.tree, 'small.txt')).mtimeMs / 1000), 'put preserve=True sets the time');
  assert.equal(out.big_size, BIG);
  assertSameTree(back, t.tree, 'asyncssh get -r');
  assert.equal(statSync(join(back, 'small.txt')).mtimeMs, Math.floor(statSync(join(t.tree, 'small.txt')).mtimeMs / 1000) * 1000, 'get preserve=True');
  assert.deepEqual(out.big_sha, Array.from({ length: REPEAT }, () => t.bigSha));
  assert.equal(out.tail_sha, sha256(t.big.subarray(offset)));
  assert.equal(out.appended_sha, t.bigSha);
  assert.equal(out.rmdir_nonempty, 4, 'rmdir of a non-empty folder: SSH_FX_FAILURE');
  assert.equal(out.moved_mtime, 1_000_000_000);
  assert.deepEqual(out.after, ['big.bin', 'moved.txt', 'sub', UTF8_DIR].sort());
  assert.equal(out.statvfs, 255);
  assert.equal(out.realpath, '/asyncssh/tree');
});
