// Streams SIZE bytes into a fresh embedded store and back, in its own process so its peak RSS
// measures the store alone. Prints JSON: hashes of what was written and read, and memory.
import { createHash } from 'node:crypto';
import { EmbeddedGrid } from '../../src/grid/embedded/index.js';
import { streamChunks } from './data.js';

const [dir, sizeText] = process.argv.slice(2);
const size = Number(sizeText);
const grid = await EmbeddedGrid.open({ storeDir: dir!, convergenceSecret: Buffer.alloc(32, 1) });
const baseline = process.memoryUsage().rss;
let maxRss = baseline;
const sample = setInterval(() => (maxRss = Math.max(maxRss, process.memoryUsage().rss)), 20);

const written = createHash('sha256');
const sink = await grid.upload();
for (const chunk of streamChunks('big-worker', size, 256 * 1024)) {
  written.update(chunk);
  await sink.write(chunk);
}
const cap = await sink.finish();

const read = createHash('sha256');
const reader = await grid.openRead(cap);
for (let off = 0; off < reader.size; off += 256 * 1024) read.update(await reader.read(off, 256 * 1024));
await reader.close();
await grid.close();
clearInterval(sample);
maxRss = Math.max(maxRss, process.resourceUsage().maxRSS * 1024);
process.stdout.write(JSON.stringify({
  size: reader.size, written: written.digest('hex'), read: read.digest('hex'),
  maxRssMiB: Math.round(maxRss / 2 ** 20), baselineRssMiB: Math.round(baseline / 2 ** 20),
}));
