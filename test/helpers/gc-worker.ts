// A separate process for garbage-collection races and crash tests on an embedded store.
//   dedup STORE SECRETHEX ROOTCAP N GRACEMS → N times: upload one of a few contents (so most
//       uploads deduplicate to an object replaced a while ago), link it as `cur` in ROOTCAP,
//       read it back through the link; prints "ok I" or "fail I why" (then exits 1)
//   gc STORE SECRETHEX ROOTCAP GRACEMS     → prints "started", then collects garbage forever
import { createHash } from 'node:crypto';
import { EmbeddedGrid, SEGMENT_SIZE } from '../../src/grid/embedded/index.js';
import { get, put } from './grid-io.js';
import { pseudoRandom } from './data.js';

const [cmd, storeDir, secretHex, root, ...rest] = process.argv.slice(2);
const grid = await EmbeddedGrid.open({ storeDir: storeDir!, convergenceSecret: Buffer.from(secretHex!, 'hex') });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const hash = (b: Buffer) => createHash('sha256').update(b).digest('hex');

if (cmd === 'dedup') {
  const n = Number(rest[0]);
  const graceMs = Number(rest[1]);
  // Object files and small objects (rows) alike.
  const contents = Array.from({ length: 8 }, (_, j) => pseudoRandom(`dedup-${j}`, j % 2 === 0 ? SEGMENT_SIZE + 1000 * j : 3000 + j));
  for (let i = 0; i < n; i++) {
    const data = contents[i % contents.length]!;
    try {
      const cap = await put(grid, data);
      await grid.setChild(root!, 'cur', cap, { replace: true });
      const linked = (await grid.getChild(root!, 'cur'))!.node.cap;
      if (hash(await get(grid, linked)) !== hash(data)) throw new Error('wrong bytes');
      process.stdout.write(`ok ${i}\n`);
    } catch (err) {
      process.stdout.write(`fail ${i} ${(err as Error).message}\n`);
      process.exit(1);
    }
    // On average one cycle through the contents takes about the grace period.
    await sleep(Math.random() * (2 * graceMs) / contents.length);
  }
  await grid.close();
} else if (cmd === 'gc') {
  const graceMs = Number(rest[0]);
  process.stdout.write('started\n');
  for (;;) await grid.collectGarbage({ roots: async () => [{ cap: root!, where: 'root' }], graceMs });
} else {
  throw new Error(`unknown command ${cmd}`);
}
