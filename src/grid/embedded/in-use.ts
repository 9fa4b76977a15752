// What every operation that hands out or links an existing node tells the garbage collector
// (gc.ts explains why each piece is needed):
//   - the node's `touched` time becomes now, so it counts as young for a full grace period;
//   - while a gc runs, a linked slot (mutable directory or file) or immutable directory is also
//     recorded in gc_relinks: gc cannot see what such a node reaches, so it stops deleting.
// Callers run `note` inside the same write transaction as the link itself.
import { chkStorageIndex, parseCap, storageIndexOf } from '../../caps/index.js';
import { unpackChildren } from '../dirpack.js';
import { inImmediateTransaction, type Db } from './db.js';

/** Nested immutable directories inside a LIT cap are followed this deep, no further. */
const MAX_LIT_DEPTH = 16;

/** The meta key that says a gc is running (its value: pid and start time). */
export const GC_RUN_KEY = 'gc_run';

export type RelinkKind = 'slot' | 'immutable-dir';

export class InUse {
  private readonly touchDir;
  private readonly touchMutable;
  private readonly touchObject;
  private readonly claim;
  private readonly gcRunning;
  private readonly recordRelink;

  constructor(
    private readonly db: Db,
    /**
     * Stores a staged small object linked now, with its time, and says whether it did
     * (staged.ts); anything else linked only gets its time.
     */
    private readonly storeStaged?: (storageIndex: Buffer, now: number) => boolean,
  ) {
    this.touchDir = db.prepare<[number, Buffer]>('UPDATE dirs SET touched = ? WHERE si = ?');
    this.touchMutable = db.prepare<[number, Buffer]>('UPDATE mutables SET touched = ? WHERE si = ?');
    this.touchObject = db.prepare<[number, Buffer]>('UPDATE object_times SET touched = ? WHERE si = ?');
    this.claim = db.prepare<[Buffer, number]>(
      'INSERT INTO object_times (si, touched) VALUES (?, ?) ON CONFLICT (si) DO UPDATE SET touched = excluded.touched');
    this.gcRunning = db.prepare<[string], number>('SELECT 1 FROM meta WHERE key = ?').pluck();
    this.recordRelink = db.prepare<[Buffer, string]>('INSERT INTO gc_relinks (si, kind) VALUES (?, ?)');
  }

  /** `capText` is being linked (or handed out): call inside that write transaction. */
  note(capText: string, now = Date.now(), depth = 0): void {
    const cap = parseCap(capText);
    switch (cap.type) {
      case 'CHK':
        this.objectLinked(chkStorageIndex(cap.key), now);
        return;
      case 'DIR2-CHK': {
        const si = chkStorageIndex(cap.key);
        this.objectLinked(si, now);
        this.relinked(si, 'immutable-dir');
        return;
      }
      case 'DIR2-LIT': {
        if (depth >= MAX_LIT_DEPTH) return;
        let children;
        try {
          children = unpackChildren(cap.data);
        } catch {
          return; // malformed: nobody can reach anything through it
        }
        for (const child of children) this.note(child.readCap, now, depth + 1);
        return;
      }
      case 'DIR2':
      case 'DIR2-RO':
      case 'DIR2-MDMF':
      case 'DIR2-MDMF-RO':
      case 'SSK':
      case 'SSK-RO':
      case 'MDMF':
      case 'MDMF-RO': {
        const si = storageIndexOf(cap)!;
        (cap.type.startsWith('DIR2') ? this.touchDir : this.touchMutable).run(now, si);
        this.relinked(si, 'slot');
        return;
      }
      default:
        return; // LIT caps have no storage; verify caps and unknown caps reach nothing here
    }
  }

  /**
   * An object file is about to be published or found by deduplication. Committed before the
   * file can be linked or reused, so a gc that still sees the file also sees this time.
   * Committed without waiting for a sync (the store's connection uses group sync): what
   * matters is that other connections see it before the file is found; the link that follows
   * syncs the log, this claim with it.
   */
  claimObject(storageIndex: Buffer, now = Date.now()): void {
    inImmediateTransaction(this.db, () => this.claim.run(storageIndex, now));
  }

  /** The same for a small object, inside the transaction that stores or finds it. */
  claimObjectInTransaction(storageIndex: Buffer, now = Date.now()): void {
    this.claim.run(storageIndex, now);
  }

  private objectLinked(si: Buffer, now: number): void {
    if (!this.storeStaged?.(si, now)) this.touchObject.run(now, si);
  }

  private relinked(si: Buffer, kind: RelinkKind): void {
    if (this.gcRunning.get(GC_RUN_KEY)) this.recordRelink.run(si, kind);
  }
}
