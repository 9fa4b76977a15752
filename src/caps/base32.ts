// RFC 4648 base32, lowercase, without padding: the alphabet and bit order Tahoe-LAFS uses in caps.

const ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567';
const DECODE = new Int8Array(128).fill(-1);
for (let i = 0; i < ALPHABET.length; i++) DECODE[ALPHABET.charCodeAt(i)] = i;

export function b32encode(data: Uint8Array): string {
  let out = '';
  let bits = 0;
  let value = 0;
  for (const byte of data) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += ALPHABET[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
    value &= (1 << bits) - 1; // keep only the bits not yet emitted, so `value` never overflows
  }
  if (bits > 0) out += ALPHABET[(value << (5 - bits)) & 31];
  return out;
}

/** Number of base32 characters that encode `n` bytes without padding. */
export function b32length(n: number): number {
  return Math.ceil((n * 8) / 5);
}

/**
 * Decodes lowercase unpadded base32. Returns undefined for any character outside the alphabet,
 * for a length no byte count produces, or when the unused trailing bits are not zero (so every
 * byte string has exactly one accepted encoding, as Tahoe's regexes require).
 */
export function b32decode(text: string): Buffer | undefined {
  const nbytes = Math.floor((text.length * 5) / 8);
  if (b32length(nbytes) !== text.length) return undefined;
  const out = Buffer.allocUnsafe(nbytes);
  let bits = 0;
  let value = 0;
  let pos = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    const v = code < 128 ? DECODE[code]! : -1;
    if (v < 0) return undefined;
    value = (value << 5) | v;
    bits += 5;
    if (bits >= 8) {
      out[pos++] = (value >>> (bits - 8)) & 0xff;
      bits -= 8;
      value &= (1 << bits) - 1;
    }
  }
  if (value !== 0) return undefined; // non-canonical trailing bits
  return out;
}
