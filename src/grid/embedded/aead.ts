// AES-256-GCM of the store's small values (directory entries, object headers, small objects),
// on the calling thread through the sealing addon: Node's createCipheriv and createDecipheriv
// cost 4-15 µs each on this machine (a cipher object, and OpenSSL 3 fetching the algorithm at
// every init), the addon's calls 1.4-6 µs (32 bytes to 4 KiB), several times per small file.
//
// seal() and open() keep the nonce in front: nonce(12) ‖ ciphertext ‖ tag(16). `aad` binds a
// sealed value to where it lives (its row), so values cannot be swapped around.
import { randomBytesPooled } from '../../util/random.js';
import { GridError } from '../errors.js';
import { sealAddon } from './native.js';

const NONCE = 12;
const TAG = 16;
const NO_AAD: Buffer = Buffer.alloc(0);

/** ciphertext ‖ tag of `plain` (at most 1 MiB) under `key` and `nonce`. */
export function gcmSeal(key: Buffer, nonce: Buffer, plain: Buffer, aad: Buffer = NO_AAD): Buffer {
  return sealAddon().gcmSeal(key, nonce, aad, plain);
}

/** The plaintext of `sealed` (ciphertext ‖ tag), or undefined when its tag fails. */
export function gcmOpen(key: Buffer, nonce: Buffer, sealed: Buffer, aad: Buffer = NO_AAD): Buffer | undefined {
  return sealAddon().gcmOpen(key, nonce, aad, sealed);
}

export function seal(key: Buffer, plaintext: Buffer, aad: Buffer): Buffer {
  const nonce = randomBytesPooled(NONCE);
  return Buffer.concat([nonce, gcmSeal(key, nonce, plaintext, aad)]);
}

export function open(key: Buffer, sealed: Buffer, aad: Buffer, what: string): Buffer {
  if (sealed.length < NONCE + TAG) throw new GridError('CORRUPT', `${what} is damaged (too short)`);
  const plain = gcmOpen(key, sealed.subarray(0, NONCE), sealed.subarray(NONCE), aad);
  if (!plain) throw new GridError('CORRUPT', `${what} failed its integrity check`);
  return plain;
}
