// The malloc_trim addon (native/malloc-trim, src/util/malloc-trim.ts): `npm install` builds it,
// and on glibc it gives back the free pages that free() leaves inside the heap. Measured in a
// child process, whose RSS is its own.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { MALLOC_TRIM_ADDON, loadMallocTrim, mallocTrimAvailable } from '../../src/util/malloc-trim.js';

const MiB = 1024 * 1024;
const onGlibc = Boolean((process.report.getReport() as { header?: { glibcVersionRuntime?: string } }).header?.glibcVersionRuntime);

// 64 MiB of 96 KiB Buffers (below glibc's 128 KiB mmap threshold: they come from its heap), one
// in 16 kept, so that free() can give back nothing of the heap's top. `trim` says whether to call
// the addon.
const CHILD = (trim: boolean) => `
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const rss = () => process.memoryUsage.rss();
(async () => {
  const { releaseFreedMemory } = await import(${JSON.stringify(new URL('../../src/util/malloc-trim.js', import.meta.url).href)});
  const start = rss();
  let all = [];
  for (let i = 0; i < 683; i++) all.push(Buffer.allocUnsafeSlow(96 * 1024).fill(1));
  const kept = all.filter((_, i) => i % 16 === 15);
  const filled = rss();
  all = null;
  gc();
  await sleep(300); // V8 frees dead ArrayBuffers' memory on a background thread
  gc();
  const freed = rss();
  const gave = ${trim} ? releaseFreedMemory() : null;
  console.log(JSON.stringify({ start, filled, freed, trimmed: rss(), gave, kept: kept.length }));
})();
`;

function childReport(trim: boolean): Record<string, number | boolean | null> {
  // glibc's defaults, whatever runs the tests (an empty value would be a threshold of 0).
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('MALLOC_')));
  const out = execFileSync(process.execPath, ['--expose-gc', '--input-type=module', '-e', CHILD(trim)], { env, encoding: 'utf8' });
  return JSON.parse(out) as Record<string, number | boolean | null>;
}

test('the malloc_trim addon is built and loads on this machine (glibc)', { skip: !onGlibc && 'not glibc' }, () => {
  assert.ok(existsSync(MALLOC_TRIM_ADDON), `${MALLOC_TRIM_ADDON} (npm install builds it)`);
  assert.equal(mallocTrimAvailable(), true);
});

test('free() alone keeps a fragmented heap resident; malloc_trim gives its free pages back', { skip: !onGlibc && 'not glibc' }, () => {
  const plain = childReport(false);
  const trimmed = childReport(true);
  for (const r of [plain, trimmed]) {
    const filled = (r.filled as number) - (r.start as number);
    assert.ok(filled > 56 * MiB, `the Buffers were resident: +${filled / MiB} MiB`);
    // The premise: collected and freed, the heap's holes stay resident.
    const gone = (r.filled as number) - (r.freed as number);
    assert.ok(gone < 16 * MiB, `free() gave back ${gone / MiB} MiB of 60`);
  }
  assert.equal(plain.gave, null);
  assert.equal(trimmed.gave, true);
  const back = (trimmed.freed as number) - (trimmed.trimmed as number);
  assert.ok(back > 40 * MiB, `malloc_trim gave back ${back / MiB} MiB of the 60 freed`);
});

test('a missing addon is reported as unavailable, not thrown', () => {
  assert.equal(loadMallocTrim('/nonexistent/malloc_trim.node'), null);
  // A file that is not the addon: it exists and loads, and has no trim().
  assert.equal(loadMallocTrim(fileURLToPath(import.meta.url)), null);
  assert.equal(typeof loadMallocTrim(MALLOC_TRIM_ADDON), 'function');
});
