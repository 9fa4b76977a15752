// Python's ftplib (the Debian python3, 3.11) against the real `lafsd run`: plain FTP in passive
// and active (PORT) mode, and FTPS with FTP_TLS, which never resumes the control connection's TLS
// session on data connections (issue #9). With `tls_require_session_reuse = true` (the default)
// stock FTP_TLS must get a clear 522 for every kind of transfer, also for uploads, where the
// client writes before it reads the reply; the usual subclass that passes `session=` works; with
// `tls_require_session_reuse = false` stock FTP_TLS works.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { startLafsd, type Lafsd } from '../helpers/lafsd.js';
import { run } from '../helpers/run.js';
import { sha256 } from '../helpers/data.js';
import { BIG, UTF8_DIR, UTF8_FILE, assertSameTree, clientTree, succeeded } from '../helpers/client-tree.js';

const ftps = (cfg: string) => cfg.replace(/^tls = off$/m, 'tls = optional');
const strict = await startLafsd({ rewriteConfig: ftps });
const relaxed = await startLafsd({ rewriteConfig: (cfg) => ftps(cfg).replace(/^tls = optional$/m, 'tls = optional\ntls_require_session_reuse = false') });

const PRELUDE = String.raw`
import ftplib, hashlib, io, json, os, ssl, sys
cfg = json.loads(sys.argv[1])
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE

class ReusingFTP_TLS(ftplib.FTP_TLS):
    """The usual recipe: data connections resume the control connection's TLS session."""
    def ntransfercmd(self, cmd, rest=None):
        conn, size = ftplib.FTP.ntransfercmd(self, cmd, rest)
        if self._prot_p:
            conn = self.context.wrap_socket(conn, server_hostname=self.host, session=self.sock.session)
        return conn, size

def client():
    mode = cfg['mode']
    f = ftplib.FTP() if mode == 'plain' else ftplib.FTP_TLS(context=ctx) if mode == 'tls' else ReusingFTP_TLS(context=ctx)
    f.connect('127.0.0.1', cfg['port'], timeout=60)
    f.login(cfg['user'], cfg['password'])
    if mode != 'plain':
        f.prot_p()
    f.set_pasv(cfg.get('passive', True))
    return f
`;

// Uploads the tree, lists it (MLSD, LIST, NLST), checks SIZE/MDTM/MFMT, downloads and resumes
// both ways, renames, deletes, makes and removes a folder, and downloads the tree again.
const WORKFLOW = PRELUDE + String.raw`
f = client()
out = {'welcome': f.getwelcome()}
top = cfg['dir']

def upload(local, remote):
    f.mkd(remote)
    for name in sorted(os.listdir(local)):
        path, rpath = os.path.join(local, name), remote + '/' + name
        if os.path.isdir(path):
            upload(path, rpath)
        else:
            with open(path, 'rb') as fp:
                f.storbinary('STOR ' + rpath, fp, blocksize=256 * 1024)

def download(remote, local):
    os.mkdir(local)
    for name, facts in f.mlsd(remote):
        if facts['type'] == 'dir':
            download(remote + '/' + name, os.path.join(local, name))
        elif facts['type'] == 'file':
            with open(os.path.join(local, name), 'wb') as fp:
                f.retrbinary('RETR ' + remote + '/' + name, fp.write, blocksize=256 * 1024)

upload(cfg['tree'], top)
f.cwd(top)
out['pwd'] = f.pwd()
out['mfmt'] = f.sendcmd('MFMT 20030405060708 small.txt')
out['mlsd'] = {name: facts for name, facts in f.mlsd(facts=['type', 'size', 'modify'])}
out['mlsd_utf8'] = [name for name, _ in f.mlsd(cfg['utf8_dir'])]
lines = []
f.retrlines('LIST', lines.append)
out['list'] = lines
out['nlst'] = sorted(f.nlst())
f.voidcmd('TYPE I')  # ftplib sends TYPE A for listings and never switches back for SIZE
out['size'] = f.size('big.bin')
out['mdtm'] = f.sendcmd('MDTM small.txt')

h = hashlib.sha256()
f.retrbinary('RETR big.bin', h.update, blocksize=256 * 1024)
out['big_sha'] = h.hexdigest()
h = hashlib.sha256()
f.retrbinary('RETR big.bin', h.update, rest=cfg['offset'])
out['tail_sha'] = h.hexdigest()

with open(os.path.join(cfg['tree'], 'big.bin'), 'rb') as fp:
    big = fp.read()
f.storbinary('STOR part.bin', io.BytesIO(big[:cfg['offset']]))
fp = io.BytesIO(big)
fp.seek(cfg['offset'])
f.storbinary('STOR part.bin', fp, rest=cfg['offset'])
h = hashlib.sha256()
f.retrbinary('RETR part.bin', h.update)
out['resumed_sha'] = h.hexdigest()

f.rename('small.txt', 'renamed.txt')
f.rename('sub', 'sub-moved')
f.delete('part.bin')
f.mkd('made')
try:
    f.rmd('sub-moved')
    out['rmd_nonempty'] = 'removed'
except ftplib.error_perm as e:
    out['rmd_nonempty'] = str(e)
f.rmd('made')
out['after'] = sorted(f.nlst())
f.cwd('/')
download(top, cfg['back'])
out['quit'] = f.quit()
print(json.dumps(out))
`;

const OFFSET = 12_345_678;

async function workflow(node: Lafsd, mode: 'plain' | 'tls' | 'tls-reuse', passive: boolean, seed: string) {
  const t = clientTree(seed);
  const back = join(t.dir, 'back');
  const dir = `${seed}-${UTF8_DIR}`;
  const cfg = { mode, passive, port: node.ftpPort, user: node.user, password: node.password, tree: t.tree, dir, back, offset: OFFSET, utf8_dir: UTF8_DIR };
  const r = succeeded(await run('/usr/bin/python3', ['-c', WORKFLOW, JSON.stringify(cfg)], { timeoutMs: 120_000 }), `ftplib ${mode}`);
  const out = JSON.parse(r.stdout.toString()) as {
    pwd: string; mfmt: string; mlsd: Record<string, Record<string, string>>; mlsd_utf8: string[]; list: string[]; nlst: string[];
    size: number; mdtm: string; big_sha: string; tail_sha: string; resumed_sha: string; rmd_nonempty: string; after: string[]; quit: string;
  };
  assert.equal(out.pwd, `/${dir}`);
  assert.match(out.mfmt, /^213 Modify=20030405060708; .*\/small\.txt$/);
  assert.deepEqual(Object.keys(out.mlsd).sort(), ['.', '..', 'big.bin', 'empty', 'small.txt', 'sub', UTF8_DIR]);
  assert.equal(out.mlsd['.']!.type, 'cdir');
  assert.equal(out.mlsd['..']!.type, 'pdir');
  assert.deepEqual(out.mlsd['big.bin'], { type: 'file', size: String(BIG), modify: out.mlsd['big.bin']!.modify });
  assert.equal(out.mlsd['small.txt']!.modify, '20030405060708', 'MFMT is shown by MLSD');
  assert.equal(out.mlsd.sub!.type, 'dir');
  assert.deepEqual(out.mlsd_utf8.filter((n) => n !== '.' && n !== '..'), [UTF8_FILE]);
  assert.equal(out.list.length, 5);
  assert.match(out.list.find((l) => l.endsWith(' big.bin'))!, new RegExp(`^-rw-rw-rw- .* ${BIG} `));
  assert.match(out.list.find((l) => l.endsWith(` ${UTF8_DIR}`))!, /^drwxrwxrwx /);
  assert.deepEqual(out.nlst, ['big.bin', 'empty', 'small.txt', 'sub', UTF8_DIR].sort());
  assert.equal(out.size, BIG);
  assert.equal(out.mdtm, '213 20030405060708');
  assert.equal(out.big_sha, t.bigSha);
  assert.equal(out.tail_sha, sha256(t.big.subarray(OFFSET)), 'REST + RETR');
  assert.equal(out.resumed_sha, t.bigSha, 'REST + STOR');
  assert.match(out.rmd_nonempty, /^550 /);
  assert.deepEqual(out.after, ['big.bin', 'empty', 'renamed.txt', 'sub-moved', UTF8_DIR].sort());
  assert.match(out.quit, /^221 /);
  // What came back is the tree after the renames.
  const want = join(t.dir, 'want');
  cpSync(t.tree, want, { recursive: true });
  renameSync(join(want, 'small.txt'), join(want, 'renamed.txt'));
  renameSync(join(want, 'sub'), join(want, 'sub-moved'));
  assertSameTree(back, want, `ftplib ${mode}`);
}

test('ftplib FTP, passive: tree with a UTF-8 name and 20 MiB up, MLSD/LIST/NLST, SIZE, MDTM/MFMT, REST both ways, rename, delete, mkdir/rmdir, tree down', async () => {
  await workflow(strict, 'plain', true, 'ftplib-pasv');
});

test('ftplib FTP, active mode (PORT): the same workflow', async () => {
  await workflow(strict, 'plain', false, 'ftplib-port');
});

test('ftplib FTP_TLS resuming the session (the usual subclass) works with the default tls_require_session_reuse = true', async () => {
  await workflow(strict, 'tls-reuse', true, 'ftplib-reuse');
});

test('ftplib FTP_TLS as shipped works with tls_require_session_reuse = false', async () => {
  await workflow(relaxed, 'tls', true, 'ftplib-tls');
});

// Stock FTP_TLS against the default: each kind of transfer gets 522 naming the setting, the
// control connection stays usable, and nothing of a refused upload is linked.
const REFUSED = PRELUDE + String.raw`
f = client()
f.prot_c()
f.storbinary('STOR there.txt', io.BytesIO(b'there'))
f.prot_p()
out = []
def attempt(what, fn):
    try:
        fn()
        out.append(what + ': ok')
    except ftplib.error_perm as e:
        out.append(what + ': ' + str(e))
    except Exception as e:
        out.append(what + ': ' + type(e).__name__ + ' ' + str(e))
    out.append('NOOP: ' + f.voidcmd('NOOP'))
for i in range(cfg['rounds']):
    attempt('STOR', lambda: f.storbinary('STOR refused.bin', io.BytesIO(b'x' * 2000000)))
    attempt('NLST', lambda: f.nlst())
    attempt('RETR', lambda: f.retrbinary('RETR there.txt', lambda b: None))
    attempt('MLSD', lambda: list(f.mlsd()))
f.prot_c()
out.append('clear NLST: ' + ' '.join(sorted(f.nlst())))
print(json.dumps(out))
`;

test('ftplib FTP_TLS as shipped gets a clear 522 naming tls_require_session_reuse, for uploads too, and can carry on', async () => {
  const rounds = 3;
  const cfg = { mode: 'tls', port: strict.ftpPort, user: strict.user, password: strict.password, rounds };
  const r = succeeded(await run('/usr/bin/python3', ['-c', REFUSED, JSON.stringify(cfg)], { timeoutMs: 120_000 }), 'ftplib FTP_TLS refused');
  const out = JSON.parse(r.stdout.toString()) as string[];
  const attempts = out.filter((l) => !l.startsWith('NOOP') && !l.startsWith('clear'));
  assert.equal(attempts.length, 4 * rounds);
  for (const line of attempts) assert.match(line, /^(STOR|NLST|RETR|MLSD): 522 .*tls_require_session_reuse/, line);
  for (const line of out.filter((l) => l.startsWith('NOOP'))) assert.match(line, /^NOOP: 200 /);
  const listed = out.at(-1)!;
  assert.ok(listed.startsWith('clear NLST: ') && listed.includes('there.txt') && !listed.includes('refused.bin'), listed);
});

// A data connection resumes the ticket (TLS 1.3) or session (TLS 1.2) the client got when the
// control connection started. Its lifetime was OpenSSL's default of 2 hours, so every transfer
// after the second hour of a control connection (a long mirror) got 522, whatever the client did.
test('FTPS: the control connection\'s TLS session stays resumable for 7 days (TLS 1.3 and 1.2), not 2 hours', async () => {
  const script = PRELUDE + String.raw`
out = []
for version in (ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1_2):
    ctx.maximum_version = version
    f = client()
    f.nlst()  # TLS 1.3 tickets arrive after the handshake; a reply read takes them in
    out.append([f.sock.version(), f.sock.session.has_ticket, f.sock.session.ticket_lifetime_hint])
    f.quit()
print(json.dumps(out))
`;
  const cfg = { mode: 'tls-reuse', port: strict.ftpPort, user: strict.user, password: strict.password };
  const r = succeeded(await run('/usr/bin/python3', ['-c', script, JSON.stringify(cfg)], { timeoutMs: 60_000 }), 'ftplib session lifetime');
  assert.deepEqual(JSON.parse(r.stdout.toString()), [
    ['TLSv1.3', true, 7 * 24 * 3600],
    ['TLSv1.2', true, 7 * 24 * 3600],
  ]);
});
