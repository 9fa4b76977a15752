// The web-API backend's small parts on their own: cap scrubbing and HTML stripping of error
// texts, query encoding as Twisted decodes it, the cache's invalidation rule, the block reader's
// ranges and request counts, the concurrency limiter and the upload feed's backpressure.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { formatCap, readCapOf, type Cap } from '../../src/caps/index.js';
import { TtlCache } from '../../src/grid/webapi/cache.js';
import { errorText, htmlMessage, scrubCaps } from '../../src/grid/webapi/errors.js';
import { Limiter } from '../../src/grid/webapi/limiter.js';
import { RangeReader } from '../../src/grid/webapi/reader.js';
import { capPath, queryString, rangeRequest, relinkRequest } from '../../src/grid/webapi/requests.js';
import { Feed } from '../../src/grid/webapi/upload.js';
import { pseudoRandom } from '../helpers/data.js';

const capArb = fc.constantFrom('SSK', 'MDMF', 'DIR2', 'DIR2-MDMF', 'CHK', 'LIT').chain((type) =>
  fc.tuple(fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.nat(1 << 30)).map(([k, f, size]): string => {
    const key = Buffer.from(k);
    const fp = Buffer.from(f);
    let cap: Cap;
    if (type === 'CHK') cap = { type, key, uebHash: fp, k: 2, n: 3, size: size + 56 };
    else if (type === 'LIT') cap = { type, data: Buffer.concat([key, fp]) };
    else cap = { type, writeKey: key, fingerprint: fp } as Cap;
    return formatCap(cap);
  }),
);

test('no cap survives in an error text, in any framing or encoding', () => {
  fc.assert(
    fc.property(capArb, fc.string(), fc.string(), fc.constantFrom('plain', 'encoded', 'ro', 'readcap', 'html', 'json'), (cap, before, after, how) => {
      const shown =
        how === 'encoded' ? encodeURIComponent(cap) : how === 'ro' ? `ro.${cap}` : how === 'readcap' ? readCapOf(cap) : cap;
      const text = `${before} ${shown} ${after}`;
      const body = how === 'html' ? `<html><body><h1>Error</h1><p>${text}</p></body></html>` : how === 'json' ? JSON.stringify({ error: text }) : text;
      const out = errorText(how === 'html' ? 'text/html' : how === 'json' ? 'application/json' : 'text/plain', body);
      const keyPart = shown.split(/:|%3A/)[2]!;
      assert.ok(!out.includes(keyPart) || keyPart.length < 20 || `${before}${after}`.includes(keyPart), out);
      assert.doesNotMatch(out, /URI(:|%3A)/i);
    }),
    { numRuns: 500 },
  );
  assert.equal(scrubCaps('bad cap URI:DIR2:abc:def here'), 'bad cap [cap] here');
});

test('HTML error bodies come out as text without tags, whatever the markup', () => {
  fc.assert(
    fc.property(fc.array(fc.oneof(fc.string(), fc.constantFrom('<p>', '</p>', '<h1>', '</h1>', '<b>', '&lt;b&gt;', '<style>x{}</style>', '<!-- c -->', '&amp;', '&#60;i&#62;')), { maxLength: 30 }), (parts) => {
      const out = errorText('text/html; charset=utf-8', `<html>${parts.join('')}</html>`);
      assert.doesNotMatch(out, /<\/?[a-z!?][^>]*>/i, out);
      assert.ok(out.length <= 300);
    }),
    { numRuns: 500 },
  );
  assert.equal(htmlMessage('<html><head><title>x</title></head><body><h1>Error</h1><p>No such child: a&amp;b</p></body></html>'), 'No such child: a&b');
  assert.equal(errorText('text/plain;charset=utf-8', 'Traceback (most recent call last):\n  File "x.py", line 1, in f\n    g()\nallmydata.mutable.common.NotWriteableError: \n'), 'NotWriteableError');
  assert.equal(errorText('text/plain', '{"error": "No such child: x"}'), 'No such child: x');
});

test('names and caps in requests survive Twisted decoding exactly (%20 for spaces, %2B for +)', () => {
  fc.assert(
    fc.property(fc.string({ unit: 'grapheme', minLength: 1 }), capArb, (name, cap) => {
      const req = relinkRequest(cap, name, cap, `${name}+ x`, 'only-files');
      const [path, query] = req.path.split('?') as [string, string];
      assert.equal(path, capPath(cap));
      assert.deepEqual(decodeURIComponent(path.slice('/uri/'.length)), cap);
      const args = new URLSearchParams(query); // application/x-www-form-urlencoded, as unquote_plus
      assert.equal(args.get('from_name'), name);
      assert.equal(args.get('to_name'), `${name}+ x`);
      assert.equal(args.get('to_dir'), cap);
      assert.equal(args.get('replace'), 'only-files');
    }),
    { numRuns: 300 },
  );
  assert.equal(queryString([['name', 'a b+c&d=é']]), '?name=a%20b%2Bc%26d%3D%C3%A9');
  assert.throws(() => rangeRequest('URI:LIT:', 5, 4), RangeError);
  assert.throws(() => rangeRequest('URI:LIT:', -1, 4), RangeError);
});

test('cache: shared fetches, expiry, and no stale answer stored after an invalidation', async () => {
  let now = 0;
  const cache = new TtlCache<number>(1000, 3, () => now);
  let calls = 0;
  const fetch = async () => ++calls;
  const [a, b] = await Promise.all([cache.get('k', fetch), cache.get('k', fetch)]);
  assert.deepEqual([a, b, calls], [1, 1, 1]);
  assert.equal(await cache.get('k', fetch), 1);
  now = 1001;
  assert.equal(await cache.get('k', fetch), 2, 'expired');
  assert.equal(await cache.get('k', fetch, true), 3, 'fresh skips the cached value');

  // A fetch that was on its way before a write must not be stored after it.
  let release!: (v: number) => void;
  const slow = cache.get('d', () => new Promise<number>((r) => (release = r)));
  cache.invalidate('d');
  const after = cache.get('d', async () => 42);
  release(7);
  assert.equal(await slow, 7);
  assert.equal(await after, 42);
  assert.equal(await cache.get('d', async () => 99), 42);

  await assert.rejects(cache.get('e', async () => Promise.reject(new Error('down'))));
  assert.equal(await cache.get('e', async () => 5), 5, 'failures are not cached');

  cache.invalidatePrefix('');
  for (const k of ['1', '2', '3', '4']) await cache.get(k, async () => 0);
  assert.equal(cache.size, 3, 'bounded');

  const none = new TtlCache<number>(0);
  let n = 0;
  await none.get('x', async () => ++n);
  await none.get('x', async () => ++n);
  assert.equal(n, 2, 'ttl 0 caches nothing');
});

function countingReader(data: Buffer, opts = { blockSize: 512 * 1024, cacheBlocks: 8, readAheadBlocks: 2 }) {
  const fetches: Array<[number, number]> = [];
  const reader = new RangeReader(data.length, async (first, last) => {
    assert.ok(first >= 0 && last >= first && last < data.length, `bad range ${first}-${last}`);
    fetches.push([first, last]);
    await new Promise((r) => setImmediate(r));
    return data.subarray(first, last + 1);
  }, opts);
  return { reader, fetches };
}

test('block reader: any read returns exactly the bytes, with ranges inside the file', async () => {
  const data = pseudoRandom('reader', 300_000);
  await fc.assert(
    fc.asyncProperty(fc.nat(320_000), fc.nat(200_000), fc.integer({ min: 1, max: 70_000 }), async (offset, length, blockSize) => {
      const { reader } = countingReader(data, { blockSize, cacheBlocks: 6, readAheadBlocks: 2 });
      assert.deepEqual(await reader.read(offset, length), data.subarray(offset, offset + length));
      await reader.close();
    }),
    { numRuns: 300 },
  );
});

test('block reader: 64 pipelined 32 KiB reads cost a handful of requests, sequential reads stay few', async (t) => {
  const data = pseudoRandom('pipelined', 8 * 1024 * 1024);
  const { reader, fetches } = countingReader(data);
  const parts = await Promise.all(Array.from({ length: 64 }, (_, i) => reader.read(i * 32768, 32768)));
  assert.deepEqual(Buffer.concat(parts), data.subarray(0, 64 * 32768));
  assert.ok(fetches.length <= 6, `${fetches.length} requests for 2 MiB`);
  t.diagnostic(`64 pipelined 32 KiB reads: ${fetches.length} range requests`);
  // The whole file in sequential 32 KiB reads: about one request per 512 KiB block.
  for (let off = 64 * 32768; off < data.length; off += 32768) assert.equal((await reader.read(off, 32768)).length, 32768);
  assert.ok(fetches.length <= 8 * 2 + 2, `${fetches.length} requests for 8 MiB`);
  t.diagnostic(`8 MiB in sequential 32 KiB reads: ${fetches.length} range requests`);
  await reader.close();
});

test('block reader with the backend defaults: request counts for pipelined, sequential, large and random reads', async (t) => {
  const { WEBAPI_DEFAULTS: D } = await import('../../src/grid/webapi/index.js');
  const opts = { blockSize: D.blockSize, cacheBlocks: D.cacheBlocks, readAheadBlocks: D.readAheadBlocks };
  const data = pseudoRandom('defaults', 64 * 1024 * 1024 + 7);
  {
    const { reader, fetches } = countingReader(data, opts);
    const parts = await Promise.all(Array.from({ length: 64 }, (_, i) => reader.read(i * 32768, 32768)));
    assert.deepEqual(Buffer.concat(parts), data.subarray(0, 2 * 1024 * 1024));
    t.diagnostic(`defaults: 64 pipelined 32 KiB reads: ${fetches.length} range requests`);
    assert.ok(fetches.length <= 2 + D.readAheadBlocks);
  }
  {
    // Large sequential reads go direct, each with the next one fetched ahead (and used).
    const { reader, fetches } = countingReader(data, opts);
    const SZ = 16 * 1024 * 1024;
    for (let off = 0; off < data.length; off += SZ) assert.deepEqual(await reader.read(off, SZ), data.subarray(off, off + SZ));
    t.diagnostic(`defaults: 64 MiB in 16 MiB reads: ${fetches.length} range requests`);
    assert.equal(fetches.length, Math.ceil(data.length / SZ) + 1);
  }
  {
    // A reader that peeks at a few places fetches little ahead.
    const { reader, fetches } = countingReader(data, opts);
    for (const off of [40_000_000, 10_000_000, 60_000_000, 20_000_000]) await reader.read(off, 4096);
    assert.equal(fetches.length, 4, 'no read-ahead for random reads');
    await reader.read(0, 100);
    await new Promise((r) => setImmediate(r));
    assert.equal(fetches.length, 6, 'a read at the start fetches one block ahead');
  }
});

test('block reader: OpenSSH sftp get (64 reads of 255 KiB in flight, one sent per reply) fetches each byte once', async (t) => {
  const { WEBAPI_DEFAULTS: D } = await import('../../src/grid/webapi/index.js');
  const data = pseudoRandom('openssh-get', 48 * 1024 * 1024 + 12345);
  const { reader, fetches } = countingReader(data, { blockSize: D.blockSize, cacheBlocks: D.cacheBlocks, readAheadBlocks: D.readAheadBlocks });
  const READ = 261120;
  const out = Buffer.alloc(data.length);
  let next = 0;
  const inFlight = new Set<Promise<void>>();
  const send = () => {
    const off = next;
    next += READ;
    const p: Promise<void> = reader.read(off, READ).then((b) => {
      b.copy(out, off);
      inFlight.delete(p);
    });
    inFlight.add(p);
  };
  while (next < data.length && inFlight.size < 64) send();
  while (inFlight.size > 0) {
    await Promise.race(inFlight);
    while (next < data.length && inFlight.size < 64) send();
  }
  assert.deepEqual(out, data);
  const fetched = fetches.reduce((n, [first, last]) => n + last - first + 1, 0);
  t.diagnostic(`${(data.length / 1048576).toFixed(0)} MiB with 64 × 255 KiB in flight: ${fetches.length} range requests, ${(fetched / 1048576).toFixed(1)} MiB fetched`);
  assert.equal(fetched, data.length, 'no block fetched twice');
  await reader.close();
});

test('block reader: a failed block is fetched again on the next read', async () => {
  const data = pseudoRandom('retry', 100_000);
  let fail = true;
  const reader = new RangeReader(data.length, async (first, last) => {
    if (fail) throw new Error('node down');
    return data.subarray(first, last + 1);
  }, { blockSize: 10_000, cacheBlocks: 4, readAheadBlocks: 1 });
  await assert.rejects(reader.read(0, 100), /node down/);
  fail = false;
  assert.deepEqual(await reader.read(0, 100), data.subarray(0, 100));
});

test('limiter: never more than max at once, all run', async () => {
  const limiter = new Limiter(3);
  let active = 0;
  let peak = 0;
  await Promise.all(Array.from({ length: 20 }, () => limiter.run(async () => {
    active++;
    peak = Math.max(peak, active);
    await new Promise((r) => setTimeout(r, 2));
    active--;
  })));
  assert.equal(peak, 3);
  assert.equal(limiter.inFlight, 0);
  const held = await limiter.acquire();
  const others = await Promise.all([limiter.acquire(), limiter.acquire()]);
  const ac = new AbortController();
  const waiting = limiter.acquire(ac.signal);
  ac.abort(new Error('gave up'));
  await assert.rejects(waiting, /gave up/);
  held();
  others.forEach((r) => r());
  assert.equal(limiter.inFlight, 0);
});

test('upload feed: a write resolves only when the consumer takes it; a stall fails it', async () => {
  let stalled = 0;
  const feed = new Feed(50, () => {
    stalled++;
    feed.fail(new Error('stalled'));
  });
  const chunk = randomBytes(10);
  let taken = false;
  const write = feed.push(chunk).then(() => (taken = true));
  await new Promise((r) => setTimeout(r, 80));
  assert.equal(taken, false, 'nobody consumed it yet');
  assert.equal(stalled, 0, 'not started yet (waiting for a connection): queued, not stalled');
  const it = feed[Symbol.asyncIterator]();
  assert.deepEqual((await it.next()).value, chunk);
  await write;
  assert.equal(taken, true);
  const next = feed.push(chunk);
  const keepAlive = new Promise((r) => setTimeout(r, 100)); // the stall timer itself does not hold the process
  await Promise.all([assert.rejects(next, /stalled/), keepAlive]);
  assert.equal(stalled, 1);
});
