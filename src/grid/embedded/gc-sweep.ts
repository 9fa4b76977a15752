// The sweep phase of garbage collection: classify everything stored as reachable, young or a
// candidate, then delete candidates in short write transactions that re-check each one (gc.ts
// gives the argument). A batch is synchronous from BEGIN IMMEDIATE to COMMIT, so a store in the
// same process (a server running gc periodically) never waits on a lock this process holds.
import { existsSync, promises as fsp, renameSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { b32decode } from '../../caps/index.js';
import type { Db } from './db.js';
import { siKey, yieldToEventLoop } from './gc-mark.js';
import { emptyCounts, type GcCounts } from './gc-report.js';
import { objectPath } from './objects.js';

/** A batch ends after this many deletions or this many milliseconds, whichever comes first. */
const BATCH_ITEMS = 256;
const BATCH_MS = 25;
const YIELD_EVERY = 1000;

type Candidate =
  | { kind: 'dir' | 'mutable' | 'small' | 'time'; si: Buffer }
  | { kind: 'file'; si: Buffer; path: string };

export interface SweepOptions {
  /** Unreachable things touched before this (ms) are deleted. */
  cutoff: number;
  dryRun: boolean;
  signal?: AbortSignal;
}

export const RESURRECTED = 'something that was unreachable when this run started was linked again while it ran; '
  + 'what it reaches is unknown, so the rest is left to the next run';

export class Sweeper {
  readonly reachable = emptyCounts();
  readonly freed = emptyCounts();
  readonly young = emptyCounts();
  private readonly candidates: Candidate[] = [];
  /** Directories and mutable files that existed when marking started and were not reached. */
  private readonly unreachedSlots = new Set<string>();
  /** Storage indexes of the objects found (small ones and files). */
  private readonly objects = new Set<string>();
  private lastRelink = 0;
  private readonly q;

  constructor(
    private readonly db: Db,
    private readonly objectsDir: string,
    private readonly trashDir: string,
    private readonly live: ReadonlySet<string>,
    private readonly opts: SweepOptions,
  ) {
    this.q = {
      dirTouched: db.prepare<[Buffer], number | null>('SELECT touched FROM dirs WHERE si = ?').pluck(),
      entryStats: db.prepare<[Buffer], { n: number; bytes: number }>('SELECT count(*) AS n, total(length(value)) AS bytes FROM entries WHERE dir_si = ?'),
      deleteEntries: db.prepare<[Buffer]>('DELETE FROM entries WHERE dir_si = ?'),
      deleteDir: db.prepare<[Buffer]>('DELETE FROM dirs WHERE si = ?'),
      mutableRow: db.prepare<[Buffer], { touched: number | null; size: number }>('SELECT touched, length(value) AS size FROM mutables WHERE si = ?'),
      deleteMutable: db.prepare<[Buffer]>('DELETE FROM mutables WHERE si = ?'),
      smallRow: db.prepare<[Buffer], { touched: number | null; size: number }>(
        'SELECT t.touched AS touched, length(s.data) AS size FROM small_objects s LEFT JOIN object_times t ON t.si = s.si WHERE s.si = ?'),
      smallExists: db.prepare<[Buffer], number>('SELECT 1 FROM small_objects WHERE si = ?').pluck(),
      deleteSmall: db.prepare<[Buffer]>('DELETE FROM small_objects WHERE si = ?'),
      objectTime: db.prepare<[Buffer], number>('SELECT touched FROM object_times WHERE si = ?').pluck(),
      firstSeen: db.prepare<[Buffer, number]>('INSERT OR IGNORE INTO object_times (si, touched) VALUES (?, ?)'),
      deleteObjectTime: db.prepare<[Buffer]>('DELETE FROM object_times WHERE si = ?'),
      relinks: db.prepare<[number], { id: number; si: Buffer; kind: string }>('SELECT id, si, kind FROM gc_relinks WHERE id > ? ORDER BY id'),
    };
  }

  private isOld(touched: number | null | undefined): boolean {
    return touched !== null && touched !== undefined && touched < this.opts.cutoff;
  }

  /** Inside the mark's snapshot: every row of the index is reachable, young or a candidate. */
  async listRows(): Promise<void> {
    let n = 0;
    for (const row of this.db.prepare<[], { si: Buffer; touched: number | null }>('SELECT si, touched FROM dirs').iterate()) {
      if (++n % YIELD_EVERY === 0) await yieldToEventLoop();
      const key = siKey(row.si);
      if (this.live.has(key)) {
        this.reachable.dirs++;
        continue;
      }
      this.unreachedSlots.add(key);
      if (!this.isOld(row.touched)) this.young.dirs++;
      else if (!this.opts.dryRun) this.candidates.push({ kind: 'dir', si: row.si });
      else this.countDir(this.freed, row.si);
    }
    const mutables = this.db.prepare<[], { si: Buffer; touched: number | null; size: number }>('SELECT si, touched, length(value) AS size FROM mutables');
    for (const row of mutables.iterate()) {
      if (++n % YIELD_EVERY === 0) await yieldToEventLoop();
      const key = siKey(row.si);
      if (this.live.has(key)) {
        add(this.reachable, { mutables: 1, bytes: row.size });
        continue;
      }
      this.unreachedSlots.add(key);
      if (!this.isOld(row.touched)) add(this.young, { mutables: 1, bytes: row.size });
      else if (!this.opts.dryRun) this.candidates.push({ kind: 'mutable', si: row.si });
      else add(this.freed, { mutables: 1, bytes: row.size });
    }
    const small = this.db.prepare<[], { si: Buffer; touched: number | null; size: number }>(
      'SELECT s.si AS si, t.touched AS touched, length(s.data) AS size FROM small_objects s LEFT JOIN object_times t ON t.si = s.si');
    for (const row of small.iterate()) {
      if (++n % YIELD_EVERY === 0) await yieldToEventLoop();
      const key = siKey(row.si);
      this.objects.add(key);
      this.classifyObject(key, row.touched, { kind: 'small', si: row.si }, { objects: 1, bytes: row.size });
    }
  }

  /** Reachable, young, or (to re-check and delete) a candidate; an object never seen is stamped then. */
  private classifyObject(key: string, touched: number | null | undefined, candidate: Candidate, counts: Partial<GcCounts>): void {
    if (this.live.has(key)) add(this.reachable, counts);
    else if (this.opts.dryRun) add(this.isOld(touched) ? this.freed : this.young, counts); // never seen counts as new
    else if (touched === undefined || touched === null || this.isOld(touched)) this.candidates.push(candidate);
    else add(this.young, counts);
  }

  private countDir(counts: GcCounts, si: Buffer): void {
    const { n, bytes } = this.q.entryStats.get(si)!;
    add(counts, { dirs: 1, entries: n, bytes });
  }

  /**
   * Lists object files. Needs no snapshot: an object's bytes never change, and a file that
   * appears after marking began was claimed (in-use.ts) just before, so it is young.
   */
  async listFiles(): Promise<void> {
    const prefixes = await fsp.readdir(this.objectsDir).catch(() => [] as string[]);
    for (const prefix of prefixes) {
      const names = await fsp.readdir(join(this.objectsDir, prefix)).catch(() => [] as string[]);
      for (const name of names) {
        const si = b32decode(name);
        const path = join(this.objectsDir, prefix, name);
        if (!si || si.length !== 16 || objectPath(this.objectsDir, si) !== path) continue; // not an object
        const size = await fsp.stat(path).then((s) => s.size, () => undefined);
        if (size === undefined) continue;
        const key = siKey(si);
        this.objects.add(key);
        this.classifyObject(key, this.q.objectTime.get(si), { kind: 'file', si, path }, { objects: 1, bytes: size, fileBytes: size });
      }
    }
    // Times of objects that are gone (a crash between a claim and its file, or mid-batch).
    for (const row of this.db.prepare<[], { si: Buffer; touched: number }>('SELECT si, touched FROM object_times').iterate()) {
      if (!this.objects.has(siKey(row.si)) && this.isOld(row.touched) && !this.opts.dryRun) this.candidates.push({ kind: 'time', si: row.si });
    }
  }

  /** Deletes the candidates; returns why it stopped early, if it did. */
  async sweep(): Promise<string | undefined> {
    let i = 0;
    while (i < this.candidates.length) {
      if (this.opts.signal?.aborted) return 'interrupted';
      const trashed: string[] = [];
      let stopped: string | undefined;
      this.db.exec('BEGIN IMMEDIATE');
      try {
        stopped = this.resurrection();
        const deadline = performance.now() + BATCH_MS;
        for (let n = 0; !stopped && i < this.candidates.length && n < BATCH_ITEMS && performance.now() < deadline; n++) {
          this.delete(this.candidates[i++]!, trashed);
        }
        this.db.exec('COMMIT');
      } catch (err) {
        if (this.db.inTransaction) this.db.exec('ROLLBACK');
        throw err;
      }
      // Renamed files are no object any more; a crash before this leaves them to the next run.
      await Promise.all(trashed.map((p) => fsp.rm(p, { force: true })));
      if (stopped) return stopped;
      await yieldToEventLoop();
    }
    return undefined;
  }

  /** The write barrier's verdict (gc.ts): was an unreached slot or immutable directory linked again? */
  private resurrection(): string | undefined {
    for (const r of this.q.relinks.all(this.lastRelink)) {
      this.lastRelink = r.id;
      const key = siKey(r.si);
      if (this.live.has(key)) continue; // its subtree was marked
      // Slots made after marking began are not in the set: everything they link was noted itself.
      if (r.kind === 'slot' && !this.unreachedSlots.has(key)) continue;
      return RESURRECTED;
    }
    return undefined;
  }

  /** Deletes one candidate if it is still old; under the batch's write lock. */
  private delete(c: Candidate, trashed: string[]): void {
    switch (c.kind) {
      case 'dir': {
        const touched = this.q.dirTouched.get(c.si);
        if (touched === undefined) return;
        if (!this.isOld(touched)) return add(this.young, { dirs: 1 });
        this.countDir(this.freed, c.si);
        this.q.deleteEntries.run(c.si);
        this.q.deleteDir.run(c.si);
        return;
      }
      case 'mutable': {
        const row = this.q.mutableRow.get(c.si);
        if (!row) return;
        if (!this.isOld(row.touched)) return add(this.young, { mutables: 1, bytes: row.size });
        add(this.freed, { mutables: 1, bytes: row.size });
        this.q.deleteMutable.run(c.si);
        return;
      }
      case 'small': {
        const row = this.q.smallRow.get(c.si);
        if (!row) return;
        if (row.touched === null) this.q.firstSeen.run(c.si, Date.now());
        if (!this.isOld(row.touched)) return add(this.young, { objects: 1, bytes: row.size });
        add(this.freed, { objects: 1, bytes: row.size });
        this.q.deleteSmall.run(c.si);
        this.q.deleteObjectTime.run(c.si);
        return;
      }
      case 'file': {
        let size: number;
        try {
          size = statSync(c.path).size;
        } catch {
          return;
        }
        const touched = this.q.objectTime.get(c.si);
        if (touched === undefined) this.q.firstSeen.run(c.si, Date.now());
        if (!this.isOld(touched)) return add(this.young, { objects: 1, bytes: size, fileBytes: size });
        // Renamed under the lock: a claim (in-use.ts) either came first and made it young, or
        // comes after and finds no file, so the uploader publishes its own copy.
        const trash = join(this.trashDir, basename(c.path));
        renameSync(c.path, trash);
        trashed.push(trash);
        this.q.deleteObjectTime.run(c.si);
        add(this.freed, { objects: 1, bytes: size, fileBytes: size });
        return;
      }
      case 'time':
        if (this.isOld(this.q.objectTime.get(c.si)) && !this.q.smallExists.get(c.si) && !existsSync(objectPath(this.objectsDir, c.si))) {
          this.q.deleteObjectTime.run(c.si);
        }
        return;
    }
  }
}

function add(counts: GcCounts, more: Partial<GcCounts>): void {
  for (const [k, v] of Object.entries(more) as [keyof GcCounts, number][]) counts[k] += v;
}
