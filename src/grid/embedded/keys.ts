// Key schedule of the embedded store. Every key comes from a cap, so the store folder alone
// (without caps) yields no plaintext, names or tree structure. The cap-level derivations
// (write key → read key → storage index) are Tahoe's own; the rest are our tagged hashes.
import { createHmac, randomBytes } from 'node:crypto';
import { parseCap, sskReadKey, sskStorageIndex, taggedHash, type Cap } from '../../caps/index.js';
import { GridError } from '../errors.js';

/** Keys of a mutable slot (directory or mutable file) as far as one cap grants them. */
export interface SlotKeys {
  storageIndex: Buffer;
  readKey: Buffer;
  writeKey?: Buffer;
  /** AES-256-GCM key for the slot's contents (directory entries, or a file's version pointer). */
  contentKey: Buffer;
}

export interface DirKeys extends SlotKeys {
  /** HMAC key that turns a child name into its (unrevealing) row key. */
  nameKey: Buffer;
  /** AES-256-GCM key for children's write caps: only write-cap holders can read them. */
  childWriteKey?: Buffer;
}

/** The fingerprint an embedded slot's caps carry: ties the read key to this store's format. */
export function slotFingerprint(readKey: Buffer): Buffer {
  return taggedHash('lafsd_slot_fingerprint_v1', readKey);
}

type SlotCap = Extract<Cap, { fingerprint: Buffer }>;

function slotKeysOf(cap: SlotCap): SlotKeys {
  let writeKey: Buffer | undefined;
  let readKey: Buffer;
  if ('writeKey' in cap) {
    writeKey = cap.writeKey;
    readKey = sskReadKey(cap.writeKey);
  } else if ('readKey' in cap) {
    readKey = cap.readKey;
  } else {
    throw new GridError('INVALID', 'a verify cap grants no read access');
  }
  if (!slotFingerprint(readKey).equals(cap.fingerprint)) {
    // Well-formed but not made by this store (e.g. a cap from a real Tahoe grid).
    throw new GridError('NOT_FOUND', 'this store holds no object for that cap');
  }
  const keys: SlotKeys = {
    storageIndex: sskStorageIndex(readKey),
    readKey,
    contentKey: taggedHash('lafsd_slot_content_key_v1', readKey),
  };
  if (writeKey) keys.writeKey = writeKey;
  return keys;
}

export function mutableFileKeys(capText: string): SlotKeys {
  const cap = parseCap(capText);
  if (cap.type === 'SSK' || cap.type === 'SSK-RO' || cap.type === 'MDMF' || cap.type === 'MDMF-RO') return slotKeysOf(cap);
  throw new GridError('INVALID', 'not a mutable file cap');
}

/**
 * Directory keys by cap text: deriving them costs several SHA-256d hashes, and every path lookup
 * needs the keys of each directory on the way, so recent ones are kept (their caps are in
 * memory anyway while clients use them). The result is shared: callers must not change it.
 */
const recentDirKeys = new Map<string, DirKeys>();
const RECENT_DIR_KEYS = 1024;

export function dirKeys(capText: string): DirKeys {
  const known = recentDirKeys.get(capText);
  if (known) {
    recentDirKeys.delete(capText); // most recently used last
    recentDirKeys.set(capText, known);
    return known;
  }
  const keys = deriveDirKeys(capText);
  recentDirKeys.set(capText, keys);
  if (recentDirKeys.size > RECENT_DIR_KEYS) recentDirKeys.delete(recentDirKeys.keys().next().value!);
  return keys;
}

function deriveDirKeys(capText: string): DirKeys {
  const cap = parseCap(capText);
  if (cap.type !== 'DIR2' && cap.type !== 'DIR2-RO' && cap.type !== 'DIR2-MDMF' && cap.type !== 'DIR2-MDMF-RO') {
    throw new GridError('INVALID', 'not a mutable directory cap');
  }
  const slot = slotKeysOf(cap);
  const keys: DirKeys = { ...slot, nameKey: taggedHash('lafsd_dir_name_key_v1', slot.readKey) };
  if (slot.writeKey) keys.childWriteKey = taggedHash('lafsd_dir_child_write_key_v1', slot.writeKey);
  return keys;
}

/** A fresh write key and the caps' fingerprint for a new slot. */
export function newSlot(): { writeKey: Buffer; fingerprint: Buffer } {
  const writeKey = randomBytes(16);
  return { writeKey, fingerprint: slotFingerprint(sskReadKey(writeKey)) };
}

/** Row key of a child name: a keyed hash, so names stay secret but lookups are exact. */
export function nameRowKey(keys: DirKeys, nfcName: string): Buffer {
  return createHmac('sha256', keys.nameKey).update(nfcName, 'utf8').digest().subarray(0, 16);
}
