// Deterministic pseudo-random test data, generated fast (AES-CTR keystream) and without
// holding large files in memory.
import { createCipheriv, createHash } from 'node:crypto';

export function pseudoRandom(seed: string, length: number): Buffer {
  return streamChunk(seed, 0, length);
}

/** Bytes [offset, offset+length) of the endless stream named by `seed` (offset multiple of 16). */
export function streamChunk(seed: string, offset: number, length: number): Buffer {
  if (offset % 16 !== 0) throw new Error('offset must be a multiple of 16');
  const key = createHash('sha256').update(seed).digest().subarray(0, 16);
  const iv = Buffer.alloc(16);
  iv.writeBigUInt64BE(BigInt(offset / 16), 8);
  const cipher = createCipheriv('aes-128-ctr', key, iv);
  return cipher.update(Buffer.alloc(length));
}

/** Yields `total` bytes of the stream in chunks of `chunk` bytes. */
export function* streamChunks(seed: string, total: number, chunk = 1024 * 1024): Generator<Buffer> {
  for (let off = 0; off < total; off += chunk) yield streamChunk(seed, off, Math.min(chunk, total - off));
}

export function sha256(data: Buffer | Iterable<Buffer>): string {
  const h = createHash('sha256');
  if (Buffer.isBuffer(data)) h.update(data);
  else for (const c of data) h.update(c);
  return h.digest('hex');
}
