// Benchmark of the embedded store, printed as ratios against references run in the same script:
//   1. put and get of a 1 GiB file, against `cp` of the same file on the same disk (and `cp` +
//      `sync`, since the store fsyncs before it acknowledges);
//   2. peak RSS of this process;
//   3. the cost of an insert into a directory as it grows from 1 to 100,000 entries.
// Usage: node dist/bench/store.js [SIZE_MiB=1024] [ENTRIES=100000] [DIR=tmpdir]
import { execFileSync } from 'node:child_process';
import { createReadStream, createWriteStream, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { literalCap } from '../src/caps/index.js';
import { EmbeddedGrid } from '../src/grid/embedded/index.js';
import { streamChunk } from '../test/helpers/data.js';

const sizeMiB = Number(process.argv[2] ?? 1024);
const entries = Number(process.argv[3] ?? 100_000);
const work = mkdtempSync(join(process.argv[4] ?? tmpdir(), 'lafsd-bench-store-'));
const size = sizeMiB * 1024 * 1024;
const MB = 1e6;

function seconds(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e9;
}

function timeCommand(cmd: string, args: string[]): number {
  const t = process.hrtime.bigint();
  execFileSync(cmd, args);
  return seconds(t);
}

try {
  // The source file, written once (not timed).
  const src = join(work, 'source.bin');
  const ws = createWriteStream(src);
  for (let off = 0; off < size; off += 4 * 1024 * 1024) {
    if (!ws.write(streamChunk('bench-store', off, Math.min(4 * 1024 * 1024, size - off)))) await once(ws, 'drain');
  }
  ws.end();
  await once(ws, 'finish');
  execFileSync('sync');

  const cpTime = timeCommand('cp', [src, join(work, 'copy.bin')]);
  execFileSync('sync');
  rmSync(join(work, 'copy.bin'));
  execFileSync('sync');
  const cpSyncTime = timeCommand('sh', ['-c', `cp '${src}' '${join(work, 'copy2.bin')}' && sync`]);
  rmSync(join(work, 'copy2.bin'));

  const grid = await EmbeddedGrid.open({ storeDir: join(work, 'store'), convergenceSecret: Buffer.alloc(32, 5) });
  let t = process.hrtime.bigint();
  const sink = await grid.upload();
  for await (const chunk of createReadStream(src, { highWaterMark: 1024 * 1024 })) await sink.write(chunk as Buffer);
  const cap = await sink.finish();
  const putTime = seconds(t);

  t = process.hrtime.bigint();
  const reader = await grid.openRead(cap);
  const out = createWriteStream(join(work, 'got.bin'), { highWaterMark: 8 * 1024 * 1024 });
  for (let off = 0; off < reader.size; off += 1024 * 1024) {
    if (!out.write(await reader.read(off, 1024 * 1024))) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
  await reader.close();
  const getTime = seconds(t);
  rmSync(join(work, 'got.bin'));

  // Directory growth: every insert is its own durable transaction through the Grid interface.
  const dir = await grid.createDirectory();
  const times: number[] = [];
  const tiny = literalCap(Buffer.from('x'));
  for (let i = 0; i < entries; i++) {
    const s = process.hrtime.bigint();
    await grid.setChild(dir, `entry-${i}`, tiny, { replace: false });
    times.push(Number(process.hrtime.bigint() - s) / 1e6);
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const firstMs = median(times.slice(0, 100));
  const lastMs = median(times.slice(-100));
  await grid.close();

  const mbs = (s: number) => (size / MB / s).toFixed(0);
  const lines = [
    `embedded store, ${sizeMiB} MiB file, ${entries} directory entries (${new Date().toISOString()})`,
    `cp               ${cpTime.toFixed(2)} s  ${mbs(cpTime)} MB/s`,
    `cp + sync        ${cpSyncTime.toFixed(2)} s  ${mbs(cpSyncTime)} MB/s`,
    `put (streamed)   ${putTime.toFixed(2)} s  ${mbs(putTime)} MB/s   ratio to cp ${(cpTime / putTime).toFixed(2)}, to cp+sync ${(cpSyncTime / putTime).toFixed(2)}`,
    `get (to a file)  ${getTime.toFixed(2)} s  ${mbs(getTime)} MB/s   ratio to cp ${(cpTime / getTime).toFixed(2)}`,
    `peak RSS         ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MiB (file size ${sizeMiB} MiB)`,
    `insert #1        ${times[0]!.toFixed(3)} ms; median of inserts 1-100: ${firstMs.toFixed(3)} ms`,
    `insert #${entries}  ${times[times.length - 1]!.toFixed(3)} ms; median of the last 100: ${lastMs.toFixed(3)} ms   ratio last/first ${(lastMs / firstMs).toFixed(2)}`,
  ];
  console.log(lines.join('\n'));
  writeFileSync(join(tmpdir(), 'lafsd-bench-store.txt'), lines.join('\n') + '\n');
} finally {
  rmSync(work, { recursive: true, force: true });
}
