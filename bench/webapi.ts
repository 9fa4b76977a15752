// lafsd on the web-API backend next to the references on the same Tahoe-LAFS node: curl on the
// web-API itself, and Tahoe's own SFTP frontend when the grid's grid.env says where it is.
// Run through bench/webapi.sh:  bench/webapi.sh URL|fake [SIZE_MIB [SMALL_N]]
//
// Each round uploads and downloads one SIZE_MIB file and SMALL_N files of 4 KiB with every
// client: curl on the web-API (PUT /uri/$DIR/NAME, GET), OpenSSH sftp → `lafsd run`, curl FTP →
// `lafsd run`, OpenSSH sftp → Tahoe's sftpd. Every client gets fresh random bytes in every
// round: Tahoe's immutable files are convergent, so bytes it has seen before upload in a
// fraction of the time and would make upload ratios meaningless. Rounds interleave the clients
// (in a rotating order), each time is a whole client run (SSH clients ride on a master
// connection made beforehand, as curl's connection setup is tiny), and the median of ROUNDS
// (default 3) counts. Downloads are checked byte for byte after each timed run.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exec, startLafsdNode, type BenchNode } from './webapi-lafsd.js';

const [urlArg = '', sizeArg = '32', smallArg = '100'] = process.argv.slice(2);
const SIZE = Math.round(Number(sizeArg) * 1024 * 1024);
const SMALL_N = Math.round(Number(smallArg));
const SMALL_SIZE = 4096;
const ROUNDS = Number(process.env.ROUNDS ?? 3);
if (!urlArg || !(SIZE > 0) || !(SMALL_N > 0) || !(ROUNDS >= 1)) {
  console.error('usage: bench/webapi.sh URL|fake [SIZE_MIB [SMALL_N]]   (environment: ROUNDS, LAFSD_TAHOE_GRID_ENV)');
  process.exit(2);
}

type Op = 'up' | 'down' | 'smallUp' | 'smallDown';
const OPS: Op[] = ['up', 'down', 'smallUp', 'smallDown'];

/** One client of the comparison: moves a big file and a folder of small files each way. */
interface Client {
  name: string;
  /** A fresh remote place for one round (untimed). */
  prepare(round: number): Promise<void>;
  up(file: string): Promise<void>;
  down(out: string): Promise<void>;
  smallUp(dir: string, names: string[]): Promise<void>;
  smallDown(outDir: string, names: string[]): Promise<void>;
}

function parseEnv(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^\s*([A-Z_][A-Z0-9_]*)="?([^"]*)"?\s*$/.exec(line);
    if (m) out[m[1]!] = m[2]!;
  }
  return out;
}

const enc = encodeURIComponent;

async function timed(fn: () => Promise<void>): Promise<number> {
  const t0 = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;

/** curl on the web-API: linked uploads into a fresh directory, as lafsd links what it stores. */
function curlWebApi(base: string): Client {
  let dir = '';
  return {
    name: 'curl web-API',
    async prepare() {
      dir = (await exec('curl', ['-sS', '--fail', '-X', 'POST', `${base}uri?t=mkdir`])).trim();
    },
    async up(file) {
      await exec('curl', ['-sS', '--fail', '-o', '/dev/null', '-T', file, `${base}uri/${enc(dir)}/big.bin`]);
    },
    async down(out) {
      await exec('curl', ['-sS', '--fail', '-o', out, `${base}uri/${enc(dir)}/big.bin`]);
    },
    async smallUp(local, names) {
      // One curl process for all files: one kept-alive connection, as one sftp session.
      await exec('curl', ['-sS', '--fail', ...names.flatMap((n) => ['-o', '/dev/null', '-T', join(local, n), `${base}uri/${enc(dir)}/small/${n}`])]);
    },
    async smallDown(outDir, names) {
      await exec('curl', ['-sS', '--fail', ...names.flatMap((n) => ['-o', join(outDir, n), `${base}uri/${enc(dir)}/small/${n}`])]);
    },
  };
}

/** OpenSSH sftp over a master connection (ControlMaster), batch files per run. */
function sftpClient(name: string, work: string, sshArgs: string[], port: number, user: string): Client & { start(): Promise<void>; stop(): Promise<void> } {
  const sock = join(work, `cm-${name.replace(/\W+/g, '-')}`);
  const batch = join(work, `batch-${name.replace(/\W+/g, '-')}`);
  let remote = '';
  const sftp = async (lines: string[]) => {
    writeFileSync(batch, lines.join('\n') + '\n');
    await exec('sftp', [...sshArgs, '-o', `ControlPath=${sock}`, '-P', String(port), '-b', batch, `${user}@127.0.0.1`]);
  };
  return {
    name,
    async start() {
      await exec('ssh', [...sshArgs, '-M', '-S', sock, '-f', '-N', '-p', String(port), `${user}@127.0.0.1`]);
    },
    async stop() {
      await exec('ssh', ['-S', sock, '-O', 'exit', 'x']).catch(() => {});
    },
    async prepare(round) {
      remote = `bench-${Date.now()}-${round}-${randomBytes(3).toString('hex')}`;
      await sftp([`mkdir ${remote}`, `mkdir ${remote}/small`]);
    },
    up: (file) => sftp([`put ${file} ${remote}/big.bin`]),
    down: (out) => sftp([`get ${remote}/big.bin ${out}`]),
    smallUp: (local) => sftp([`put ${local}/* ${remote}/small/`]),
    smallDown: (outDir) => sftp([`get ${remote}/small/* ${outDir}/`]),
  };
}

/** curl FTP against lafsd (one process per run; several files in one process reuse the control connection). */
function curlFtp(port: number, user: string, password: string): Client {
  const root = `ftp://${enc(user)}:${enc(password)}@127.0.0.1:${port}`;
  let remote = '';
  return {
    name: 'curl FTP → lafsd',
    async prepare(round) {
      remote = `ftpbench-${Date.now()}-${round}-${randomBytes(3).toString('hex')}`;
      await exec('curl', ['-sS', '--fail', '-Q', `MKD ${remote}`, '-Q', `MKD ${remote}/small`, `${root}/`, '-o', '/dev/null']);
    },
    up: (file) => exec('curl', ['-sS', '--fail', '-T', file, `${root}/${remote}/big.bin`]).then(() => {}),
    down: (out) => exec('curl', ['-sS', '--fail', '-o', out, `${root}/${remote}/big.bin`]).then(() => {}),
    smallUp: (local, names) => exec('curl', ['-sS', '--fail', ...names.flatMap((n) => ['-T', join(local, n), `${root}/${remote}/small/${n}`])]).then(() => {}),
    smallDown: (outDir, names) => exec('curl', ['-sS', '--fail', ...names.flatMap((n) => ['-o', join(outDir, n), `${root}/${remote}/small/${n}`])]).then(() => {}),
  };
}

function writeRandom(path: string, size: number): void {
  writeFileSync(path, randomBytes(size));
}

function sameFiles(a: string, b: string, names: string[]): boolean {
  return names.every((n) => existsSync(join(b, n)) && readFileSync(join(a, n)).equals(readFileSync(join(b, n))));
}

async function main(): Promise<void> {
  let base = urlArg;
  let stopFake: (() => Promise<void>) | undefined;
  if (base === 'fake') {
    // The stand-in node in a process of its own (as a real node runs beside lafsd).
    const child = spawn(process.execPath, [new URL('./webapi-fake-node.js', import.meta.url).pathname], { stdio: ['pipe', 'pipe', 'inherit'] });
    const [line] = (await once(child.stdout, 'data')) as [Buffer];
    base = line.toString().trim();
    stopFake = async () => {
      child.stdin.end();
      await once(child, 'exit');
    };
  }
  if (!base.endsWith('/')) base += '/';
  const envPath = process.env.LAFSD_TAHOE_GRID_ENV ?? join(process.env.GRID_DIR || '/tmp/tahoe-grid', 'grid.env');
  const gridEnv = existsSync(envPath) ? parseEnv(readFileSync(envPath, 'utf8')) : {};
  const tahoeSftpd = gridEnv.TAHOE_WEB_URL === base && gridEnv.SFTP_PORT && gridEnv.SFTP_KEY ? gridEnv : undefined;

  const work = mkdtempSync(join(tmpdir(), 'lafsd-bench-webapi-'));
  let node: BenchNode | undefined;
  const sftps: Array<ReturnType<typeof sftpClient>> = [];
  try {
    node = await startLafsdNode(base, work);
    const lafsdSftp = sftpClient('sftp → lafsd', work, node.sshArgs, node.sftpPort, node.keyUser);
    sftps.push(lafsdSftp);
    const clients: Client[] = [curlWebApi(base), lafsdSftp, curlFtp(node.ftpPort, node.user, node.password)];
    if (tahoeSftpd) {
      // -F none: with Debian's "SendEnv LANG LC_*" Tahoe's sftpd never ends the session (its README).
      const t = sftpClient('sftp → Tahoe sftpd', work, [
        '-F', 'none', '-i', tahoeSftpd.SFTP_KEY!, '-o', `UserKnownHostsFile=${tahoeSftpd.SFTP_KNOWN_HOSTS}`, '-o', 'StrictHostKeyChecking=yes',
        '-o', 'BatchMode=yes', '-o', 'LogLevel=ERROR',
      ], Number(tahoeSftpd.SFTP_PORT), tahoeSftpd.SFTP_USER ?? 'alice');
      sftps.push(t);
      clients.push(t);
    }
    for (const s of sftps) await s.start();

    const times = new Map<string, Record<Op, number[]>>(clients.map((c) => [c.name, { up: [], down: [], smallUp: [], smallDown: [] }]));
    const names = Array.from({ length: SMALL_N }, (_, i) => `f${String(i).padStart(4, '0')}`);
    for (let round = 1; round <= ROUNDS; round++) {
      process.stderr.write(`# round ${round}/${ROUNDS}\n`);
      const order = clients.map((_, i) => clients[(i + round - 1) % clients.length]!);
      for (const c of order) {
        const t = times.get(c.name)!;
        // Fresh random bytes for this client and round: nothing the node has seen.
        const big = join(work, 'big.bin');
        const small = join(work, 'small');
        const back = join(work, 'back');
        rmSync(small, { recursive: true, force: true });
        rmSync(back, { recursive: true, force: true });
        mkdirSync(small);
        mkdirSync(back);
        writeRandom(big, SIZE);
        for (const n of names) writeRandom(join(small, n), SMALL_SIZE);
        await c.prepare(round);
        t.up.push(await timed(() => c.up(big)));
        t.down.push(await timed(() => c.down(join(back, 'big.bin'))));
        if (!readFileSync(big).equals(readFileSync(join(back, 'big.bin')))) throw new Error(`${c.name}: the downloaded file differs`);
        t.smallUp.push(await timed(() => c.smallUp(small, names)));
        t.smallDown.push(await timed(() => c.smallDown(back, names)));
        if (!sameFiles(small, back, names) || readdirSync(back).length !== SMALL_N + 1) throw new Error(`${c.name}: small files differ`);
      }
    }

    const mbps = (bytes: number, ms: number) => bytes / 1e6 / (ms / 1000);
    // Big file: MB/s; small files: files per second.
    const rate = (op: Op, ms: number) => (op === 'up' || op === 'down' ? mbps(SIZE, ms) : SMALL_N / (ms / 1000));
    console.log(`\nweb-API ${base}; ${(SIZE / 1048576).toFixed(0)} MiB file and ${SMALL_N} × 4 KiB files; fresh random data per client and round; median of ${ROUNDS} interleaved rounds; MB/s = 10^6 bytes/s, small files in files/s`);
    console.log(`${'client'.padEnd(22)} ${'up MB/s'.padStart(9)} ${'down MB/s'.padStart(10)} ${'small up/s'.padStart(11)} ${'small down/s'.padStart(13)}   (median seconds: up, down, small up, small down)`);
    const med = new Map<string, Record<Op, number>>();
    for (const c of clients) {
      const t = times.get(c.name)!;
      const m = { up: median(t.up), down: median(t.down), smallUp: median(t.smallUp), smallDown: median(t.smallDown) };
      med.set(c.name, m);
      const cols = OPS.map((op) => rate(op, m[op]).toFixed(1));
      console.log(`${c.name.padEnd(22)} ${cols[0]!.padStart(9)} ${cols[1]!.padStart(10)} ${cols[2]!.padStart(11)} ${cols[3]!.padStart(13)}   (${OPS.map((op) => (m[op] / 1000).toFixed(2)).join(', ')})`);
    }
    // Ratios: the reference's time over ours (above 1: lafsd is faster).
    const ratio = (ours: string, ref: string) => {
      const a = med.get(ours)!;
      const b = med.get(ref)!;
      const r = (op: Op) => (b[op] / a[op]).toFixed(2);
      const small = ((b.smallUp + b.smallDown) / (a.smallUp + a.smallDown)).toFixed(2);
      console.log(`${`${ours} vs ${ref}`.padEnd(44)} ${r('up').padStart(5)} ${r('down').padStart(6)} ${small.padStart(12)}   (small up ${r('smallUp')}, small down ${r('smallDown')})`);
    };
    console.log(`\n${'ratio (reference time / lafsd time)'.padEnd(44)} ${'up'.padStart(5)} ${'down'.padStart(6)} ${'small files'.padStart(12)}`);
    ratio('sftp → lafsd', 'curl web-API');
    if (tahoeSftpd) ratio('sftp → lafsd', 'sftp → Tahoe sftpd');
    ratio('curl FTP → lafsd', 'curl web-API');
    if (!tahoeSftpd) console.log(`(no Tahoe sftpd reference: ${envPath} does not describe ${base})`);
    console.log(`lafsd peak RSS (VmHWM): ${node.peakRssMiB()} MiB`);
  } finally {
    for (const s of sftps) await s.stop();
    await node?.stop();
    rmSync(work, { recursive: true, force: true });
    await stopFake?.();
  }
}

await main();
