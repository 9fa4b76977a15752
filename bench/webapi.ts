// Upload and download throughput of one large file through the web-API backend (WebApiGrid),
// and end to end through `lafsd run` on that backend with the OpenSSH sftp client, each next
// to curl doing a plain PUT /uri and GET /uri/$CAP of the same file against the same web-API.
// Run through bench/webapi.sh:  bench/webapi.sh URL [SIZE_MIB]   (URL `fake`: the stand-in
// node from the test helpers, started in a child process).
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { WebApiGrid } from '../src/grid/webapi/index.js';
import { benchLafsdSftp } from './webapi-lafsd.js';

const [urlArg = '', sizeArg = '256'] = process.argv.slice(2);
const SIZE = Math.round(Number(sizeArg) * 1024 * 1024);
if (!urlArg || !(SIZE > 0)) {
  console.error('usage: bench/webapi.sh URL|fake [SIZE_MIB]');
  process.exit(2);
}

const mib = (bytes: number, ms: number) => bytes / 1048576 / (ms / 1000);

function table(title: string, column: string, rows: Array<[string, number, number]>): void {
  console.log(`${title.padEnd(34)} ${column.padStart(16)}   curl MiB/s   ratio`);
  for (const [name, ours, theirs] of rows) {
    console.log(`${name.padEnd(34)} ${ours.toFixed(1).padStart(16)} ${theirs.toFixed(1).padStart(12)} ${(ours / theirs).toFixed(2).padStart(7)}`);
  }
}

function run(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`${cmd} exited ${code}`))));
  });
}

async function timed<T>(fn: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const t0 = process.hrtime.bigint();
  const value = await fn();
  return { ms: Number(process.hrtime.bigint() - t0) / 1e6, value };
}

async function main(): Promise<void> {
  let url = urlArg;
  let stopFake: (() => Promise<void>) | undefined;
  if (url === 'fake') {
    // In a process of its own, so the server does not share this process's thread with the
    // backend (curl, too, runs beside the server, not inside it).
    const child = spawn(process.execPath, [new URL('./webapi-fake-node.js', import.meta.url).pathname], { stdio: ['pipe', 'pipe', 'inherit'] });
    const [line] = (await once(child.stdout, 'data')) as [Buffer];
    url = line.toString().trim();
    stopFake = async () => {
      child.stdin.end();
      await once(child, 'exit');
    };
  }
  const base = url.endsWith('/') ? url : `${url}/`;
  const work = mkdtempSync(join(tmpdir(), 'lafsd-bench-'));
  try {
    // The test file, random so nothing along the way can compress or dedupe it.
    const file = join(work, 'data.bin');
    const hash = createHash('sha256');
    const out = createWriteStream(file);
    for (let off = 0; off < SIZE; off += 1 << 20) {
      const chunk = randomBytes(Math.min(1 << 20, SIZE - off));
      hash.update(chunk);
      if (!out.write(chunk)) await once(out, 'drain');
    }
    out.end();
    await once(out, 'finish');
    const digest = hash.digest('hex');

    // curl: the same file, PUT /uri?format=CHK and GET /uri/$CAP, straight at the web-API.
    const curlUp = await timed(() => run('curl', ['-sS', '--fail', '-T', file, `${base}uri?format=CHK`]));
    const curlCap = curlUp.value.trim();
    const curlDown = await timed(() => run('curl', ['-sS', '--fail', '-o', '/dev/null', `${base}uri/${encodeURIComponent(curlCap)}`]));

    const grid = await WebApiGrid.open(base);
    try {
      const up = await timed(async () => {
        const sink = await grid.upload();
        for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) await sink.write(chunk as Buffer);
        return sink.finish();
      });
      const cap = up.value;
      // Timed passes only move the bytes (curl, too, only writes them to /dev/null); a separate
      // untimed pass checks them.
      // Sequential large reads (direct ranges), like a client copying the file out.
      const seq = await timed(async () => {
        const reader = await grid.openRead(cap);
        for (let off = 0; off < reader.size; off += 4 << 20) await reader.read(off, 4 << 20);
        await reader.close();
      });
      // SFTP-like: 32 KiB reads, 64 in flight (through the block cache and read-ahead).
      const sftpRead = async (onData: (b: Buffer) => void) => {
        const reader = await grid.openRead(cap);
        const READ = 32768;
        const WINDOW = 64;
        const pending: Array<Promise<Buffer>> = [];
        let next = 0;
        while (next < reader.size || pending.length) {
          while (pending.length < WINDOW && next < reader.size) {
            pending.push(reader.read(next, READ));
            next += READ;
          }
          onData(await pending.shift()!);
        }
        await reader.close();
      };
      const sftp = await timed(() => sftpRead(() => {}));
      const check = createHash('sha256');
      await sftpRead((b) => check.update(b));
      if (check.digest('hex') !== digest) throw new Error('downloaded bytes differ from the file');
      if (cap !== curlCap) console.log('(note: the node gave another cap to the backend upload than to curl)');

      const rows: Array<[string, number, number]> = [
        ['upload (PUT /uri)', mib(SIZE, up.ms), mib(SIZE, curlUp.ms)],
        ['download, 4 MiB reads', mib(SIZE, seq.ms), mib(SIZE, curlDown.ms)],
        ['download, 32 KiB x64 in flight', mib(SIZE, sftp.ms), mib(SIZE, curlDown.ms)],
      ];
      console.log(`web-API ${base}  file ${(SIZE / 1048576).toFixed(0)} MiB`);
      table('operation', 'WebApiGrid MiB/s', rows);
    } finally {
      await grid.close();
    }
    // End to end: OpenSSH sftp → lafsd run (grid = webapi) → the same web-API.
    const lafsd = await benchLafsdSftp(base, file, digest, work);
    console.log();
    table('through lafsd run (OpenSSH sftp)', 'lafsd MiB/s', [
      ['upload (sftp put)', mib(SIZE, lafsd.upMs), mib(SIZE, curlUp.ms)],
      ['download (sftp get, to a file)', mib(SIZE, lafsd.downMs), mib(SIZE, curlDown.ms)],
    ]);
  } finally {
    rmSync(work, { recursive: true, force: true });
    await stopFake?.();
  }
}

await main();
