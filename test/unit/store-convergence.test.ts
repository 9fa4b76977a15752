// How the embedded store derives caps from content (convergence.ts): BLAKE3 in new stores,
// SHA-256 in stores made before, each checked against an independent implementation, and the
// vendored BLAKE3 against the official test vectors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { blake3 } from '@noble/hashes/blake3.js';
import { taggedHash } from '../../src/caps/index.js';
import { EmbeddedGrid, SEGMENT_SIZE } from '../../src/grid/embedded/index.js';
import { sealAddon } from '../../src/grid/embedded/native.js';
import { isGridError } from '../../src/grid/index.js';
import { BLAKE3_VECTORS, blake3VectorInput } from '../helpers/blake3-vectors.js';
import { pseudoRandom } from '../helpers/data.js';
import { get, put } from '../helpers/grid-io.js';
import { openStoreMadeBeforeBlake3, storeMeta } from '../helpers/store-versions.js';
import { tempDir } from '../helpers/tmp.js';
import { readKeyOf } from '../helpers/caps.js';

const SECRET = Buffer.alloc(32, 4);

/** The read key a cap must carry, computed here from the definition, not from the store's code. */
function expectedReadKey(hash: 'blake3' | 'sha256', content: Buffer): Buffer {
  const digest = hash === 'blake3' ? Buffer.from(blake3(content)) : createHash('sha256').update(content).digest();
  const params = Buffer.alloc(4);
  params.writeUInt32BE(SEGMENT_SIZE);
  const tag = hash === 'blake3' ? 'lafsd_chk_convergent_key_blake3_v1' : 'lafsd_chk_convergent_key_v1';
  return taggedHash(tag, Buffer.concat([SECRET, params, digest]), 16);
}

// Sizes: a small object (a row), exactly one segment, and several segments with a partial last.
const SIZES = [4000, SEGMENT_SIZE, 5 * SEGMENT_SIZE + 777];

test('the sealing addon\'s BLAKE3 gives the official test vectors, and refuses what it must not hash on the event loop', () => {
  const addon = sealAddon();
  for (const [length, hex] of BLAKE3_VECTORS) {
    assert.equal(addon.blake3(blake3VectorInput(length)).toString('hex'), hex, `input of ${length} bytes`);
  }
  // Random inputs against an independent implementation, across chunk (1 KiB) boundaries.
  for (let i = 0; i < 200; i++) {
    const data = randomBytes(Math.floor(Math.random() * 70_000));
    assert.deepEqual(addon.blake3(data), Buffer.from(blake3(data)), `${data.length} random bytes`);
  }
  assert.throws(() => addon.blake3(Buffer.alloc((1 << 20) + 1)), RangeError);
  assert.throws(() => addon.blake3('text' as unknown as Buffer), TypeError);
  assert.throws(() => addon.begin(join(tempDir(), 'x'), Buffer.alloc(32), 'md5' as 'sha256'), TypeError);
});

test('a new store hashes with BLAKE3: caps are the convergent keys of the BLAKE3 digest, and equal bytes make one cap', async () => {
  const dir = tempDir('lafsd-convergence-');
  const grid = await EmbeddedGrid.open({ storeDir: dir, convergenceSecret: SECRET });
  assert.equal(storeMeta(dir, 'content_hash'), 'blake3');
  assert.equal(storeMeta(dir, 'schema'), '4');
  for (const size of SIZES) {
    const data = pseudoRandom(`new-${size}`, size);
    const cap = await put(grid, data, 70_000);
    assert.deepEqual(readKeyOf(cap), expectedReadKey('blake3', data), `${size} bytes`);
    assert.equal(await put(grid, data, 4096), cap, `${size} bytes again, written in other pieces: the same cap`);
    assert.deepEqual(await get(grid, cap), data);
  }
  await grid.close();
});

test('a store made before BLAKE3 keeps SHA-256: its caps stay what they were, so new uploads find the copies it holds', async () => {
  const dir = tempDir('lafsd-convergence-old-');
  let grid = await openStoreMadeBeforeBlake3(dir, SECRET);
  assert.equal(storeMeta(dir, 'content_hash'), 'sha256');
  const caps = new Map<number, string>();
  for (const size of SIZES) {
    const data = pseudoRandom(`old-${size}`, size);
    const cap = await put(grid, data);
    assert.deepEqual(readKeyOf(cap), expectedReadKey('sha256', data), `${size} bytes`);
    caps.set(size, cap);
  }
  await grid.close();
  // Reopened (as after an upgrade): still SHA-256, the same caps, no second copy.
  grid = await EmbeddedGrid.open({ storeDir: dir, convergenceSecret: SECRET });
  assert.equal(storeMeta(dir, 'content_hash'), 'sha256');
  for (const size of SIZES) assert.equal(await put(grid, pseudoRandom(`old-${size}`, size)), caps.get(size));
  await grid.close();
});

test('a store whose content hash this lafsd does not know is refused with a message that names it', async () => {
  const dir = tempDir('lafsd-convergence-unknown-');
  await (await EmbeddedGrid.open({ storeDir: dir, convergenceSecret: SECRET })).close();
  const db = new Database(join(dir, 'store.db'));
  db.prepare("UPDATE meta SET value = 'sha3' WHERE key = 'content_hash'").run();
  db.close();
  await assert.rejects(
    EmbeddedGrid.open({ storeDir: dir, convergenceSecret: SECRET }),
    (err: Error) => isGridError(err) && err.code === 'UNAVAILABLE' && /content hash "sha3" is not supported/.test(err.message),
  );
});
