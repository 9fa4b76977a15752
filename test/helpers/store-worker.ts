// A separate process that works on an embedded store, for concurrency and crash tests.
//   add STORE SECRETHEX DIRCAP PREFIX N   → links N tiny files PREFIX0..PREFIX(N-1), concurrently
//   churn STORE SECRETHEX DIRCAP           → forever: upload a file, link it, print "ack NAME SHA256"
import { createHash } from 'node:crypto';
import { EmbeddedGrid } from '../../src/grid/embedded/index.js';
import { literalCap } from '../../src/caps/index.js';
import { streamChunk } from './data.js';

const [cmd, storeDir, secretHex, dirCap, ...rest] = process.argv.slice(2);
const grid = await EmbeddedGrid.open({ storeDir: storeDir!, convergenceSecret: Buffer.from(secretHex!, 'hex') });

if (cmd === 'add') {
  const [prefix, n] = rest;
  await Promise.all(
    Array.from({ length: Number(n) }, (_, i) => grid.setChild(dirCap!, `${prefix}${i}`, literalCap(Buffer.from(String(i))), { replace: false })),
  );
  await grid.close();
} else if (cmd === 'churn') {
  for (let i = 0; ; i++) {
    const size = 1000 + ((i * 7919) % 400_000);
    const data = streamChunk(`churn-${process.pid}-${i}`, 0, size);
    const up = await grid.upload();
    for (let off = 0; off < size; off += 50_000) await up.write(data.subarray(off, off + 50_000));
    const cap = await up.finish();
    const name = `f${i}`;
    await grid.setChild(dirCap!, name, cap, { replace: true, metadata: { i } });
    if (i % 3 === 0) await grid.moveChild(dirCap!, name, dirCap!, `m${i}`, true);
    process.stdout.write(`ack ${i % 3 === 0 ? `m${i}` : name} ${createHash('sha256').update(data).digest('hex')}\n`);
  }
} else {
  throw new Error(`unknown command ${cmd}`);
}
