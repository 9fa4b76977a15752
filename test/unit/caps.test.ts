import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import {
  b32decode, b32encode, canonicalCap, diminish, formatCap, isDirectory, isMutable, isReadOnly,
  literalCap, parseCap, readCapOf, sizeFromCap, verifierOf,
} from '../../src/caps/index.js';

// Real caps recorded from a Tahoe-LAFS 1.20 node (shared/reference/tahoe-webapi-samples/index.json).
const TAHOE = {
  ROOT: 'URI:DIR2:tmtxiysosbogziok2bzqtjqyly:odeejxkxue6ruqz4xaxzw6bhavb244akuqkdbg2d3svxdubq4b3q',
  ROOT_RO: 'URI:DIR2-RO:a32icmmqnzvw5hutjevlpdrd5m:odeejxkxue6ruqz4xaxzw6bhavb244akuqkdbg2d3svxdubq4b3q',
  TINY_LIT: 'URI:LIT:nbswy3dpfqqhiylin5squ',
  SMALL_CHK: 'URI:CHK:cijcjzcaplulf7swndt4pfiyhy:yzmwugnohxefq5j5htnfxgjqs23vnl7jgy7nsncquckawbpjlo2a:2:3:1968',
  NOTES_SDMF: 'URI:SSK:ig6ac5bkvv7s5nwzze2zbjof6y:wkfktsmxnedwipe6ujofod2ruyhoubtbzdkezarnajvr2d5pvroa',
  NOTES_RO: 'URI:SSK-RO:5xsxjkkxesum7zrnyxrs7m3gvq:wkfktsmxnedwipe6ujofod2ruyhoubtbzdkezarnajvr2d5pvroa',
  LOG_MDMF: 'URI:MDMF:dc3ofq2arhnmfqg2ovpjlximdi:2fbngfpgyeqck6vlu26epctmrpslh3xdovd7bdttdrg5jcybnlxq',
  IMMDIR: 'URI:DIR2-CHK:rjmb34mtcgi2t4rftycyrbu3ny:rrow7kvs4igkppn6ygkm3t6rj4uleeg3qsg5vgrbuioq5t6rpshq:2:3:277',
};

test('base32 matches RFC 4648 test vectors (lowercase, unpadded)', () => {
  const vectors: [string, string][] = [
    ['', ''], ['f', 'my'], ['fo', 'mzxq'], ['foo', 'mzxw6'], ['foob', 'mzxw6yq'],
    ['fooba', 'mzxw6ytb'], ['foobar', 'mzxw6ytboi'],
  ];
  for (const [plain, enc] of vectors) {
    assert.equal(b32encode(Buffer.from(plain)), enc);
    assert.deepEqual(b32decode(enc), Buffer.from(plain));
  }
});

test('base32 round-trips random bytes and rejects non-canonical text', () => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 100 }), (bytes) => {
    const text = b32encode(bytes);
    assert.match(text, /^[a-z2-7]*$/);
    assert.deepEqual(b32decode(text), Buffer.from(bytes));
  }));
  assert.equal(b32decode('mzxw6yr'), undefined); // trailing bits not zero
  assert.equal(b32decode('MZXW6'), undefined); // uppercase
  assert.equal(b32decode('mzx'), undefined); // impossible length
  assert.equal(b32decode('mzxw6=='), undefined); // padding
});

test('real Tahoe caps parse and format back byte-identically', () => {
  for (const cap of Object.values(TAHOE)) {
    const parsed = parseCap(cap);
    assert.notEqual(parsed.type, 'unknown', cap);
    assert.equal(formatCap(parsed), cap);
  }
});

test('diminishing a Tahoe write cap gives the read cap Tahoe gave', () => {
  assert.equal(readCapOf(TAHOE.ROOT), TAHOE.ROOT_RO);
  assert.equal(readCapOf(TAHOE.NOTES_SDMF), TAHOE.NOTES_RO);
});

test('diminish is idempotent and never turns a read cap into a write cap', () => {
  for (const cap of Object.values(TAHOE)) {
    const once = diminish(parseCap(cap));
    assert.ok(isReadOnly(once), cap);
    assert.equal(formatCap(diminish(once)), formatCap(once));
  }
  assert.equal(readCapOf(TAHOE.ROOT_RO), TAHOE.ROOT_RO);
  assert.equal(readCapOf(TAHOE.SMALL_CHK), TAHOE.SMALL_CHK);
});

test('classification of every kind', () => {
  const cases: [string, { dir: boolean; mutable: boolean; ro: boolean }][] = [
    [TAHOE.ROOT, { dir: true, mutable: true, ro: false }],
    [TAHOE.ROOT_RO, { dir: true, mutable: true, ro: true }],
    [TAHOE.IMMDIR, { dir: true, mutable: false, ro: true }],
    ['URI:DIR2-LIT:', { dir: true, mutable: false, ro: true }],
    [TAHOE.SMALL_CHK, { dir: false, mutable: false, ro: true }],
    [TAHOE.TINY_LIT, { dir: false, mutable: false, ro: true }],
    [TAHOE.NOTES_SDMF, { dir: false, mutable: true, ro: false }],
    [TAHOE.NOTES_RO, { dir: false, mutable: true, ro: true }],
    [TAHOE.LOG_MDMF, { dir: false, mutable: true, ro: false }],
  ];
  for (const [text, want] of cases) {
    const cap = parseCap(text);
    assert.deepEqual({ dir: isDirectory(cap), mutable: isMutable(cap), ro: isReadOnly(cap) }, want, text);
  }
});

test('LIT caps hold the bytes exactly as Tahoe encodes them', () => {
  // The recorded 13-byte file "hello, tahoe\n" became this LIT cap on a real Tahoe node.
  assert.equal(literalCap(Buffer.from('hello, tahoe\n')), TAHOE.TINY_LIT);
  const lit = parseCap(TAHOE.TINY_LIT);
  assert.equal(sizeFromCap(lit), 13);
  assert.equal(literalCap(Buffer.alloc(0)), 'URI:LIT:');
  fc.assert(fc.property(fc.uint8Array({ maxLength: 55 }), (bytes) => {
    const cap = parseCap(literalCap(bytes));
    assert.equal(cap.type, 'LIT');
    if (cap.type === 'LIT') assert.deepEqual(cap.data, Buffer.from(bytes));
  }));
});

test('verify caps drop the read key', () => {
  const v = verifierOf(parseCap(TAHOE.SMALL_CHK));
  assert.ok(v);
  assert.match(formatCap(v), /^URI:CHK-Verifier:[a-z2-7]{26}:[a-z2-7]{52}:2:3:1968$/);
  const dv = verifierOf(parseCap(TAHOE.ROOT));
  assert.ok(dv && formatCap(dv).startsWith('URI:DIR2-Verifier:'));
  assert.equal(verifierOf(parseCap(TAHOE.TINY_LIT)), undefined);
  // Verify caps parse back to themselves (they are not unknown caps).
  for (const cap of [TAHOE.SMALL_CHK, TAHOE.ROOT, TAHOE.NOTES_SDMF, TAHOE.LOG_MDMF, TAHOE.IMMDIR]) {
    const text = formatCap(verifierOf(parseCap(cap))!);
    assert.notEqual(parseCap(text).type, 'unknown', text);
    assert.equal(canonicalCap(text), text);
  }
});

test('malformed and foreign caps are kept verbatim as unknown', () => {
  const bad = [
    'x-tahoe-crazy://I_am_from_the_future.',
    'URI:noexist',
    'URI:CHK:short:hash:1:1:1',
    TAHOE.SMALL_CHK.replace(':2:3:', ':0:3:'), // k must be >= 1
    TAHOE.SMALL_CHK.replace(':2:3:', ':4:3:'), // n must be >= k
    TAHOE.ROOT.toUpperCase(),
    TAHOE.ROOT + ':extra',
    'URI:LIT:MZXW6',
    'URI:SSK:' + 'a'.repeat(26) + ':' + 'b'.repeat(52), // trailing bits of the key not zero
    '',
  ];
  for (const text of bad) {
    const cap = parseCap(text);
    assert.equal(cap.type, 'unknown', text);
    assert.equal(formatCap(cap), text.trim());
  }
});

test('ro. and imm. prefixes accept read caps only', () => {
  assert.equal(canonicalCap('ro.' + TAHOE.ROOT_RO), TAHOE.ROOT_RO);
  assert.equal(parseCap('ro.' + TAHOE.ROOT).type, 'unknown');
  assert.equal(canonicalCap('imm.' + TAHOE.SMALL_CHK), TAHOE.SMALL_CHK);
  assert.equal(parseCap('imm.' + TAHOE.NOTES_RO).type, 'unknown');
});

test('fuzz: parseCap never throws and formatting is a fixed point', () => {
  fc.assert(fc.property(fc.string({ maxLength: 200 }), (s) => {
    const text = formatCap(parseCap(s));
    assert.equal(formatCap(parseCap(text)), text);
  }), { numRuns: 2000 });
  // Mutations of real caps: flip, drop or insert one character.
  const caps = Object.values(TAHOE);
  fc.assert(fc.property(fc.constantFrom(...caps), fc.nat(), fc.constantFrom('a', 'Z', ':', '9', ''), (cap, pos, ch) => {
    const i = pos % (cap.length + 1);
    const mutated = cap.slice(0, i) + ch + cap.slice(i + 1);
    const parsed = parseCap(mutated);
    if (parsed.type !== 'unknown') assert.equal(formatCap(parseCap(formatCap(parsed))), formatCap(parsed));
  }), { numRuns: 2000 });
  // Random write caps of every mutable kind diminish consistently.
  for (const type of ['SSK', 'MDMF', 'DIR2', 'DIR2-MDMF']) {
    const text = `URI:${type}:${b32encode(randomBytes(16))}:${b32encode(randomBytes(32))}`;
    const ro = readCapOf(text);
    assert.equal(ro.split(':')[1], `${type}-RO`);
    assert.equal(ro.split(':')[3], text.split(':')[3]);
  }
});
