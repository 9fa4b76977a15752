// The stand-in node's storage: mutable directories and files in memory, immutable file contents
// in a temp folder (so a 256 MiB upload does not live in the test process's heap). Caps are
// minted in Tahoe's shapes with random keys; immutable caps are convergent (same bytes, same
// cap), as on a Tahoe node with one convergence secret.
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { createWriteStream, promises as fsp } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Transform } from 'node:stream';
import {
  diminish, formatCap, isDirectory, isMutable, isReadOnly, LIT_MAX, literalCap, parseCap, storageIndexOf, verifierOf, type Cap,
} from '../../../src/caps/index.js';
import { unpackChildren } from '../../../src/grid/dirpack.js';
import type { Metadata } from '../../../src/grid/types.js';

export type MutableFormat = 'SDMF' | 'MDMF';

/** A directory entry as Tahoe stores it: write cap (if any), read cap, metadata. */
export interface Link {
  rw?: string;
  ro?: string;
  metadata: Metadata;
}

export interface DirSlot {
  format: MutableFormat;
  children: Map<string, Link>;
}

export interface MutableSlot {
  format: MutableFormat;
  data: Buffer;
}

export interface ImmutableBlob {
  path: string;
  size: number;
}

/** What a cap (or a directory entry's pair of caps) stands for, the way Tahoe's nodemaker sees it. */
export type FakeNode =
  | { kind: 'file'; mutable: false; ro: string; cap: Extract<Cap, { type: 'LIT' | 'CHK' }> }
  | { kind: 'file'; mutable: true; rw?: string; ro: string; si: string; format: MutableFormat }
  | { kind: 'dir'; mutable: true; rw?: string; ro: string; si: string; format: MutableFormat }
  | { kind: 'dir'; mutable: false; ro: string; cap: Extract<Cap, { type: 'DIR2-LIT' | 'DIR2-CHK' }> }
  | { kind: 'unknown'; rw?: string; ro?: string; error?: string };

const hex = (b: Buffer) => b.toString('hex');

/** The node for a (write cap, read cap) pair, as Tahoe's create_node_from_uri(writecap, readcap). */
export function nodeFromCaps(rw: string | undefined, ro: string | undefined, name = '<unknown name>'): FakeNode {
  const known = (text: string | undefined) => (text ? parseCap(text) : undefined);
  const w = known(rw);
  const r = known(ro);
  const cap = w && w.type !== 'unknown' ? w : r && r.type !== 'unknown' ? r : undefined;
  if (!cap) return unknownNode(rw, ro, name);
  const text = formatCap(cap);
  const readText = formatCap(diminish(cap));
  if (cap.type === 'LIT' || cap.type === 'CHK') return { kind: 'file', mutable: false, ro: text, cap };
  if (cap.type === 'DIR2-LIT' || cap.type === 'DIR2-CHK') return { kind: 'dir', mutable: false, ro: text, cap };
  if (!isMutable(cap) || cap.type.endsWith('Verifier')) return unknownNode(rw, ro, name);
  const si = hex(storageIndexOf(cap)!);
  const format: MutableFormat = cap.type.includes('MDMF') ? 'MDMF' : 'SDMF';
  const base = { ro: readText, si, format, ...(isReadOnly(cap) ? {} : { rw: text }) };
  return isDirectory(cap) ? { kind: 'dir', mutable: true, ...base } : { kind: 'file', mutable: true, ...base };
}

/**
 * Tahoe's UnknownNode rules for a mutable directory: an unprefixed cap in the write slot alone
 * is refused (it might be a write cap nobody can diminish); a read slot gets the `ro.` prefix.
 */
function unknownNode(rw: string | undefined, ro: string | undefined, name: string): FakeNode {
  if (rw && !ro) {
    if (!rw.startsWith('ro.') && !rw.startsWith('imm.')) {
      return { kind: 'unknown', error: `MustNotBeUnknownRWError: an operation to add a child named '${name}' to a directory was given an unknown cap in a write slot.` };
    }
    return { kind: 'unknown', ro: rw };
  }
  const out: FakeNode = { kind: 'unknown' };
  if (rw) out.rw = rw;
  if (ro) out.ro = ro.startsWith('ro.') || ro.startsWith('imm.') ? ro : `ro.${ro}`;
  return out;
}

/** The same node seen through a read-only link (Tahoe's create_readonly_node). */
export function readonlyNode(node: FakeNode): FakeNode {
  if (node.kind === 'unknown') return node.ro ? { kind: 'unknown', ro: node.ro } : { kind: 'unknown' };
  if ('rw' in node && node.rw) {
    const { rw: _rw, ...rest } = node;
    return rest as FakeNode;
  }
  return node;
}

export function writeCapOf(node: FakeNode): string | undefined {
  return 'rw' in node ? node.rw : undefined;
}

export function readCapOfNode(node: FakeNode): string | undefined {
  return node.ro;
}

export function verifyCapOf(node: FakeNode): string | undefined {
  if (node.kind === 'unknown' || !node.ro) return undefined;
  const v = verifierOf(parseCap(node.ro));
  return v ? formatCap(v) : undefined;
}

export function linkFor(node: FakeNode, metadata: Metadata): Link {
  const link: Link = { metadata };
  const rw = writeCapOf(node);
  if (rw) link.rw = rw;
  if (node.ro) link.ro = node.ro;
  return link;
}

export class FakeState {
  readonly dirs = new Map<string, DirSlot>();
  readonly mutables = new Map<string, MutableSlot>();
  readonly immutables = new Map<string, ImmutableBlob>();
  private readonly convergence = randomBytes(32);
  private tmpCounter = 0;

  constructor(readonly folder: string) {}

  private mint(type: 'SSK' | 'MDMF' | 'DIR2' | 'DIR2-MDMF'): { cap: string; si: string } {
    const cap: Cap = { type, writeKey: randomBytes(16), fingerprint: randomBytes(32) };
    return { cap: formatCap(cap), si: hex(storageIndexOf(cap)!) };
  }

  newDirectory(format: MutableFormat = 'SDMF', children = new Map<string, Link>()): string {
    const { cap, si } = this.mint(format === 'MDMF' ? 'DIR2-MDMF' : 'DIR2');
    this.dirs.set(si, { format, children });
    return cap;
  }

  newMutableFile(format: MutableFormat, data: Buffer): string {
    const { cap, si } = this.mint(format === 'MDMF' ? 'MDMF' : 'SSK');
    this.mutables.set(si, { format, data });
    return cap;
  }

  /** Streams bytes into the immutable store and returns their cap (LIT for up to 55 bytes). */
  async storeImmutable(source: Readable | Buffer): Promise<string> {
    const tmp = join(this.folder, `upload-${process.pid}-${++this.tmpCounter}-${randomBytes(4).toString('hex')}`);
    const hash = createHash('sha256');
    let size = 0;
    let head = Buffer.alloc(0);
    const tap = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        hash.update(chunk);
        if (size <= LIT_MAX) head = Buffer.concat([head, chunk.subarray(0, LIT_MAX + 1 - size)]);
        size += chunk.length;
        cb(null, chunk);
      },
    });
    try {
      if (Buffer.isBuffer(source)) {
        tap.end(source);
        await pipeline(tap, createWriteStream(tmp));
      } else {
        await pipeline(source, tap, createWriteStream(tmp));
      }
    } catch (err) {
      await fsp.rm(tmp, { force: true });
      throw err;
    }
    if (size <= LIT_MAX) {
      await fsp.rm(tmp, { force: true });
      return literalCap(head.subarray(0, size));
    }
    const digest = hash.digest();
    const key = createHmac('sha256', this.convergence).update(digest).digest().subarray(0, 16);
    const uebHash = createHash('sha256').update(key).update(digest).digest();
    const cap: Cap = { type: 'CHK', key, uebHash, k: 2, n: 3, size };
    const si = hex(storageIndexOf(cap)!);
    const path = join(this.folder, `chk-${si}`);
    if (this.immutables.has(si)) await fsp.rm(tmp, { force: true });
    else await fsp.rename(tmp, path);
    this.immutables.set(si, { path, size });
    return formatCap(cap);
  }

  /** Children of an immutable directory (its packed bytes are in the cap or a stored file). */
  async immutableChildren(cap: Extract<Cap, { type: 'DIR2-LIT' | 'DIR2-CHK' }>): Promise<Map<string, Link> | undefined> {
    let packed: Buffer;
    if (cap.type === 'DIR2-LIT') packed = cap.data;
    else {
      const blob = this.immutables.get(hex(storageIndexOf(cap)!));
      if (!blob) return undefined;
      packed = await fsp.readFile(blob.path);
    }
    const out = new Map<string, Link>();
    for (const c of unpackChildren(packed)) out.set(c.name, { ro: c.readCap, metadata: c.metadata });
    return out;
  }

  async storeImmutableDirectory(packed: Buffer): Promise<string> {
    const fileCap = parseCap(await this.storeImmutable(packed));
    if (fileCap.type === 'LIT') return `URI:DIR2-LIT:${formatCap(fileCap).slice('URI:LIT:'.length)}`;
    if (fileCap.type !== 'CHK') throw new Error('unexpected cap');
    return formatCap({ ...fileCap, type: 'DIR2-CHK' });
  }
}
