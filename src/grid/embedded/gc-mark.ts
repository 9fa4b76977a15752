// The mark phase of garbage collection: everything reachable from the roots, read from one
// consistent snapshot of the index (gc.ts says why a snapshot). Read caps reach the same
// storage as write caps, so only read caps are followed; each storage index is visited once,
// which also ends cycles (a directory that links itself or an ancestor).
import { existsSync } from 'node:fs';
import { chkStorageIndex, parseCap, type Cap, type ChkFields } from '../../caps/index.js';
import { unpackChildren } from '../dirpack.js';
import { GridError } from '../errors.js';
import { openEntry } from './entries.js';
import type { GcRoot } from './gc-report.js';
import { dirKeys, mutableFileKeys } from './keys.js';
import { ObjectReader, objectPath } from './objects.js';
import { openVersion } from './versions.js';

/** Largest immutable directory read (the store reads no larger ones either). */
const MAX_IMMUTABLE_DIR = 64 * 1024 * 1024;
/** Nodes visited between two turns of the event loop (a server may share the process). */
const YIELD_EVERY = 256;

/** Reads of the index, all from the same snapshot. */
export interface MarkSnapshot {
  dirExists(si: Buffer): boolean;
  entries(si: Buffer): { name_key: Buffer; value: Buffer }[];
  mutable(si: Buffer): { seq: number; value: Buffer } | undefined;
  smallObject(si: Buffer): Buffer | undefined;
}

/** The key of a storage index in the live set. */
export function siKey(si: Buffer): string {
  return si.toString('latin1');
}

export const yieldToEventLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

interface Pending {
  cap: string;
  where: string;
}

export class Marker {
  /** Storage indexes of every reachable directory, mutable file and object. */
  readonly live = new Set<string>();
  /** Nodes that exist but could not be read: what they reach is unknown. */
  readonly problems: string[] = [];
  private visits = 0;

  constructor(
    private readonly snapshot: MarkSnapshot,
    private readonly objectsDir: string,
    private readonly signal?: AbortSignal,
  ) {}

  async markFrom(roots: readonly GcRoot[]): Promise<void> {
    const stack: Pending[] = roots.map((r) => ({ cap: r.cap, where: r.where }));
    while (stack.length > 0) {
      const next = stack.pop()!;
      await this.visit(next.cap, next.where, stack);
      if (++this.visits % YIELD_EVERY === 0) {
        await yieldToEventLoop();
        this.signal?.throwIfAborted();
      }
    }
  }

  /** True the first time a storage index is marked. */
  private first(si: Buffer): boolean {
    const key = siKey(si);
    if (this.live.has(key)) return false;
    this.live.add(key);
    return true;
  }

  private problem(where: string, what: string): void {
    this.problems.push(`${what}: ${where}`); // the path last, so redacting a cap-like name keeps the sentence
  }

  private async visit(capText: string, where: string, stack: Pending[]): Promise<void> {
    const cap = parseCap(capText);
    switch (cap.type) {
      case 'CHK':
        this.first(chkStorageIndex(cap.key));
        return;
      case 'DIR2-LIT':
        try {
          this.pushChildren(unpackChildren(cap.data), where, stack);
        } catch {
          // Malformed: nobody can list it, so it reaches nothing.
        }
        return;
      case 'DIR2-CHK': {
        const si = chkStorageIndex(cap.key);
        if (!this.first(si)) return;
        const packed = await this.readImmutableDir(cap, si, where);
        if (!packed) return;
        try {
          this.pushChildren(unpackChildren(packed), where, stack);
        } catch {
          this.problem(where, 'an immutable directory cannot be read');
        }
        return;
      }
      case 'DIR2':
      case 'DIR2-RO':
      case 'DIR2-MDMF':
      case 'DIR2-MDMF-RO':
        this.visitDir(capText, where, stack);
        return;
      case 'SSK':
      case 'SSK-RO':
      case 'MDMF':
      case 'MDMF-RO':
        this.visitMutable(capText, where, stack);
        return;
      default:
        return; // LIT: no storage. Verify caps and unknown caps reach nothing we can read.
    }
  }

  private pushChildren(children: { name: string; readCap: string }[], where: string, stack: Pending[]): void {
    for (const c of children) stack.push({ cap: c.readCap, where: `${where}/${c.name}` });
  }

  private visitDir(capText: string, where: string, stack: Pending[]): void {
    let keys;
    try {
      keys = dirKeys(capText);
    } catch {
      return; // not made by this store (e.g. a cap of a Tahoe grid)
    }
    if (!this.first(keys.storageIndex) || !this.snapshot.dirExists(keys.storageIndex)) return;
    for (const row of this.snapshot.entries(keys.storageIndex)) {
      let entry;
      try {
        entry = openEntry(keys, row.name_key, row.value);
      } catch {
        this.problem(where, 'a directory entry cannot be read');
        continue;
      }
      // Unknown caps that might be write caps are stored without a read cap: they reach nothing here.
      if (entry.readCap) stack.push({ cap: entry.readCap, where: `${where}/${entry.name}` });
    }
  }

  private visitMutable(capText: string, where: string, stack: Pending[]): void {
    let keys;
    try {
      keys = mutableFileKeys(capText);
    } catch {
      return;
    }
    if (!this.first(keys.storageIndex)) return;
    const row = this.snapshot.mutable(keys.storageIndex);
    if (!row) return;
    try {
      // Only the current version: older ones are garbage.
      stack.push({ cap: openVersion(keys, row.seq, row.value), where });
    } catch {
      this.problem(where, 'the current version of a mutable file cannot be read');
    }
  }

  /** The packed children of an immutable directory; undefined when this store does not hold it. */
  private async readImmutableDir(cap: Extract<Cap, { type: 'DIR2-CHK' }>, si: Buffer, where: string): Promise<Buffer | undefined> {
    const row = this.snapshot.smallObject(si);
    if (!row && !existsSync(objectPath(this.objectsDir, si))) return undefined;
    if (cap.size > MAX_IMMUTABLE_DIR) {
      this.problem(where, 'an immutable directory is too large to read');
      return undefined;
    }
    const { type: _type, ...fields } = cap;
    const small = {
      get: () => row,
      stage: () => {
        throw new GridError('UNSUPPORTED', 'gc does not store objects');
      },
    };
    try {
      const reader = await ObjectReader.open(this.objectsDir, fields as ChkFields, small);
      try {
        return await reader.read(0, reader.size);
      } finally {
        await reader.close();
      }
    } catch {
      this.problem(where, 'an immutable directory cannot be read');
      return undefined;
    }
  }
}
