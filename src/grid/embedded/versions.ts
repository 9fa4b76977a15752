// A mutable file's version pointer: the cap of its current content, sealed under the slot's
// content key and bound to the slot and the version number (so rows cannot be swapped around).
import { open, seal } from './aead.js';
import type { SlotKeys } from './keys.js';

function versionAad(storageIndex: Buffer, seq: number): Buffer {
  const aad = Buffer.alloc(storageIndex.length + 8);
  storageIndex.copy(aad);
  aad.writeBigUInt64BE(BigInt(seq), storageIndex.length);
  return aad;
}

export function sealVersion(keys: SlotKeys, seq: number, contentCap: string): Buffer {
  return seal(keys.contentKey, Buffer.from(contentCap, 'utf8'), versionAad(keys.storageIndex, seq));
}

export function openVersion(keys: SlotKeys, seq: number, value: Buffer): string {
  return open(keys.contentKey, value, versionAad(keys.storageIndex, seq), 'mutable file version').toString('utf8');
}
