// lafsd's native part of the embedded store (native/seal, built by `npm install`): an upload's
// segments hashed, sealed and written, and stored runs read, verified and decrypted, on libuv's
// thread pool (issue #11). sealer.ts writes through it, objects.ts reads.
import { addonPath, loadAddon } from '../../util/native-addon.js';
import type { ContentHash } from './convergence.js';

/** Where `npm install` builds the addon. */
export const SEAL_ADDON = addonPath('seal', 'seal');

/** One upload inside the addon: its running hash (BLAKE3 or SHA-256), key and temporary file. */
export type NativeUpload = object;
type Done = (err: (Error & { code?: string }) | null) => void;

/** What `open` found: the run is in the buffer, or the file ends early, or a tag failed. */
export const OPENED = 0;
export const TRUNCATED = 1;
export const FORGED = 2;

/** native/seal/seal.c's functions. */
export interface SealAddon {
  begin(path: string, key: Buffer, hash: ContentHash): NativeUpload;
  segment(upload: NativeUpload, buffer: Buffer, length: number, nonce: Buffer, position: number, done: Done): void;
  digest(upload: NativeUpload): Buffer;
  /** BLAKE3 of at most 1 MiB, on the calling thread (small objects). */
  blake3(data: Buffer): Buffer;
  seal(upload: NativeUpload, header: Buffer, done: Done): void;
  abort(upload: NativeUpload, done: Done): void;
  /** AES-256-GCM of at most 1 MiB on the calling thread: ciphertext ‖ tag. */
  gcmSeal(key: Buffer, nonce: Buffer, aad: Buffer, plain: Buffer): Buffer;
  /** The plaintext of ciphertext ‖ tag, or undefined when the tag fails; at most 1 MiB. */
  gcmOpen(key: Buffer, nonce: Buffer, aad: Buffer, sealed: Buffer): Buffer | undefined;
  open(
    fd: number, key: Buffer, first: number, plainLength: number, position: number, segmentSize: number, buffer: Buffer,
    done: (err: (Error & { code?: string }) | null, status: number) => void,
  ): void;
}

let addon: SealAddon | undefined;

/** The addon, or a clear error: without it the embedded store can neither store nor read a file of a segment or more. */
export function sealAddon(path = SEAL_ADDON): SealAddon {
  if (addon && path === SEAL_ADDON) return addon;
  const loaded = loadAddon<SealAddon>(path, 'sealing addon', ['begin', 'segment', 'digest', 'blake3', 'seal', 'abort', 'open', 'gcmSeal', 'gcmOpen']);
  if (path === SEAL_ADDON) addon = loaded;
  return loaded;
}
