// Directory-link rules both backends share: what a cap says about its node, how link metadata
// changes (Tahoe's dirnode.update_metadata), the replace= rule, and no-write diminishing.
import { diminish, formatCap, isDirectory, isMutable, isReadOnly, parseCap, sizeFromCap, type Cap } from '../caps/index.js';
import { GridError } from './errors.js';
import type { FileFormat, Metadata, MetadataPatch, NodeInfo, ReplaceMode } from './types.js';

function formatOf(cap: Cap): FileFormat | undefined {
  switch (cap.type) {
    case 'LIT':
      return 'LIT';
    case 'CHK':
      return 'CHK';
    case 'SSK':
    case 'SSK-RO':
      return 'SDMF';
    case 'MDMF':
    case 'MDMF-RO':
      return 'MDMF';
    default:
      return undefined;
  }
}

/** Node info derivable from the cap alone (size of mutable files needs the backend). */
export function nodeInfoFromCap(capText: string): NodeInfo {
  const cap = parseCap(capText);
  if (cap.type === 'unknown' || cap.type.endsWith('Verifier')) {
    return { kind: 'unknown', cap: capText, mutable: false, readOnly: true };
  }
  const canonical = formatCap(cap);
  const readCap = formatCap(diminish(cap));
  const readOnly = isReadOnly(cap);
  const info: NodeInfo = {
    kind: isDirectory(cap) ? 'dir' : 'file',
    cap: canonical,
    readCap,
    mutable: isMutable(cap),
    readOnly,
  };
  if (!readOnly) info.writeCap = canonical;
  const size = sizeFromCap(cap);
  if (size !== undefined) info.size = size;
  const format = formatOf(cap);
  if (format) info.format = format;
  return info;
}

/** Seconds since the epoch, as Tahoe stores link times. */
export function nowSeconds(): number {
  return Date.now() / 1000;
}

/**
 * Tahoe's update_metadata: `newUser` (when given) replaces every non-`tahoe` key; the `tahoe`
 * block keeps linkcrtime (or takes it from a legacy `ctime`, else now) and sets linkmotime.
 */
export function updateLinkMetadata(old: Metadata | undefined, newUser: Metadata | undefined, now: number): Metadata {
  const base: Metadata = newUser !== undefined ? { ...newUser } : { ...(old ?? {}) };
  delete base.tahoe;
  const oldTahoe = old?.tahoe ?? {};
  let linkcrtime = oldTahoe.linkcrtime;
  if (linkcrtime === undefined) linkcrtime = old && typeof old.ctime === 'number' ? old.ctime : now;
  base.tahoe = { linkcrtime, linkmotime: now };
  return base;
}

/** Applies a patch (null removes a key) to the user part of `old`; `tahoe` cannot be patched. */
export function patchUserMetadata(old: Metadata, patch: MetadataPatch): Metadata {
  const out: Metadata = { ...old };
  for (const [key, value] of Object.entries(patch)) {
    if (key === 'tahoe') continue;
    if (value === null || value === undefined) delete out[key];
    else out[key] = value;
  }
  return out;
}

/** Throws EXISTS when `replace` forbids replacing an existing child of kind `existingKind`. */
export function checkReplace(replace: ReplaceMode, name: string, existingKind: NodeInfo['kind']): void {
  if (replace === true) return;
  if (replace === 'only-files' && existingKind !== 'dir') return;
  throw new GridError('EXISTS', `There was already a child named "${name}", and it may not be replaced`);
}

/**
 * The caps a directory stores for a link: write cap (if any) and read cap. A `no-write` link to
 * a writable mutable node keeps only the read cap, so the write authority is dropped for good.
 */
export function capsForLink(childCap: string, metadata: Metadata): { writeCap?: string; readCap?: string } {
  const cap = parseCap(childCap);
  if (cap.type === 'unknown') {
    // Unknown caps might carry write authority we cannot recognise: keep them where only
    // holders of the directory's write cap can see them, unless promised read-only.
    return /^(ro|imm)\./.test(cap.text) ? { readCap: cap.text } : { writeCap: cap.text };
  }
  const readCap = formatCap(diminish(cap));
  if (isReadOnly(cap) || metadata['no-write'] === true) return { readCap };
  return { writeCap: formatCap(cap), readCap };
}
