// SFTP framer and fuzzing: byte streams split at arbitrary boundaries, fatal framing errors, the
// buffering bound, and random or mutated bytes fed to every decoder (never a throw, always a
// typed result).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  MAX_PACKET, PacketType, SftpFramer, decodeReply, decodeRequest, encodePacket, encodeRequest,
  stringBytes, u32Bytes, u64Bytes, type FrameResult,
} from '../../src/sftp/index.js';

function frame(payload: Uint8Array): Buffer {
  return Buffer.concat([u32Bytes(payload.length), payload]);
}

/** Pulls until the framer has no complete packet; returns the payloads and the final result. */
/** Every packet the framer has: its bytes (a WRITE in pieces joined), and the pieces as given. */
function drain(f: SftpFramer): { payloads: Buffer[]; pieces: { payload: Buffer; more?: Buffer[] }[]; last: FrameResult } {
  const payloads: Buffer[] = [];
  const pieces: { payload: Buffer; more?: Buffer[] }[] = [];
  for (;;) {
    const r = f.next();
    if (r.kind !== 'packet') return { payloads, pieces, last: r };
    payloads.push(r.more ? Buffer.concat([r.payload, ...r.more]) : r.payload);
    pieces.push(r.more ? { payload: r.payload, more: r.more } : { payload: r.payload });
  }
}

/** Splits `buf` at the given cut points (any numbers; reduced modulo the length). */
function split(buf: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => (buf.length ? c % buf.length : 0)))].filter((c) => c > 0).sort((a, b) => a - b);
  const out: Buffer[] = [];
  let prev = 0;
  for (const p of [...points, buf.length]) {
    out.push(buf.subarray(prev, p));
    prev = p;
  }
  return out;
}

const payloads = fc.array(fc.uint8Array({ minLength: 1, maxLength: 600 }).map((u) => Buffer.from(u)), { maxLength: 20 });

test('framer: packets split at random boundaries come out whole and in order', () => {
  fc.assert(
    fc.property(payloads, fc.array(fc.nat(), { maxLength: 40 }), (ps, cuts) => {
      const stream = Buffer.concat(ps.map(frame));
      const f = new SftpFramer();
      const got: Buffer[] = [];
      for (const chunk of split(stream, cuts)) {
        f.push(chunk);
        const { payloads: out, last } = drain(f);
        assert.equal(last.kind, 'need-more');
        got.push(...out);
      }
      assert.deepEqual(got, ps);
      assert.equal(f.bufferedBytes, 0);
    }),
    { numRuns: 1000 },
  );
});

test('framer: each chunk is dropped exactly once, and never read after it was dropped (its memory may be reused)', () => {
  fc.assert(
    fc.property(payloads, fc.array(fc.nat(), { maxLength: 40 }), (ps, cuts) => {
      const stream = Buffer.concat(ps.map(frame));
      const dropped = new Map<Buffer, number>();
      const f = new SftpFramer({ onDrop: (c) => dropped.set(c, (dropped.get(c) ?? 0) + 1) });
      const got: Buffer[] = [];
      const chunks = split(stream, cuts).map((c) => Buffer.from(c)); // each its own memory
      for (const chunk of chunks) {
        f.push(chunk);
        const { payloads: out } = drain(f);
        got.push(...out.map((p) => Buffer.from(p)));
        // A dropped chunk's memory goes back to a pool and is overwritten.
        for (const c of dropped.keys()) c.fill(0xee);
      }
      assert.deepEqual(got, ps);
      for (const c of chunks) assert.equal(dropped.get(c) ?? (c.length === 0 ? 1 : 0), 1, 'dropped once');
    }),
    { numRuns: 1000 },
  );
  // After a fatal error every chunk held is dropped, and later ones at once.
  const dropped: Buffer[] = [];
  const f = new SftpFramer({ maxBuffered: 10, onDrop: (c) => dropped.push(c) });
  const a = Buffer.from([0, 0, 0, 9, 1, 2]);
  const b = Buffer.alloc(8);
  f.push(a);
  f.push(b);
  assert.equal(f.next().kind, 'fatal');
  assert.deepEqual(dropped, [a, b]);
  const c = Buffer.alloc(3);
  f.push(c);
  assert.deepEqual(dropped, [a, b, c]);
});

test('framer: one byte at a time, and everything in one chunk', () => {
  fc.assert(
    fc.property(payloads, (ps) => {
      const stream = Buffer.concat(ps.map(frame));
      const f = new SftpFramer();
      const got: Buffer[] = [];
      for (let i = 0; i < stream.length; i++) {
        f.push(stream.subarray(i, i + 1));
        got.push(...drain(f).payloads);
      }
      assert.deepEqual(got, ps);

      const g = new SftpFramer();
      g.push(stream);
      assert.deepEqual(drain(g).payloads, ps);
    }),
    { numRuns: 200 },
  );
});

test('framer: a packet inside one chunk is not copied; a split one is', () => {
  const stream = Buffer.concat([frame(Buffer.from('abc')), frame(Buffer.from('defg'))]);
  const f = new SftpFramer();
  f.push(stream);
  const r = f.next();
  assert.ok(r.kind === 'packet');
  assert.equal(r.payload.buffer, stream.buffer);
  assert.equal(r.payload.byteOffset, stream.byteOffset + 4);
  const g = new SftpFramer();
  g.push(stream.subarray(0, 6));
  g.push(stream.subarray(6));
  const s = g.next();
  assert.ok(s.kind === 'packet');
  assert.deepEqual(s.payload, Buffer.from('abc'));
});

test('framer: a MAX_PACKET packet fed one byte per push finishes in linear time', () => {
  const payload = Buffer.alloc(MAX_PACKET, 7);
  const stream = frame(payload);
  const f = new SftpFramer();
  const t0 = performance.now();
  let got: Buffer | undefined;
  for (let i = 0; i < stream.length; i++) {
    f.push(stream.subarray(i, i + 1));
    const r = f.next();
    if (r.kind === 'packet') got = r.payload;
  }
  const ms = performance.now() - t0;
  assert.deepEqual(got, payload);
  // Quadratic re-concatenation would copy ~34 GB here; linear work takes milliseconds.
  assert.ok(ms < 5000, `took ${ms} ms`);
});

test('framer: length 0 and length above MAX_PACKET are fatal, sticky, and reported at once', () => {
  for (const len of [0, MAX_PACKET + 1, 0xffffffff]) {
    const f = new SftpFramer();
    // a valid packet first is still delivered
    f.push(frame(Buffer.from([1, 0, 0, 0, 3])));
    f.push(u32Bytes(len)); // no body needed: the length alone is enough to fail
    const { payloads: got, last } = drain(f);
    assert.equal(got.length, 1);
    assert.equal(last.kind, 'fatal');
    f.push(frame(Buffer.from([1, 0, 0, 0, 3])));
    assert.equal(f.next().kind, 'fatal', 'fatal is sticky; later bytes are ignored');
    assert.ok(f.fatal);
    assert.equal(f.bufferedBytes, 0);
  }
  // exactly MAX_PACKET is allowed
  const f = new SftpFramer();
  f.push(frame(Buffer.alloc(MAX_PACKET)));
  const r = f.next();
  assert.ok(r.kind === 'packet');
  assert.equal(r.payload.length, MAX_PACKET);
});

test('framer: a length field split across chunks is read correctly', () => {
  const f = new SftpFramer();
  const stream = frame(Buffer.from('hello'));
  f.push(stream.subarray(0, 1));
  f.push(stream.subarray(1, 3));
  assert.equal(f.next().kind, 'need-more');
  f.push(stream.subarray(3, 5));
  assert.equal(f.next().kind, 'need-more');
  f.push(stream.subarray(5));
  assert.deepEqual(f.next(), { kind: 'packet', payload: Buffer.from('hello') });
  // and a split bad length is still fatal
  const g = new SftpFramer();
  g.push(Buffer.from([0xff, 0xff]));
  g.push(Buffer.from([0xff]));
  assert.equal(g.next().kind, 'need-more');
  g.push(Buffer.from([0xff]));
  assert.equal(g.next().kind, 'fatal');
});

test('framer: buffered bytes are bounded', () => {
  const f = new SftpFramer({ maxBuffered: 1000 });
  f.push(Buffer.alloc(600)); // first four bytes say length 0 ... but nobody pulled yet
  assert.equal(f.bufferedBytes, 600);
  f.push(Buffer.alloc(600));
  assert.equal(f.next().kind, 'fatal');
  assert.match((f.fatal ?? { reason: '' }).reason, /buffered/);

  // A session that pulls after every push never hits the bound with valid traffic.
  const g = new SftpFramer({ maxBuffered: 4 + MAX_PACKET + 64 * 1024 });
  const stream = Buffer.concat(Array.from({ length: 8 }, () => frame(Buffer.alloc(MAX_PACKET - 100, 1))));
  let n = 0;
  for (let i = 0; i < stream.length; i += 32 * 1024) {
    g.push(stream.subarray(i, i + 32 * 1024));
    n += drain(g).payloads.length;
  }
  assert.equal(n, 8);
  assert.equal(g.fatal, undefined);

  // a custom maxPacket is honoured
  const h = new SftpFramer({ maxPacket: 10 });
  h.push(frame(Buffer.alloc(11)));
  assert.equal(h.next().kind, 'fatal');
});

test('framer → decoder: encoded requests survive random splitting', () => {
  const reqs = [
    encodeRequest({ type: 'init', version: 3, extensions: [] }),
    encodeRequest({ type: 'open', id: 1, path: Buffer.from([0xff, 0]), pflags: 3, attrs: { size: 5 } }),
    encodeRequest({ type: 'write', id: 2, handle: Buffer.from('h'), offset: 9, data: Buffer.alloc(70000, 3) }),
    encodeRequest({ type: 'posix-rename', id: 3, oldPath: Buffer.from('a'), newPath: Buffer.from('b') }),
  ];
  fc.assert(
    fc.property(fc.array(fc.nat(), { maxLength: 30 }), (cuts) => {
      const f = new SftpFramer();
      const kinds: string[] = [];
      for (const chunk of split(Buffer.concat(reqs), cuts)) {
        f.push(chunk);
        for (const p of drain(f).pieces) {
          const r = decodeRequest(p.payload, p.more);
          assert.equal(r.kind, 'request');
          if (r.kind !== 'request') continue;
          kinds.push(r.request.type);
          if (r.request.type === 'write') {
            const { data, more = [], offset, handle } = r.request;
            assert.deepEqual([offset, handle.toString()], [9, 'h']);
            assert.deepEqual(Buffer.concat([data, ...more]), Buffer.alloc(70000, 3));
          }
        }
      }
      assert.deepEqual(kinds, ['init', 'open', 'write', 'posix-rename']);
    }),
    { numRuns: 300 },
  );
});

test('a WRITE that spans chunks is handed out uncopied: its data are views of the chunks', () => {
  const data = Buffer.alloc(32768, 7);
  const packet = encodeRequest({ type: 'write', id: 5, handle: Buffer.alloc(16, 1), offset: 65536, data });
  // As ssh2 delivers it: two SSH packets' worth of channel data.
  const first = Buffer.from(packet.subarray(0, 32768));
  const second = Buffer.from(packet.subarray(32768));
  const f = new SftpFramer();
  f.push(first);
  f.push(second);
  const r = f.next();
  assert.equal(r.kind, 'packet');
  if (r.kind !== 'packet') return;
  assert.equal(r.more?.length, 1);
  assert.equal(r.payload.buffer, first.buffer, 'the first piece is a view of the first chunk');
  assert.equal(r.more![0]!.buffer, second.buffer, 'the rest is a view of the second chunk');
  const d = decodeRequest(r.payload, r.more);
  assert.equal(d.kind, 'request');
  if (d.kind !== 'request' || d.request.type !== 'write') return;
  assert.deepEqual(Buffer.concat([d.request.data, ...(d.request.more ?? [])]), data);
  // A header that does not fit in the first chunk, and any other request, is copied as before.
  const g = new SftpFramer();
  g.push(Buffer.from(packet.subarray(0, 10)));
  g.push(Buffer.from(packet.subarray(10)));
  const whole = g.next();
  assert.ok(whole.kind === 'packet' && whole.more === undefined && whole.payload.length === packet.length - 4);
  // Data shorter than the pieces: the rest is ignored; longer: a bad message naming the id.
  const short = decodeRequest(r.payload, [Buffer.alloc(10)]);
  assert.equal(short.kind, 'bad-message');
  assert.equal((short as { id: number }).id, 5);
});

// ---------------------------------------------------------------------------------------------
// Fuzzing: nothing throws, every result is typed

const RESULT_KINDS = ['request', 'bad-message', 'unsupported', 'fatal'];
const REQUEST_TYPES = [1, ...Array.from({ length: 18 }, (_, i) => i + 3), 200];

function checkDecode(payload: Buffer): void {
  const r = decodeRequest(payload);
  assert.ok(RESULT_KINDS.includes(r.kind), JSON.stringify(r));
  if (r.kind === 'bad-message' || r.kind === 'unsupported') {
    assert.equal(r.id, payload.readUInt32BE(1));
  }
  if (r.kind === 'request') {
    // decoding is idempotent through the client encoder
    const again = decodeRequest(encodeRequest(r.request).subarray(4));
    assert.deepEqual(again, r);
  }
}

test('fuzz: random bytes to decodeRequest never throw', () => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }).map((u) => Buffer.from(u)), checkDecode), { numRuns: 10000 });
});

test('fuzz: random bodies behind every request type byte never throw', () => {
  fc.assert(
    fc.property(fc.constantFrom(...REQUEST_TYPES), fc.uint8Array({ maxLength: 120 }), (type, body) => {
      checkDecode(Buffer.concat([Buffer.of(type), body]));
    }),
    { numRuns: 20000 },
  );
});

test('fuzz: extension names with random data never throw', () => {
  const names = [
    'posix-rename@openssh.com', 'statvfs@openssh.com', 'fstatvfs@openssh.com', 'fsync@openssh.com',
    'hardlink@openssh.com', 'limits@openssh.com', 'copy-data', 'home-directory', 'expand-path@openssh.com', 'x',
  ];
  fc.assert(
    fc.property(fc.constantFrom(...names), fc.integer({ min: 0, max: 0xffffffff }), fc.uint8Array({ maxLength: 80 }), (name, id, data) => {
      checkDecode(encodePacket(PacketType.EXTENDED, u32Bytes(id), stringBytes(name), data).subarray(4));
    }),
    { numRuns: 10000 },
  );
});

test('fuzz: mutated valid requests never throw', () => {
  const seeds = [
    encodeRequest({ type: 'open', id: 1, path: Buffer.from('/a'), pflags: 0x1a, attrs: { size: 1, uid: 2, gid: 3, permissions: 4, atime: 5, mtime: 6, extended: [['k', Buffer.from('v')]] } }),
    encodeRequest({ type: 'read', id: 2, handle: Buffer.from('h'), offset: 7, length: 8 }),
    encodeRequest({ type: 'setstat', id: 3, path: Buffer.from('p'), attrs: { size: 9 } }),
    encodeRequest({ type: 'copy-data', id: 4, readHandle: Buffer.from('r'), readOffset: 1, readLength: 2, writeHandle: Buffer.from('w'), writeOffset: 3 }),
    encodeRequest({ type: 'init', version: 3, extensions: [['a', Buffer.from('b')]] }),
  ].map((p) => p.subarray(4));
  fc.assert(
    fc.property(
      fc.constantFrom(...seeds),
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }),
      fc.nat(),
      (seed, flips, cut) => {
        const m = Buffer.from(seed);
        for (const [pos, val] of flips) m[pos % m.length] = val;
        checkDecode(m);
        checkDecode(m.subarray(0, cut % (m.length + 1)));
      },
    ),
    { numRuns: 10000 },
  );
});

test('fuzz: random byte streams through the framer never throw', () => {
  fc.assert(
    fc.property(fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 20 }), (chunks) => {
      const f = new SftpFramer({ maxPacket: 300 });
      for (const c of chunks) {
        f.push(Buffer.from(c));
        const { payloads: got, last } = drain(f);
        assert.ok(last.kind === 'need-more' || last.kind === 'fatal');
        for (const p of got) checkDecode(p);
      }
    }),
    { numRuns: 10000 },
  );
});

test('fuzz: random bytes to the client-side decodeReply never throw', () => {
  fc.assert(
    fc.property(fc.constantFrom(2, 101, 102, 103, 104, 105, 201, 0, 7), fc.uint8Array({ maxLength: 120 }), (type, body) => {
      const r = decodeReply(Buffer.concat([Buffer.of(type), body]));
      assert.ok(r.kind === 'reply' || r.kind === 'error');
    }),
    { numRuns: 10000 },
  );
  assert.equal(decodeReply(Buffer.alloc(0)).kind, 'error');
});

test('fuzz: oversized uint64 fields anywhere in a READ are a bad message, never a throw', () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 0xffffffff }), fc.bigInt({ min: 2n ** 53n, max: 2n ** 64n - 1n }), (id, off) => {
      const p = encodePacket(PacketType.READ, u32Bytes(id), stringBytes('h'), u64Bytes(off), u32Bytes(1)).subarray(4);
      const r = decodeRequest(p);
      assert.ok(r.kind === 'bad-message');
      assert.equal(r.id, id);
    }),
    { numRuns: 1000 },
  );
});
