// The byte layout of an object file (objects.ts): a HEADER_SIZE header, then segments of
// SEGMENT_SIZE plaintext bytes, each stored as AES-256-GCM ciphertext ‖ TAG-byte tag, nonce =
// the segment's index. The sealer (sealer.ts, native/seal) writes what this lays out.

/**
 * 128 KiB: big enough that per-segment work (a GCM setup, a syscall) is negligible, small
 * enough that a 32 KiB SFTP read decrypts little it does not need (readers cache segments).
 */
export const SEGMENT_SIZE = 128 * 1024;
export const TAG = 16;
export const HEADER_SIZE = 128;

export function segmentNonce(index: number): Buffer {
  const nonce = Buffer.alloc(12);
  nonce.writeBigUInt64BE(BigInt(index), 4);
  return nonce;
}

export function segmentOffset(index: number): number {
  return HEADER_SIZE + index * (SEGMENT_SIZE + TAG);
}

/** Where a run of `count` segments from `first` lies in an object of `size` plaintext bytes. */
export function runLayout(first: number, count: number, size: number): { position: number; sealedLength: number; plainLength: number } {
  const end = Math.min(size, (first + count) * SEGMENT_SIZE);
  const plainLength = Math.max(0, end - first * SEGMENT_SIZE);
  return { position: segmentOffset(first), sealedLength: plainLength + count * TAG, plainLength };
}
