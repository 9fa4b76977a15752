// Small objects that are finished but not stored yet. A small upload's row is written by the
// transaction that first links its cap (setChild, a mutable file's version, noteInUse), so the
// file costs one write transaction and one sync instead of two transactions (issue #11).
//
// WHY THIS IS SAFE. A staged object's cap is backed by bytes this process holds: reads of it are
// served from here, and whatever links it writes the row (INSERT OR IGNORE) in the link's own
// transaction, with a fresh time for the garbage collector. If a gc swept an older copy of the
// row in between, the link stores it again; a gc never sees the cap linked to nothing.
// Small objects are deterministic (objects.ts: their data key and nonce come from the read key),
// so another process storing the same storage index meanwhile stores the very same bytes. An
// older copy made with a random data key is claimed when found (objects.ts), as before, and is
// what gets staged. Only a different copy written between staging and linking (an older lafsd
// version on the same store) cannot be linked: the link then fails, and nothing else changes.
//
// MEMORY. Linked objects leave at their commit. What is never linked (a link that failed, an
// upload the caller dropped) waits here until the held bytes exceed MAX_STAGED_BYTES, or sync()
// or close(): then it is written as today's unlinked uploads were (a row, claimed, not synced).
import type { Statements } from './db.js';
import { GridError } from '../errors.js';

/** Bytes of staged objects held at most before the oldest are written (~32 small files). */
export const MAX_STAGED_BYTES = 4 * 1024 * 1024;

interface Staged {
  storageIndex: Buffer;
  object: Buffer;
  /** When it was staged: an unlinked object is stored with this time, as if stored then. */
  at: number;
}

export class StagedObjects {
  /** By storage index (latin1 string of its bytes); a Map keeps the order of staging. */
  private readonly held = new Map<string, Staged>();
  private bytes = 0;
  /** Stored by the transaction running now: forgotten when it commits, kept if it rolls back. */
  private readonly storedNow = new Set<string>();
  private storedNowBytes = 0;
  /** Staged bytes found to differ from what another process stored: they go after this transaction. */
  private readonly conflicts = new Set<string>();

  constructor(
    /** The store's statements: its small-object row is read and written through them. */
    private readonly st: Pick<Statements, 'insertSmall' | 'getSmall'>,
    /** Gives an object a fresh time for gc, inside the caller's transaction (InUse). */
    private readonly claim: (storageIndex: Buffer, now: number) => void,
    private readonly maxBytes = MAX_STAGED_BYTES,
  ) {}

  /** The staged bytes of `storageIndex`, if any. */
  get(storageIndex: Buffer): Buffer | undefined {
    return this.held.get(storageIndex.toString('latin1'))?.object;
  }

  /** Holds `object` until something links it; the bytes already held win (they are the same). */
  stage(storageIndex: Buffer, object: Buffer, now = Date.now()): Buffer {
    const key = storageIndex.toString('latin1');
    const held = this.held.get(key);
    if (held) return held.object;
    this.held.set(key, { storageIndex, object, at: now });
    this.bytes += object.length;
    return object;
  }

  /** Whether the held bytes exceed the budget (the caller then writes them: storeOldest). */
  get overBudget(): boolean {
    return this.bytes > this.maxBytes;
  }

  /**
   * Inside a write transaction that links `storageIndex`: stores its staged bytes, if any, with
   * a fresh time. Returns whether it did (else the caller only touches the existing object).
   */
  storeInTransaction(storageIndex: Buffer, now: number): boolean {
    const key = storageIndex.toString('latin1');
    const held = this.held.get(key);
    if (!held) return false;
    if (this.st.insertSmall.run(storageIndex, held.object).changes === 0 && !this.st.getSmall.get(storageIndex)!.equals(held.object)) {
      // Our cap names bytes that can never be stored now: forget them whatever this
      // transaction does, and fail the link rather than link a cap that reads nothing.
      this.conflicts.add(key);
      throw new GridError('UNAVAILABLE', 'another process stored a different copy of this file meanwhile; upload it again');
    }
    this.claim(storageIndex, now);
    if (!this.storedNow.has(key)) {
      this.storedNow.add(key);
      this.storedNowBytes += held.object.length;
    }
    return true;
  }

  /**
   * Inside a write transaction: stores the oldest staged objects beyond the budget, or all of
   * them, unlinked, each with the time it was staged. A copy that conflicts is dropped.
   */
  storeOldestInTransaction(all: boolean): void {
    for (const { storageIndex, at } of this.held.values()) {
      if (!all && this.bytes - this.storedNowBytes <= this.maxBytes) return;
      try {
        this.storeInTransaction(storageIndex, at);
      } catch (err) {
        if (!(err instanceof GridError)) throw err;
      }
    }
  }

  /** The transaction committed: what it stored is in the index now. */
  committed(): void {
    this.dropConflicts();
    for (const key of this.storedNow) {
      const held = this.held.get(key);
      if (!held) continue;
      this.held.delete(key);
      this.bytes -= held.object.length;
    }
    this.rolledBack();
  }

  /** The transaction rolled back: everything it stored is still only here. */
  rolledBack(): void {
    this.dropConflicts();
    this.storedNow.clear();
    this.storedNowBytes = 0;
  }

  private dropConflicts(): void {
    for (const key of this.conflicts) {
      const held = this.held.get(key);
      if (held) this.bytes -= held.object.length;
      this.held.delete(key);
    }
    this.conflicts.clear();
  }

  get size(): number {
    return this.held.size;
  }
}
