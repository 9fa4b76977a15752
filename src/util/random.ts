// Random bytes for the hot paths: each small upload takes a data key, two nonces and an SFTP
// handle. One randomBytes() call costs 3–7 µs here (OpenSSL's DRBG behind its lock); in a profile
// of 4,000 small SFTP uploads, those four calls were ~30 µs per file, ~4% of its CPU. So values
// come from a 4 KiB block drawn with one call, as Node's own randomUUID() caches its entropy.
// Each value is a copy, no byte is handed out twice, and bytes handed out are wiped from the
// block (it holds future keys, not past ones).
import { randomBytes, randomFillSync } from 'node:crypto';

const BLOCK = 4096;
/** Larger requests are rare (not per file): they go straight to randomBytes. */
const LARGEST = 64;

let block = Buffer.alloc(0);
let used = 0;

/** `n` cryptographically random bytes, like crypto.randomBytes(n), at a fraction of its cost. */
export function randomBytesPooled(n: number): Buffer {
  return n > LARGEST ? randomBytes(n) : randomFillPooled(Buffer.allocUnsafe(n));
}

/**
 * crypto.randomFillSync(buf, offset, size) from the same block: also for ssh2's packet padding
 * (src/ssh/ssh2-preload.ts), 4-255 bytes per packet sent. Larger fills go straight to OpenSSL.
 */
export function randomFillPooled<T extends NodeJS.ArrayBufferView>(buf: T, offset = 0, size = buf.byteLength - offset): T {
  if (!Number.isInteger(offset) || !Number.isInteger(size) || offset < 0 || size < 0 || offset + size > buf.byteLength) {
    return randomFillSync(buf, offset, size); // its own checks and errors
  }
  const out = new Uint8Array(buf.buffer, buf.byteOffset + offset, size);
  for (let done = 0; done < size; ) {
    if (size - done > LARGEST) {
      randomFillSync(out, done, size - done);
      break;
    }
    if (used >= block.length) {
      block = randomFillSync(Buffer.allocUnsafeSlow(BLOCK));
      used = 0;
    }
    const n = Math.min(size - done, block.length - used);
    out.set(block.subarray(used, used + n), done);
    block.fill(0, used, used + n);
    used += n;
    done += n;
  }
  return buf;
}
