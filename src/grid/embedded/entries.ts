// Sealing of directory entries. A row holds the child's name, read cap and metadata sealed under
// the directory's read key, and the child's write cap sealed a second time under a key only the
// directory's write cap yields: holders of a read-only directory cap see read caps only.
import { GridError } from '../errors.js';
import type { Metadata } from '../types.js';
import { open, seal } from './aead.js';
import type { DirKeys } from './keys.js';

export interface StoredEntry {
  name: string;
  readCap?: string;
  /** Only present when the reader holds the directory's write cap. */
  writeCap?: string;
  /** True when the row carries a write cap (whether or not this reader can open it). */
  hasWriteCap: boolean;
  metadata: Metadata;
}

interface EntryJson {
  n: string;
  r?: string;
  w?: string;
  m: Metadata;
}

function rowAad(keys: DirKeys, nameKey: Buffer): Buffer {
  return Buffer.concat([keys.storageIndex, nameKey]);
}

export function sealEntry(keys: DirKeys, nameKey: Buffer, entry: { name: string; readCap?: string; writeCap?: string; metadata: Metadata }): Buffer {
  const aad = rowAad(keys, nameKey);
  const json: EntryJson = { n: entry.name, m: entry.metadata };
  if (entry.readCap) json.r = entry.readCap;
  if (entry.writeCap) {
    if (!keys.childWriteKey) throw new GridError('NOT_WRITABLE', 'directory is read-only');
    json.w = seal(keys.childWriteKey, Buffer.from(entry.writeCap, 'utf8'), aad).toString('base64');
  }
  return seal(keys.contentKey, Buffer.from(JSON.stringify(json), 'utf8'), aad);
}

export function openEntry(keys: DirKeys, nameKey: Buffer, value: Buffer): StoredEntry {
  const aad = rowAad(keys, nameKey);
  let json: EntryJson;
  try {
    json = JSON.parse(open(keys.contentKey, value, aad, 'directory entry').toString('utf8')) as EntryJson;
  } catch (err) {
    if (err instanceof GridError) throw err;
    throw new GridError('CORRUPT', 'directory entry is damaged');
  }
  const entry: StoredEntry = { name: json.n, metadata: json.m ?? {}, hasWriteCap: json.w !== undefined };
  if (json.r) entry.readCap = json.r;
  if (json.w && keys.childWriteKey) {
    entry.writeCap = open(keys.childWriteKey, Buffer.from(json.w, 'base64'), aad, 'directory entry').toString('utf8');
  }
  return entry;
}
