// The store's AES-256-GCM of small values (src/grid/embedded/aead.ts, through native/seal):
// byte for byte what Node's own cipher makes, so stores written before it read the same, and
// nothing that was tampered with ever opens.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createCipheriv, createDecipheriv, randomBytes, randomInt } from 'node:crypto';
import { gcmOpen, gcmSeal, open, seal } from '../../src/grid/embedded/aead.js';
import { sealAddon } from '../../src/grid/embedded/native.js';
import { isGridError } from '../../src/grid/errors.js';

function nodeSeal(key: Buffer, nonce: Buffer, plain: Buffer, aad: Buffer): Buffer {
  const cipher = createCipheriv('aes-256-gcm', key, nonce);
  if (aad.length) cipher.setAAD(aad);
  return Buffer.concat([cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
}

function nodeOpen(key: Buffer, nonce: Buffer, sealed: Buffer, aad: Buffer): Buffer {
  const decipher = createDecipheriv('aes-256-gcm', key, nonce);
  if (aad.length) decipher.setAAD(aad);
  decipher.setAuthTag(sealed.subarray(sealed.length - 16));
  return Buffer.concat([decipher.update(sealed.subarray(0, sealed.length - 16)), decipher.final()]);
}

/** Sizes around the cipher's block and the store's own: empty, a key, an entry, a small object. */
const randomSize = () => [0, 1, 15, 16, 17, 32, 48, 200, 4096, 131071][randomInt(10)]! + randomInt(3);

test('gcmSeal matches Node\'s AES-256-GCM byte for byte, and Node opens what it seals (random inputs)', () => {
  for (let i = 0; i < 300; i++) {
    const key = randomBytes(32);
    const nonce = randomBytes(12);
    const plain = randomBytes(randomSize());
    const aad = randomBytes(randomInt(3) === 0 ? 0 : randomSize());
    const sealed = gcmSeal(key, nonce, plain, aad);
    assert.deepEqual(sealed, nodeSeal(key, nonce, plain, aad));
    assert.deepEqual(nodeOpen(key, nonce, sealed, aad), plain);
    assert.deepEqual(gcmOpen(key, nonce, nodeSeal(key, nonce, plain, aad), aad), plain);
  }
});

test('gcmOpen refuses any change to the ciphertext, tag, nonce, key or associated data', () => {
  for (let i = 0; i < 200; i++) {
    const key = randomBytes(32);
    const nonce = randomBytes(12);
    const plain = randomBytes(randomSize());
    const aad = randomBytes(1 + randomInt(64));
    const sealed = gcmSeal(key, nonce, plain, aad);
    const flip = (b: Buffer) => {
      const copy = Buffer.from(b);
      copy[randomInt(copy.length)]! ^= 1 << randomInt(8);
      return copy;
    };
    assert.equal(gcmOpen(key, nonce, flip(sealed), aad), undefined);
    assert.equal(gcmOpen(key, flip(nonce), sealed, aad), undefined);
    assert.equal(gcmOpen(flip(key), nonce, sealed, aad), undefined);
    assert.equal(gcmOpen(key, nonce, sealed, flip(aad)), undefined);
    assert.equal(gcmOpen(key, nonce, sealed), undefined, 'without the associated data');
    assert.equal(gcmOpen(key, nonce, sealed.subarray(0, sealed.length - 1), aad), undefined, 'truncated');
    assert.equal(gcmOpen(key, nonce, sealed.subarray(0, randomInt(16)), aad), undefined, 'shorter than a tag');
  }
});

test('the addon refuses wrong arguments with a TypeError and more than 1 MiB with a RangeError', () => {
  const addon = sealAddon();
  const key = randomBytes(32);
  const nonce = randomBytes(12);
  const none = Buffer.alloc(0);
  assert.throws(() => addon.gcmSeal(randomBytes(16), nonce, none, none), TypeError, 'a 128-bit key');
  assert.throws(() => addon.gcmSeal(key, randomBytes(16), none, none), TypeError, 'a 16-byte nonce');
  assert.throws(() => addon.gcmOpen(key, nonce, none, 'text' as unknown as Buffer), TypeError);
  assert.throws(() => (addon.gcmSeal as (...a: unknown[]) => Buffer)(key, nonce), TypeError);
  assert.throws(() => addon.gcmSeal(key, nonce, none, Buffer.alloc((1 << 20) + 1)), RangeError);
  assert.throws(() => addon.gcmOpen(key, nonce, Buffer.alloc((1 << 20) + 1), none), RangeError);
  assert.equal(gcmSeal(key, nonce, Buffer.alloc(1 << 20)).length, (1 << 20) + 16, 'exactly 1 MiB is allowed');
});

test('seal and open keep the nonce in front, use a new one each time, and answer CORRUPT for damage', () => {
  const key = randomBytes(32);
  const aad = Buffer.from('row');
  const plain = Buffer.from('{"n":"a file","m":{}}');
  const a = seal(key, plain, aad);
  const b = seal(key, plain, aad);
  assert.equal(a.length, 12 + plain.length + 16);
  assert.notDeepEqual(a.subarray(0, 12), b.subarray(0, 12), 'a fresh nonce each time');
  assert.deepEqual(open(key, a, aad, 'entry'), plain);
  assert.deepEqual(nodeOpen(key, a.subarray(0, 12), a.subarray(12), aad), plain);
  const damaged = Buffer.from(a);
  damaged[20]! ^= 4;
  for (const [value, message] of [
    [damaged, /entry failed its integrity check/],
    [a.subarray(0, 27), /entry is damaged \(too short\)/],
  ] as const) {
    assert.throws(() => open(key, value, aad, 'entry'), (err: unknown) => isGridError(err, 'CORRUPT') && message.test((err as Error).message));
  }
  assert.throws(() => open(key, a, Buffer.from('another row'), 'entry'), (err: unknown) => isGridError(err, 'CORRUPT'));
});
