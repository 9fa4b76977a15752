// AES-256-GCM sealing with the nonce stored in front: nonce(12) ‖ ciphertext ‖ tag(16).
// `aad` binds a sealed value to where it lives (its row), so values cannot be swapped around.
import { createCipheriv, createDecipheriv } from 'node:crypto';
import { randomBytesPooled } from '../../util/random.js';
import { GridError } from '../errors.js';

const NONCE = 12;
const TAG = 16;

export function seal(key: Buffer, plaintext: Buffer, aad: Buffer): Buffer {
  const nonce = randomBytesPooled(NONCE);
  const cipher = createCipheriv('aes-256-gcm', key, nonce);
  cipher.setAAD(aad);
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([nonce, body, cipher.getAuthTag()]);
}

export function open(key: Buffer, sealed: Buffer, aad: Buffer, what: string): Buffer {
  if (sealed.length < NONCE + TAG) throw new GridError('CORRUPT', `${what} is damaged (too short)`);
  const decipher = createDecipheriv('aes-256-gcm', key, sealed.subarray(0, NONCE));
  decipher.setAAD(aad);
  decipher.setAuthTag(sealed.subarray(sealed.length - TAG));
  try {
    return Buffer.concat([decipher.update(sealed.subarray(NONCE, sealed.length - TAG)), decipher.final()]);
  } catch {
    throw new GridError('CORRUPT', `${what} failed its integrity check`);
  }
}
