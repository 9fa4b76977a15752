// The web-API backend's small parts on their own: cap scrubbing and HTML stripping of error
// texts, query encoding as Twisted decodes it, the cache's invalidation rule, the range reader's
// ranges, request counts, streaming and parallelism, the concurrency limiter and the upload feed's backpressure.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { formatCap, readCapOf, type Cap } from '../../src/caps/index.js';
import { TtlCache } from '../../src/grid/webapi/cache.js';
import { errorText, htmlMessage, scrubCaps } from '../../src/grid/webapi/errors.js';
import { Limiter } from '../../src/util/limiter.js';
import { RangeBudget, RangeReader, type ReadOptions } from '../../src/grid/webapi/reader.js';
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
  // Found by this property in CI (seed 938856626): a title ending in "<A" and a detail of ">"
  // made "><A: >" once joined.
  assert.doesNotMatch(errorText('text/html', '<html><h1><p>><A</h1></p></html>'), /<\/?[a-z!?][^>]*>/i);
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

interface Fetch {
  first: number;
  last: number;
  /** Bytes delivered so far. */
  sent: number;
  done: boolean;
}

/**
 * A RangeReader over `data` whose ranges stream in 64 KiB pieces, one per event-loop turn (as
 * a socket delivers them); `gate` may hold a range back until it resolves.
 */
function streamingReader(data: Buffer, opts: Partial<ReadOptions> = {}, gate?: (f: Fetch) => Promise<void>) {
  const fetches: Fetch[] = [];
  const options: ReadOptions = { segmentSize: 128 * 1024, rangeBytes: 8 << 20, readAheadBytes: 24 << 20, parallelRanges: 4, ...opts };
  const reader = new RangeReader(data.length, async (first, last, sink, signal) => {
    assert.ok(first >= 0 && last >= first && last < data.length, `bad range ${first}-${last}`);
    const f: Fetch = { first, last, sent: 0, done: false };
    fetches.push(f);
    await new Promise((r) => setImmediate(r));
    if (gate) await gate(f);
    for (let pos = first; pos <= last; pos += 65536) {
      if (signal.aborted) throw new Error('aborted');
      const piece = data.subarray(pos, Math.min(last + 1, pos + 65536));
      sink(piece);
      f.sent += piece.length;
      await new Promise((r) => setImmediate(r));
    }
    f.done = true;
    return last - first + 1;
  }, options);
  const fetched = () => fetches.reduce((n, f) => n + f.last - f.first + 1, 0);
  const inFlight = () => fetches.filter((f) => !f.done).length;
  return { reader, fetches, fetched, inFlight };
}

/** A client copying the file out with `window` reads of `size` in flight, the next sent as each returns. */
async function copyOut(reader: RangeReader, size: number, window: number, onRead?: () => void): Promise<Buffer> {
  const out = Buffer.alloc(reader.size);
  let next = 0;
  const inFlight = new Set<Promise<void>>();
  const send = () => {
    const off = next;
    next += size;
    const p: Promise<void> = reader.read(off, size).then((b) => {
      b.copy(out, off);
      inFlight.delete(p);
      onRead?.();
    });
    inFlight.add(p);
  };
  while (next < reader.size && inFlight.size < window) send();
  while (inFlight.size > 0) {
    await Promise.race(inFlight);
    while (next < reader.size && inFlight.size < window) send();
  }
  return out;
}

test('range reader: any read returns exactly the bytes, with ranges inside the file', async () => {
  const data = pseudoRandom('reader', 300_000);
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.tuple(fc.nat(320_000), fc.nat(200_000)), { minLength: 1, maxLength: 6 }),
      fc.integer({ min: 1, max: 70_000 }),
      fc.integer({ min: 0, max: 100_000 }),
      fc.boolean(),
      async (reads, segmentSize, readAheadBytes, wholeFile) => {
        const { reader } = streamingReader(data, { segmentSize, rangeBytes: 3 * segmentSize, readAheadBytes, parallelRanges: 2, wholeFile });
        // Concurrent and sequential reads, as clients mix them.
        const results = await Promise.all(reads.map(([offset, length]) => reader.read(offset, length)));
        for (const [i, [offset, length]] of reads.entries()) assert.deepEqual(results[i], data.subarray(offset, offset + length));
        for (const [offset, length] of reads) assert.deepEqual(await reader.read(offset, length), data.subarray(offset, offset + length));
        await reader.close();
      },
    ),
    { numRuns: 300 },
  );
});

test('range reader: OpenSSH sftp get (64 × 255 KiB in flight) and FTP RETR (1 MiB, one ahead) fetch each byte once, in few large ranges, several at a time', async (t) => {
  const { WEBAPI_DEFAULTS: D } = await import('../../src/grid/webapi/index.js');
  const opts = { segmentSize: D.segmentSize, rangeBytes: D.rangeBytes, readAheadBytes: D.readAheadBytes, parallelRanges: D.parallelRanges };
  const data = pseudoRandom('copy-out', 96 * 1024 * 1024 + 12345);
  for (const [what, size, window] of [['sftp get', 261120, 64], ['FTP RETR', 1 << 20, 2]] as const) {
    const { reader, fetches, fetched, inFlight } = streamingReader(data, opts);
    let peak = 0;
    const out = await copyOut(reader, size, window, () => (peak = Math.max(peak, inFlight())));
    assert.ok(out.equals(data), what);
    t.diagnostic(`${what}: ${Math.ceil(data.length / size)} reads, ${fetches.length} range requests, up to ${peak} in flight`);
    assert.equal(fetched(), data.length, `${what}: no byte fetched twice`);
    assert.ok(fetches.length <= 20, `${what}: ${fetches.length} requests for 96 MiB`);
    assert.ok(peak >= D.parallelRanges - 1, `${what}: only ${peak} ranges at a time`);
    await reader.close();
  }
});

test('range reader: a read is answered as soon as its bytes arrive, before its range is complete', async () => {
  const data = pseudoRandom('early', 4 * 1024 * 1024);
  const { reader, fetches } = streamingReader(data);
  assert.deepEqual(await reader.read(0, 32768), data.subarray(0, 32768));
  assert.ok(fetches[0] && !fetches[0].done, 'answered while its range was still streaming');
  await reader.close();
});

test('range reader: reads elsewhere in a file fetch the segments they touch and nothing ahead', async () => {
  const data = pseudoRandom('peek', 64 * 1024 * 1024 + 7);
  const seg = 128 * 1024;
  const { reader, fetches } = streamingReader(data, { segmentSize: seg });
  for (const off of [40_000_000, 10_000_000, 60_000_000, 20_000_000]) assert.deepEqual(await reader.read(off, 4096), data.subarray(off, off + 4096));
  assert.equal(fetches.length, 4, 'one range per peek, no read-ahead');
  for (const f of fetches) assert.ok(f.first % seg === 0 && f.last - f.first + 1 === seg, `whole segment ${f.first}-${f.last}`);
  assert.deepEqual(await reader.read(40_000_000 + 100, 10), data.subarray(40_000_100, 40_000_110));
  assert.equal(fetches.length, 4, 'a segment already fetched is not fetched again');
  await reader.close();
});

test('range reader: SDMF files (wholeFile) are one request, whatever the reads', async () => {
  const data = pseudoRandom('sdmf', 3_000_000);
  const { reader, fetches } = streamingReader(data, { wholeFile: true });
  const out = await copyOut(reader, 32768, 16);
  assert.ok(out.equals(data));
  assert.deepEqual(fetches.map((f) => [f.first, f.last]), [[0, data.length - 1]]);
  await reader.close();
});

test('range reader: memory stays bounded while a client stops reading, and a range in flight is aborted by close', async () => {
  const data = pseudoRandom('bounded', 256 * 1024 * 1024);
  const { reader, fetched, fetches } = streamingReader(data);
  await reader.read(0, 1 << 20);
  for (let i = 0; i < 50; i++) await new Promise((r) => setImmediate(r));
  const ahead = fetched() - (1 << 20);
  assert.ok(ahead <= 24 * 1024 * 1024 + 8 * 1024 * 1024, `${ahead} bytes fetched ahead of a reader that stopped`);
  await reader.close();
  await new Promise((r) => setTimeout(r, 20));
  assert.ok(fetches.every((f) => f.done || f.sent < f.last - f.first + 1), 'ranges in flight stop');
  await assert.rejects(reader.read(0, 1), /closed/);
});

test('range reader: a failed range is fetched again on the next read', async () => {
  const data = pseudoRandom('retry', 100_000);
  let fail = true;
  const reader = new RangeReader(data.length, async (first, last, sink) => {
    if (fail) throw new Error('node down');
    sink(data.subarray(first, last + 1));
    return last - first + 1;
  }, { segmentSize: 10_000, rangeBytes: 20_000, readAheadBytes: 20_000, parallelRanges: 2 });
  await assert.rejects(reader.read(0, 100), /node down/);
  fail = false;
  assert.deepEqual(await reader.read(0, 100), data.subarray(0, 100));
  assert.deepEqual(await reader.read(50_000, 100), data.subarray(50_000, 50_100));
});

test('range reader: a shorter answer (a mutable file that shrank) is a short read at the new end', async () => {
  const data = pseudoRandom('shrank', 100_000);
  const now = data.subarray(0, 60_000);
  const reader = new RangeReader(data.length, async (first, last, sink) => {
    const part = now.subarray(first, last + 1);
    if (part.length) sink(part);
    return part.length;
  }, { segmentSize: 8192, rangeBytes: 32768, readAheadBytes: 65536, parallelRanges: 2 });
  assert.deepEqual(await reader.read(50_000, 20_000), now.subarray(50_000));
  assert.equal((await reader.read(70_000, 10)).length, 0);
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

// Found on 2026-12-05: each range's buffer is allocated when it starts, and one reader going
// forward holds up to two read-aheads; nothing bounded many readers. A grid's readers now share
// a budget: over it, they fetch only the segments they are asked for.
test('range reader: all readers of a grid hold at most their budget (plus the segments asked for); reads stay right; closing gives it back', async () => {
  const data = pseudoRandom('budget', 4 << 20);
  const seg = 64 * 1024;
  const budget = new RangeBudget(3 << 20);
  const streamer = async (first: number, last: number, sink: (b: Buffer) => void) => {
    await new Promise((r) => setImmediate(r));
    sink(data.subarray(first, last + 1));
    return last - first + 1;
  };
  const opts: ReadOptions = { segmentSize: seg, rangeBytes: 1 << 20, readAheadBytes: 2 << 20, parallelRanges: 3, budget };
  const readers = Array.from({ length: 20 }, () => new RangeReader(data.length, streamer, opts));
  for (const r of readers) assert.deepEqual(await r.read(0, 1000), data.subarray(0, 1000));
  assert.ok(budget.heldBytes <= (3 << 20) + readers.length * seg, `${budget.heldBytes} bytes held by 20 readers`);
  // Readers over the budget still read forward, and anywhere, correctly.
  for (const r of readers.slice(-3)) {
    for (let off = 1000; off < 600_000; off += 65_000) assert.deepEqual(await r.read(off, 65_000), data.subarray(off, off + 65_000));
    assert.deepEqual(await r.read(3_000_000, 5000), data.subarray(3_000_000, 3_005_000));
  }
  assert.ok(budget.heldBytes <= (3 << 20) + readers.length * 4 * seg, `${budget.heldBytes} bytes held after reading on`);
  for (const r of readers) await r.close();
  await new Promise((r) => setTimeout(r, 20)); // ranges in flight end
  assert.equal(budget.heldBytes, 0);
});

test('range reader: readers going forward share a budget that binds equally, in ranges sized to their share, not one request per read', async () => {
  const data = pseudoRandom('fair', 16 << 20); // 128 reads of 128 KiB
  const seg = 64 * 1024;
  const limit = 16 << 20;
  const budget = new RangeBudget(limit);
  const clients = 8;
  const share = limit / (clients + 1); // ~1.8 MiB each: one share is kept free
  const readSize = 128 * 1024;
  const opts: ReadOptions = { segmentSize: seg, rangeBytes: 1 << 20, readAheadBytes: 2 << 20, parallelRanges: 3, budget };
  let maxHeld = 0;
  const ranges: Array<Array<[number, number]>> = [];
  const progress = new Array<number>(clients).fill(0);
  const progressWhenFirstDone: number[] = [];
  const readers = Array.from({ length: clients }, (_, i) => {
    ranges.push([]);
    // A grid that streams every range 64 KiB per turn of the event loop, all ranges alike.
    const streamer = async (first: number, last: number, sink: (b: Buffer) => void) => {
      ranges[i]!.push([first, last + 1]);
      maxHeld = Math.max(maxHeld, budget.heldBytes);
      for (let at = first; at <= last; at += seg) {
        await new Promise((r) => setImmediate(r));
        sink(data.subarray(at, Math.min(last + 1, at + seg)));
      }
      return last - first + 1;
    };
    return new RangeReader(data.length, streamer, opts);
  });
  // Each client copies its file out as OpenSSH does: reads in order, four in flight.
  await Promise.all(
    readers.map(async (reader, i) => {
      let next = 0;
      const worker = async () => {
        while (next < data.length) {
          const off = next;
          next += readSize;
          assert.deepEqual(await reader.read(off, readSize), data.subarray(off, off + readSize));
          progress[i] = Math.max(progress[i]!, off + readSize);
        }
      };
      await Promise.all([worker(), worker(), worker(), worker()]);
      if (progressWhenFirstDone.length === 0) progressWhenFirstDone.push(...progress);
    }),
  );
  assert.ok(maxHeld <= limit + clients * 4 * readSize, `held ${maxHeld} of ${limit}`);
  // Before the equal shares, the first readers took 1 MiB ranges and the last ones fetched
  // what each read asked for: 102 and 127 of their 128 reads were ranges of 128 KiB. Now the
  // readers that came last fetch a few reads' worth (2–20) while the first ones, which started
  // with a larger share, drain back to theirs.
  const quarter = Math.floor(share / 4 / seg) * seg;
  const small = ranges.map((list) => list.filter(([a, b]) => b - a < quarter && b !== data.length).length);
  for (const [i, n] of small.entries()) {
    assert.ok(n <= 32, `reader ${i}: ${n} ranges below its share's quarter (${quarter}): ${JSON.stringify(ranges[i])}`);
  }
  // And they go at one speed: when the first is done, the others are nearly done (before: one
  // had read 64% of its file).
  for (const [i, done] of progressWhenFirstDone.entries()) {
    assert.ok(done >= data.length * 0.75, `reader ${i} had read ${done} of ${data.length} when the first finished`);
  }
  for (const r of readers) await r.close();
  assert.equal(budget.heldBytes, 0);
});
