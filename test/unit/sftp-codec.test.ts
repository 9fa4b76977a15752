// SFTP v3 codec: round trips of every request and reply, known answers built by hand from
// draft-ietf-secsh-filexfer-02 and OpenSSH's PROTOCOL, and the bad-message rules the session
// relies on (Tahoe's test_extendedRequest cases, truncation, trailing bytes, uint64 range).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  ExtensionName, MAX_PACKET, MAX_READ, MAX_WRITE, PacketType, StatusCode,
  decodeLimitsData, decodeReply, decodeRequest, decodeStatvfsData, encodeAttrsReply, encodeData,
  encodeDataHeader, encodeDataParts, encodeExtendedReply, encodeHandle, encodeLimitsReply, encodeName,
  encodePacket, encodeRequest, encodeStatus, encodeStatvfsReply, encodeVersion, nameEntriesThatFit,
  stringBytes, u32Bytes, u64Bytes,
  type DecodeResult, type NameEntry, type SftpAttrs, type SftpReply, type SftpRequest,
} from '../../src/sftp/index.js';

// ---------------------------------------------------------------------------------------------
// Arbitraries

/** fc.record with ordinary prototypes, so deepEqual against decoded objects holds. */
const rec = <T>(model: { [K in keyof T]: fc.Arbitrary<T[K]> }): fc.Arbitrary<T> =>
  fc.record(model, { noNullPrototype: true });

const u32 = fc.integer({ min: 0, max: 0xffffffff });
const u64n = fc.maxSafeNat();
const u64big = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });
const text = fc.string({ unit: 'grapheme', maxLength: 20 });
/** Raw path/name/handle bytes: anything, with NUL and invalid UTF-8 made likely. */
const bytes = fc
  .oneof(
    fc.uint8Array({ maxLength: 40 }),
    text.map((s) => Buffer.from(s, 'utf8')),
    fc.constantFrom(
      Buffer.from([0xff]), Buffer.from('a\0b'), Buffer.from([0xc3]), Buffer.from([0xed, 0xa0, 0x80]),
      Buffer.from('gro\xdf', 'latin1'), Buffer.alloc(0),
    ),
  )
  .map((u) => Buffer.from(u));

const attrs: fc.Arbitrary<SftpAttrs> = fc
  .record(
    {
      size: u64n,
      ids: fc.tuple(u32, u32),
      permissions: u32,
      times: fc.tuple(u32, u32),
      extended: fc.array(fc.tuple(text, bytes), { maxLength: 3 }),
    },
    { requiredKeys: [], noNullPrototype: true },
  )
  .map((r) => {
    const a: SftpAttrs = {};
    if (r.size !== undefined) a.size = r.size;
    if (r.ids !== undefined) [a.uid, a.gid] = r.ids;
    if (r.permissions !== undefined) a.permissions = r.permissions;
    if (r.times !== undefined) [a.atime, a.mtime] = r.times;
    if (r.extended !== undefined) a.extended = r.extended;
    return a;
  });

const KNOWN_EXTENSIONS: readonly string[] = Object.values(ExtensionName);

const request: fc.Arbitrary<SftpRequest> = fc.oneof(
  rec({ type: fc.constant('init' as const), version: u32, extensions: fc.array(fc.tuple(text, bytes), { maxLength: 3 }) }),
  rec({ type: fc.constant('open' as const), id: u32, path: bytes, pflags: u32, attrs }),
  rec({ type: fc.constantFrom('close' as const, 'fstat' as const, 'readdir' as const), id: u32, handle: bytes }),
  rec({ type: fc.constant('read' as const), id: u32, handle: bytes, offset: u64n, length: u32 }),
  rec({ type: fc.constant('write' as const), id: u32, handle: bytes, offset: u64n, data: fc.uint8Array({ maxLength: 300 }).map((u) => Buffer.from(u)) }),
  rec({
    type: fc.constantFrom('lstat' as const, 'stat' as const, 'opendir' as const, 'remove' as const, 'rmdir' as const, 'realpath' as const, 'readlink' as const),
    id: u32,
    path: bytes,
  }),
  rec({ type: fc.constantFrom('setstat' as const, 'mkdir' as const), id: u32, path: bytes, attrs }),
  rec({ type: fc.constant('fsetstat' as const), id: u32, handle: bytes, attrs }),
  rec({ type: fc.constantFrom('rename' as const, 'posix-rename' as const, 'hardlink' as const), id: u32, oldPath: bytes, newPath: bytes }),
  rec({ type: fc.constant('symlink' as const), id: u32, targetPath: bytes, linkPath: bytes }),
  rec({ type: fc.constantFrom('statvfs' as const, 'expand-path' as const), id: u32, path: bytes }),
  rec({ type: fc.constantFrom('fstatvfs' as const, 'fsync' as const), id: u32, handle: bytes }),
  rec({ type: fc.constant('limits' as const), id: u32 }),
  rec({ type: fc.constant('copy-data' as const), id: u32, readHandle: bytes, readOffset: u64n, readLength: u64n, writeHandle: bytes, writeOffset: u64n }),
  rec({ type: fc.constant('home-directory' as const), id: u32, username: bytes }),
  rec({
    type: fc.constant('extended-unknown' as const),
    id: u32,
    name: text.filter((n) => !KNOWN_EXTENSIONS.includes(n)),
    data: fc.uint8Array({ maxLength: 50 }).map((u) => Buffer.from(u)),
  }),
);

const nameEntry: fc.Arbitrary<NameEntry> = rec({ filename: bytes, longname: bytes, attrs });

// ---------------------------------------------------------------------------------------------
// Helpers

/** Strips and checks the uint32 length prefix. */
function payloadOf(packet: Buffer): Buffer {
  assert.ok(packet.length >= 5);
  assert.equal(packet.readUInt32BE(0), packet.length - 4, 'length prefix');
  assert.ok(packet.length - 4 <= MAX_PACKET, 'packet within MAX_PACKET');
  return packet.subarray(4);
}

function decodeOk(packet: Buffer): SftpRequest {
  const r = decodeRequest(payloadOf(packet));
  assert.equal(r.kind, 'request', JSON.stringify(r));
  return (r as { request: SftpRequest }).request;
}

function replyOf(packet: Buffer): SftpReply {
  const r = decodeReply(payloadOf(packet));
  assert.equal(r.kind, 'reply', JSON.stringify(r));
  return (r as { reply: SftpReply }).reply;
}

function hex(s: string): Buffer {
  return Buffer.from(s.replace(/[\s|]/g, ''), 'hex');
}

function ascii(s: string): string {
  return Buffer.from(s, 'latin1').toString('hex');
}

function ext(id: number, name: string, ...data: Uint8Array[]): Buffer {
  return encodePacket(PacketType.EXTENDED, u32Bytes(id), stringBytes(name), ...data).subarray(4);
}

function assertBad(r: DecodeResult, id: number, extension?: string): void {
  assert.equal(r.kind, 'bad-message', JSON.stringify(r));
  assert.ok(r.kind === 'bad-message');
  assert.equal(r.id, id);
  assert.equal(r.extension, extension);
}

// ---------------------------------------------------------------------------------------------
// Round trips

test('every request type round-trips: client encoder → server decoder', () => {
  fc.assert(
    fc.property(request, (req) => {
      assert.deepEqual(decodeOk(encodeRequest(req)), req);
    }),
    { numRuns: 2000 },
  );
});

test('every request type is covered by the round-trip generator', () => {
  const seen = new Set<string>();
  fc.assert(fc.property(request, (req) => void seen.add(req.type)), { numRuns: 3000 });
  const all = [
    'init', 'open', 'close', 'read', 'write', 'lstat', 'fstat', 'setstat', 'fsetstat', 'opendir',
    'readdir', 'remove', 'mkdir', 'rmdir', 'realpath', 'stat', 'rename', 'readlink', 'symlink',
    'posix-rename', 'statvfs', 'fstatvfs', 'fsync', 'hardlink', 'limits', 'copy-data',
    'home-directory', 'expand-path', 'extended-unknown',
  ];
  assert.deepEqual([...seen].sort(), all.sort());
});

test('paths with NUL and invalid UTF-8 reach the session byte for byte', () => {
  const path = Buffer.from([0x2f, 0xff, 0x00, 0xc3, 0x28, 0x2f]);
  const req = decodeOk(encodeRequest({ type: 'stat', id: 1, path }));
  assert.ok(req.type === 'stat');
  assert.deepEqual(req.path, path);
});

test('VERSION round-trips: server encoder → client decoder', () => {
  fc.assert(
    fc.property(u32, fc.array(fc.tuple(text, bytes), { maxLength: 5 }), (version, exts) => {
      assert.deepEqual(replyOf(encodeVersion(exts, version)), { type: 'version', version, extensions: exts });
    }),
  );
  // string extension data is sent as UTF-8
  assert.deepEqual(replyOf(encodeVersion([['limits@openssh.com', '1']])), {
    type: 'version', version: 3, extensions: [['limits@openssh.com', Buffer.from('1')]],
  });
});

test('STATUS, HANDLE, DATA, ATTRS, EXTENDED_REPLY round-trip', () => {
  fc.assert(
    fc.property(u32, u32, text, text, (id, code, message, language) => {
      assert.deepEqual(replyOf(encodeStatus(id, code, message, language)), { type: 'status', id, code, message, language });
    }),
  );
  assert.deepEqual(replyOf(encodeStatus(9, StatusCode.OK)), { type: 'status', id: 9, code: 0, message: '', language: '' });
  fc.assert(
    fc.property(u32, bytes, (id, handle) => {
      assert.deepEqual(replyOf(encodeHandle(id, handle)), { type: 'handle', id, handle });
    }),
  );
  fc.assert(
    fc.property(u32, fc.uint8Array({ maxLength: 2000 }).map((u) => Buffer.from(u)), (id, data) => {
      const whole = encodeData(id, data);
      assert.deepEqual(replyOf(whole), { type: 'data', id, data });
      const [header, body] = encodeDataParts(id, data);
      assert.equal(body, data, 'DATA parts hand back the caller buffer itself, uncopied');
      assert.deepEqual(Buffer.concat([header, body]), whole);
    }),
  );
  fc.assert(
    fc.property(u32, attrs, (id, a) => {
      assert.deepEqual(replyOf(encodeAttrsReply(id, a)), { type: 'attrs', id, attrs: a });
    }),
  );
  fc.assert(
    fc.property(u32, fc.uint8Array({ maxLength: 200 }).map((u) => Buffer.from(u)), (id, data) => {
      assert.deepEqual(replyOf(encodeExtendedReply(id, data)), { type: 'extended-reply', id, data });
    }),
  );
});

test('NAME round-trips', () => {
  fc.assert(
    fc.property(u32, fc.array(nameEntry, { maxLength: 6 }), (id, entries) => {
      assert.deepEqual(replyOf(encodeName(id, entries)), { type: 'name', id, entries });
    }),
  );
});

test('statvfs and limits replies round-trip, numbers or bigints', () => {
  const field = fc.oneof(u64big, u64n);
  fc.assert(
    fc.property(u32, fc.tuple(field, field, field, field, field, field, field, field, field, field, field), (id, f) => {
      const [bsize, frsize, blocks, bfree, bavail, files, ffree, favail, fsid, flag, namemax] = f;
      const sv = { bsize, frsize, blocks, bfree, bavail, files, ffree, favail, fsid, flag, namemax };
      const reply = replyOf(encodeStatvfsReply(id, sv));
      assert.ok(reply.type === 'extended-reply');
      assert.equal(reply.id, id);
      const big = Object.fromEntries(Object.entries(sv).map(([k, v]) => [k, BigInt(v)]));
      assert.deepEqual(decodeStatvfsData(reply.data), big);
    }),
  );
  fc.assert(
    fc.property(u32, u64big, u64big, u64big, u64n, (id, maxPacketLength, maxReadLength, maxWriteLength, maxOpenHandles) => {
      const reply = replyOf(encodeLimitsReply(id, { maxPacketLength, maxReadLength, maxWriteLength, maxOpenHandles }));
      assert.ok(reply.type === 'extended-reply');
      assert.deepEqual(decodeLimitsData(reply.data), {
        maxPacketLength, maxReadLength, maxWriteLength, maxOpenHandles: BigInt(maxOpenHandles),
      });
    }),
  );
  assert.equal(decodeStatvfsData(Buffer.alloc(87)), undefined);
  assert.equal(decodeLimitsData(Buffer.alloc(33)), undefined);
});

// ---------------------------------------------------------------------------------------------
// Known answers, built by hand from the spec

test('known answer: OPEN', () => {
  // uint32 length, byte 3, uint32 id, string filename, uint32 pflags, ATTRS (flags PERMISSIONS, 0644)
  const bytesOnWire = hex(`00000018 | 03 | 00000007 | 00000003 ${ascii('a/b')} | 0000001a | 00000004 000001a4`);
  const req: SftpRequest = {
    type: 'open', id: 7, path: Buffer.from('a/b'), pflags: 0x02 | 0x08 | 0x10, attrs: { permissions: 0o644 },
  };
  assert.deepEqual(encodeRequest(req), bytesOnWire);
  assert.deepEqual(decodeRequest(bytesOnWire.subarray(4)), { kind: 'request', request: req });
});

test('known answer: WRITE above 4 GiB', () => {
  // uint32 length, byte 6, uint32 id, string handle, uint64 offset, string data
  const bytesOnWire = hex(`0000001a | 06 | 00000009 | 00000002 6831 | 00000001 00000000 | 00000003 78797a`);
  const req: SftpRequest = { type: 'write', id: 9, handle: Buffer.from('h1'), offset: 2 ** 32, data: Buffer.from('xyz') };
  assert.deepEqual(encodeRequest(req), bytesOnWire);
  assert.deepEqual(decodeRequest(bytesOnWire.subarray(4)), { kind: 'request', request: req });
});

test('known answer: STATUS', () => {
  // uint32 length, byte 101, uint32 id, uint32 code, string message, string language
  assert.deepEqual(
    encodeStatus(5, StatusCode.NO_SUCH_FILE, 'No such file'),
    hex(`0000001d | 65 | 00000005 | 00000002 | 0000000c ${ascii('No such file')} | 00000000`),
  );
});

test('known answer: NAME', () => {
  // uint32 length, byte 104, uint32 id, uint32 count,
  // string filename, string longname, ATTRS (SIZE|PERMISSIONS|ACMODTIME, size, perms, atime, mtime)
  const wire = hex(`0000002c | 68 | 00000003 | 00000001 | 00000001 61 | 00000002 ${ascii('ls')} |
    0000000d | 00000000 0000000a | 000081b6 | 00000001 | 00000002`);
  const entry = { filename: Buffer.from('a'), longname: Buffer.from('ls'), attrs: { size: 10, permissions: 0o100666, atime: 1, mtime: 2 } };
  assert.deepEqual(encodeName(3, [entry]), wire);
  assert.deepEqual(replyOf(wire), { type: 'name', id: 3, entries: [entry] });
});

test('known answer: VERSION with extensions', () => {
  // uint32 length, byte 2, uint32 version, (string name, string data)*
  const wire = hex(`00000042 | 02 | 00000003 |
    00000018 ${ascii('posix-rename@openssh.com')} 00000001 31 |
    00000013 ${ascii('statvfs@openssh.com')} 00000001 32`);
  assert.deepEqual(encodeVersion([['posix-rename@openssh.com', '1'], ['statvfs@openssh.com', '2']]), wire);
});

test('known answer: statvfs reply with Tahoe\'s constants is 88 bytes of data', () => {
  // uint32 length, byte 201, uint32 id, then 11 × uint64:
  // bsize, frsize, blocks, bfree, bavail, files, ffree, favail, fsid, flag, namemax
  const wire = hex(`0000005d | c9 | 0000002a |
    0000000000000400 0000000000000400 0000000025736142 0000000012b9b0a1 0000000012b9b0a1
    000000000bebc200 0000000005f5e100 0000000005f5e100 0000000000001af5 0000000000000002
    000000000000ffff`);
  const tahoe = {
    bsize: 1024, frsize: 1024, blocks: 628318530, bfree: 314159265, bavail: 314159265,
    files: 200000000, ffree: 100000000, favail: 100000000, fsid: 0x1af5, flag: 2, namemax: 65535,
  };
  const packet = encodeStatvfsReply(42, tahoe);
  assert.deepEqual(packet, wire);
  assert.equal(packet.length - 4 - 1 - 4, 88);
});

test('known answer: limits reply', () => {
  // uint64 max-packet-length, max-read-length, max-write-length, max-open-handles
  const wire = hex(`00000025 | c9 | 00000001 |
    0000000000040000 000000000003fc00 000000000003fc00 0000000000000100`);
  assert.deepEqual(
    encodeLimitsReply(1, { maxPacketLength: MAX_PACKET, maxReadLength: MAX_READ, maxWriteLength: MAX_WRITE, maxOpenHandles: 256 }),
    wire,
  );
});

test('known answer: copy-data extension request', () => {
  // uint32 id, string "copy-data", string read-handle, uint64 read-offset, uint64 read-length,
  // string write-handle, uint64 write-offset
  const payload = hex(`c8 | 00000004 | 00000009 ${ascii('copy-data')} | 00000001 72 | 0000000000000010 |
    0000000000000000 | 00000001 77 | 0000000000000020`);
  assert.deepEqual(decodeRequest(payload), {
    kind: 'request',
    request: {
      type: 'copy-data', id: 4, readHandle: Buffer.from('r'), readOffset: 16, readLength: 0,
      writeHandle: Buffer.from('w'), writeOffset: 32,
    },
  });
});

test('known answer: SYMLINK uses OpenSSH\'s order (target first, then link path)', () => {
  const payload = hex(`14 | 00000001 | 00000006 ${ascii('target')} | 00000004 ${ascii('link')}`);
  assert.deepEqual(decodeRequest(payload), {
    kind: 'request',
    request: { type: 'symlink', id: 1, targetPath: Buffer.from('target'), linkPath: Buffer.from('link') },
  });
});

// ---------------------------------------------------------------------------------------------
// Decode rules the session relies on

test('Tahoe test_extendedRequest: malformed posix-rename data is a bad message with the id', () => {
  for (const data of ['', '\0\0\0\x01', '\0\0\0\x01_\0\0\0\x01']) {
    const r = decodeRequest(ext(77, 'posix-rename@openssh.com', Buffer.from(data, 'latin1')));
    assertBad(r, 77, 'posix-rename@openssh.com');
  }
  // and exactly-consumed data works
  const ok = decodeRequest(ext(77, 'posix-rename@openssh.com', stringBytes('a'), stringBytes('b')));
  assert.deepEqual(ok, {
    kind: 'request', request: { type: 'posix-rename', id: 77, oldPath: Buffer.from('a'), newPath: Buffer.from('b') },
  });
});

test('every known extension with missing data is a bad message; extra data is ignored, as OpenSSH does', () => {
  const good: Record<string, Buffer[]> = {
    [ExtensionName.POSIX_RENAME]: [stringBytes('a'), stringBytes('b')],
    [ExtensionName.HARDLINK]: [stringBytes('a'), stringBytes('b')],
    [ExtensionName.STATVFS]: [stringBytes('/')],
    [ExtensionName.FSTATVFS]: [stringBytes('h')],
    [ExtensionName.FSYNC]: [stringBytes('h')],
    [ExtensionName.LIMITS]: [],
    [ExtensionName.COPY_DATA]: [stringBytes('r'), u64Bytes(0), u64Bytes(0), stringBytes('w'), u64Bytes(0)],
    [ExtensionName.HOME_DIRECTORY]: [stringBytes('alice')],
    [ExtensionName.EXPAND_PATH]: [stringBytes('~/x')],
  };
  assert.deepEqual(Object.keys(good).sort(), [...KNOWN_EXTENSIONS].sort());
  for (const [name, fields] of Object.entries(good)) {
    const data = Buffer.concat(fields);
    assert.equal(decodeRequest(ext(5, name, data)).kind, 'request', name);
    assert.deepEqual(decodeRequest(ext(5, name, data, Buffer.of(0))), decodeRequest(ext(5, name, data)), name);
    for (let cut = 0; cut < data.length; cut++) {
      assertBad(decodeRequest(ext(5, name, data.subarray(0, cut))), 5, name);
    }
  }
});

test('unknown extensions keep their name and raw data', () => {
  const r = decodeRequest(ext(3, 'foo', Buffer.from([1, 2, 3])));
  assert.deepEqual(r, { kind: 'request', request: { type: 'extended-unknown', id: 3, name: 'foo', data: Buffer.from([1, 2, 3]) } });
  // an EXTENDED packet whose name cannot be read is a bad message, not an unknown extension
  assertBad(decodeRequest(hex('c8 00000003 000000ff 41')), 3, undefined);
});

test('uint64 above Number.MAX_SAFE_INTEGER is a bad message with the id', () => {
  const big = [2n ** 53n, 2n ** 63n, 2n ** 64n - 1n];
  const h = stringBytes('h');
  for (const v of big) {
    const cases: Buffer[] = [
      encodePacket(PacketType.READ, u32Bytes(11), h, u64Bytes(v), u32Bytes(10)),
      encodePacket(PacketType.WRITE, u32Bytes(11), h, u64Bytes(v), stringBytes('x')),
      // ATTRS with SIZE, in SETSTAT, FSETSTAT, OPEN and MKDIR
      encodePacket(PacketType.SETSTAT, u32Bytes(11), h, u32Bytes(1), u64Bytes(v)),
      encodePacket(PacketType.FSETSTAT, u32Bytes(11), h, u32Bytes(1), u64Bytes(v)),
      encodePacket(PacketType.OPEN, u32Bytes(11), h, u32Bytes(1), u32Bytes(1), u64Bytes(v)),
      encodePacket(PacketType.MKDIR, u32Bytes(11), h, u32Bytes(1), u64Bytes(v)),
    ];
    for (const pos of [0, 1, 2]) {
      const u = [0n, 0n, 0n];
      u[pos] = v;
      cases.push(encodePacket(PacketType.EXTENDED, u32Bytes(11), stringBytes('copy-data'),
        h, u64Bytes(u[0]!), u64Bytes(u[1]!), h, u64Bytes(u[2]!)));
    }
    for (const pkt of cases) {
      const r = decodeRequest(pkt.subarray(4));
      assert.equal(r.kind, 'bad-message');
      assert.ok(r.kind === 'bad-message');
      assert.equal(r.id, 11);
      assert.match(r.reason, /2\^53/);
    }
  }
  // the largest safe offset is fine
  const r = decodeRequest(encodePacket(PacketType.READ, u32Bytes(1), h, u64Bytes(Number.MAX_SAFE_INTEGER), u32Bytes(1)).subarray(4));
  assert.equal(r.kind, 'request');
});

test('READ length 2^32-1 decodes unclamped (clamping is the session\'s job)', () => {
  const req = decodeOk(encodePacket(PacketType.READ, u32Bytes(1), stringBytes('h'), u64Bytes(0), u32Bytes(0xffffffff)));
  assert.ok(req.type === 'read');
  assert.equal(req.length, 0xffffffff);
});

test('unknown packet types with an id are unsupported; packets without an id are fatal', () => {
  for (const type of [0, 2, 21, 99, 101, 102, 105, 199, 201, 255]) {
    assert.deepEqual(decodeRequest(Buffer.from([type, 0, 0, 1, 0, 0xaa])), { kind: 'unsupported', id: 256, packetType: type });
  }
  assert.equal(decodeRequest(Buffer.alloc(0)).kind, 'fatal');
  for (const len of [1, 2, 3, 4]) {
    const r = decodeRequest(Buffer.from([PacketType.OPEN, 0, 0, 0, 1]).subarray(0, len));
    assert.equal(r.kind, 'fatal');
  }
  // INIT has no id: truncated or with half an extension pair, nobody can be answered
  assert.equal(decodeRequest(hex('01 000003')).kind, 'fatal');
  assert.equal(decodeRequest(hex('01 00000003 00000001 61')).kind, 'fatal');
  assert.deepEqual(decodeRequest(hex('01 00000003')), { kind: 'request', request: { type: 'init', version: 3, extensions: [] } });
});

test('ATTRS: unknown flag bits are ignored, a half pair decodes to both fields, huge counts stop early', () => {
  // flags 0x00000010|PERMISSIONS: the unknown bit carries no field in v3
  const r1 = decodeOk(encodePacket(PacketType.SETSTAT, u32Bytes(1), stringBytes('p'), u32Bytes(0x14), u32Bytes(0o755)));
  assert.ok(r1.type === 'setstat');
  assert.deepEqual(r1.attrs, { permissions: 0o755 });
  // the encoder completes half pairs rather than refusing them
  const r2 = decodeOk(encodeRequest({ type: 'setstat', id: 1, path: Buffer.from('p'), attrs: { mtime: 99, uid: 5 } }));
  assert.ok(r2.type === 'setstat');
  assert.deepEqual(r2.attrs, { uid: 5, gid: 0, atime: 99, mtime: 99 });
  // EXTENDED with a count of 2^32-1 and no pairs
  assertBad(decodeRequest(encodePacket(PacketType.SETSTAT, u32Bytes(4), stringBytes('p'), u32Bytes(0x80000000), u32Bytes(0xffffffff)).subarray(4)), 4);
});

test('truncating any request is a bad message with its id (or fatal before the id)', () => {
  fc.assert(
    fc.property(request, fc.nat(), (req, cutSeed) => {
      const payload = payloadOf(encodeRequest(req));
      const cut = 1 + (cutSeed % (payload.length - 1 || 1));
      if (cut >= payload.length) return;
      const r = decodeRequest(payload.subarray(0, cut));
      if (req.type === 'init') {
        // a cut between two extension pairs leaves a valid INIT; anything else is fatal
        assert.ok(r.kind === 'fatal' || (r.kind === 'request' && r.request.type === 'init'));
      } else if (cut < 5) {
        assert.equal(r.kind, 'fatal');
      } else if (req.type === 'extended-unknown' && cut >= 9 + Buffer.byteLength(req.name)) {
        // the data of an unknown extension is "the rest of the packet": a shorter rest is valid
        assert.equal(r.kind, 'request');
      } else {
        assert.equal(r.kind, 'bad-message', `${req.type} cut at ${cut}: ${JSON.stringify(r)}`);
        assert.ok(r.kind === 'bad-message');
        assert.equal(r.id, req.id);
      }
    }),
    { numRuns: 3000 },
  );
});

test('every prefix of one request of each type is handled', () => {
  fc.assert(
    fc.property(request, (req) => {
      const payload = payloadOf(encodeRequest(req));
      for (let cut = 0; cut < payload.length; cut++) {
        const r = decodeRequest(payload.subarray(0, cut));
        assert.ok(['request', 'bad-message', 'fatal'].includes(r.kind));
        if (r.kind === 'bad-message' && req.type !== 'init') assert.equal(r.id, req.id);
      }
    }),
    { numRuns: 200 },
  );
});

test('bytes after the last field of a request are ignored, as OpenSSH does (rclone sends them)', () => {
  fc.assert(
    fc.property(
      request.filter((r) => r.type !== 'init' && r.type !== 'extended-unknown'),
      fc.uint8Array({ minLength: 1, maxLength: 20 }),
      (req, garbage) => {
        const payload = Buffer.concat([payloadOf(encodeRequest(req)), garbage]);
        assert.deepEqual(decodeRequest(payload), decodeRequest(payloadOf(encodeRequest(req))));
      },
    ),
    { numRuns: 2000 },
  );
  // pkg/sftp (rclone): a WRITE whose data length says 4096 inside a 32 KiB buffer.
  const handle = Buffer.alloc(16, 7);
  const data = Buffer.alloc(32768, 0);
  data.fill(1, 0, 4096);
  const payload = Buffer.concat([Buffer.from([PacketType.WRITE]), u32Bytes(7), stringBytes(handle), u64Bytes(0), u32Bytes(4096), data]);
  const r = decodeRequest(payload);
  assert.equal(r.kind, 'request');
  if (r.kind === 'request' && r.request.type === 'write') assert.deepEqual(r.request.data, Buffer.alloc(4096, 1));
});

// ---------------------------------------------------------------------------------------------
// Encoder limits

test('NAME splitting: nameEntriesThatFit gives the largest prefix that fits MAX_PACKET', () => {
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 0, max: 40000 }), { minLength: 1, maxLength: 30 }), (sizes) => {
      const entries: NameEntry[] = sizes.map((n, i) => ({
        filename: Buffer.from(`f${i}`), longname: Buffer.alloc(n, 0x61), attrs: { size: n, permissions: 0o100644 },
      }));
      let start = 0;
      while (start < entries.length) {
        const n = nameEntriesThatFit(entries, start);
        assert.ok(n >= 1, 'every entry here fits alone');
        const packet = encodeName(1, entries.slice(start, start + n));
        assert.ok(packet.length - 4 <= MAX_PACKET);
        if (start + n < entries.length) {
          assert.throws(() => encodeName(1, entries.slice(start, start + n + 1)), RangeError);
        }
        start += n;
      }
    }),
    { numRuns: 100 },
  );
  const huge: NameEntry = { filename: Buffer.from('x'), longname: Buffer.alloc(MAX_PACKET), attrs: {} };
  assert.equal(nameEntriesThatFit([huge]), 0);
  assert.equal(nameEntriesThatFit([], 0), 0);
});

test('STATUS shortens an over-long message at a character boundary instead of failing', () => {
  const msg = 'ß'.repeat(MAX_PACKET); // 2 bytes per character
  const packet = encodeStatus(1, StatusCode.FAILURE, msg);
  assert.ok(packet.length - 4 <= MAX_PACKET);
  const reply = replyOf(packet);
  assert.ok(reply.type === 'status');
  assert.ok(reply.message.length > 1000 && msg.startsWith(reply.message));
  assert.ok(!reply.message.includes('\ufffd'));
});

test('DATA: the largest READ reply fits; larger payloads throw', () => {
  const header = encodeDataHeader(1, MAX_READ);
  assert.equal(header.length, 13);
  assert.equal(header.readUInt32BE(0), 9 + MAX_READ);
  assert.ok(9 + MAX_READ <= MAX_PACKET);
  assert.doesNotThrow(() => encodeDataHeader(1, MAX_PACKET - 9));
  assert.throws(() => encodeDataHeader(1, MAX_PACKET - 8), RangeError);
});

test('encoders refuse values the wire cannot carry', () => {
  assert.throws(() => encodeStatus(-1, 0), RangeError);
  assert.throws(() => encodeStatus(2 ** 32, 0), RangeError);
  assert.throws(() => encodeAttrsReply(1, { size: -1 }), RangeError);
  assert.throws(() => encodeAttrsReply(1, { size: 2 ** 53 }), RangeError);
  assert.throws(() => encodeAttrsReply(1, { mtime: 1.5 }), RangeError);
  assert.throws(() => encodeHandle(1, Buffer.alloc(MAX_PACKET)), RangeError);
});
