// How the embedded store turns a file's bytes into its cap: a hash of the whole plaintext, then a
// tagged hash of the node's convergence secret, the segment size and that digest makes the read
// key, and the read key the storage index. Equal bytes under one secret make one cap, so they
// are stored once.
//
// Which hash is a property of the store, fixed when it is created (db.ts keeps it): BLAKE3 for
// stores made since it was introduced, SHA-256 for older ones, which keep it so that their
// files go on deduplicating with what they already hold. BLAKE3 costs a quarter of SHA-256 per
// byte here (133 against 555 ms per GiB on one core), and the hash is the one part of an upload
// that must run in order (bench/README.md, fifteenth session).
import { hash } from 'node:crypto';
import { chkStorageIndex, taggedHash } from '../../caps/index.js';
import { SEGMENT_SIZE } from './layout.js';
import { sealAddon } from './native.js';

export type ContentHash = 'blake3' | 'sha256';

export const CONTENT_HASHES: readonly ContentHash[] = ['blake3', 'sha256'];

/** What a store's uploads need to compute their caps. */
export interface Convergence {
  secret: Buffer;
  hash: ContentHash;
}

/** Each hash has its own tag, so a digest of one kind can never stand for the other's. */
const KEY_TAGS: Record<ContentHash, string> = {
  sha256: 'lafsd_chk_convergent_key_v1',
  blake3: 'lafsd_chk_convergent_key_blake3_v1',
};

/** The digest of a whole small object (less than one segment), on the calling thread. */
export function contentDigest(kind: ContentHash, plain: Buffer): Buffer {
  return kind === 'blake3' ? sealAddon().blake3(plain) : hash('sha256', plain, 'buffer');
}

/** The convergent read key of content whose digest is `digest`, and its storage index. */
export function convergentKey(convergence: Convergence, digest: Buffer): { readKey: Buffer; storageIndex: Buffer } {
  const params = Buffer.alloc(4);
  params.writeUInt32BE(SEGMENT_SIZE);
  const readKey = taggedHash(KEY_TAGS[convergence.hash], Buffer.concat([convergence.secret, params, digest]), 16);
  return { readKey, storageIndex: chkStorageIndex(readKey) };
}
