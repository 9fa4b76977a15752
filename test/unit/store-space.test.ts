// The embedded store's disk-space guard (src/grid/embedded/space.ts): claims count against the
// free space until statfs is read again, but a refusal is never made on claims that statfs may
// already contradict (an upload that failed and left nothing must not make the retry fail).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SpaceGuard } from '../../src/grid/embedded/space.js';
import { GridError } from '../../src/grid/errors.js';

const MiB = 1024 * 1024;

/** A filesystem of `free()` bytes free (4 KiB blocks) whose statfs calls are counted. */
function disk(free: () => number) {
  const calls = { n: 0 };
  const statfs = async () => {
    calls.n++;
    await new Promise((r) => setImmediate(r)); // read later, on the thread pool, as fs.statfs is
    const blocks = Math.floor(free() / 4096);
    return { blocks: 100_000, bfree: blocks, bavail: blocks, bsize: 4096 };
  };
  return { calls, statfs };
}

const refused = (err: unknown) => err instanceof GridError && err.code === 'NO_SPACE';

test('space: the claims of an upload that failed do not refuse the retry that follows at once', async () => {
  let free = 20 * MiB;
  const { calls, statfs } = disk(() => free);
  const guard = new SpaceGuard('/unused', 4 * MiB, statfs);
  // A 30 MiB upload writes what it claims, segment by segment, until it is refused...
  let written = 0;
  await assert.rejects(async () => {
    for (;;) {
      await guard.claim(MiB);
      free -= MiB;
      written += MiB;
    }
  }, refused);
  assert.equal(written, 16 * MiB, 'the reserve is kept');
  // ...and its temporary file is removed. Within the same statfs period, a 1 MiB upload fits.
  free += written;
  await guard.claim(MiB);
  assert.equal(await guard.available(), 15 * MiB);
  assert.ok(calls.n <= 4, `statfs was read ${calls.n} times`);
});

test('space: claims stay counted between statfs reads, so concurrent uploads cannot overshoot together', async () => {
  let free = 20 * MiB;
  const { calls, statfs } = disk(() => free);
  const guard = new SpaceGuard('/unused', 4 * MiB, statfs);
  // Each claim is written at once, as a sealed segment is.
  const upload = async () => {
    await guard.claim(MiB);
    free -= MiB;
  };
  await Promise.all(Array.from({ length: 10 }, upload));
  assert.equal(calls.n, 1, 'one statfs for claims that fit');
  const results = await Promise.allSettled(Array.from({ length: 10 }, upload));
  assert.equal(results.filter((r) => r.status === 'fulfilled').length, 6, 'exactly what fits beside the reserve');
  assert.ok(results.filter((r) => r.status === 'rejected').every((r) => refused((r as PromiseRejectedResult).reason)));
  assert.equal(free, 4 * MiB, 'the reserve is untouched');
  assert.ok(calls.n <= 4, `refusals share their statfs reads (${calls.n})`);
});
