// The bookkeeping of a garbage collection in the store's meta table: one run at a time, the
// flag that turns on the write barrier (in-use.ts) while it runs, and when the last one finished.
import { GridError } from '../errors.js';
import { processAlive } from '../../util/process.js';
import type { Db } from './db.js';
import { GC_RUN_KEY } from './in-use.js';

const LAST_RUN_KEY = 'gc_last';
/** A run flag older than this is stale even if its pid is alive again (pid reuse after kill -9). */
const STALE_RUN_MS = 24 * 3_600_000;

export interface RunFlag {
  pid: number;
  startedAt: number;
}

function getMeta(db: Db, key: string): string | undefined {
  return db.prepare<[string], string>('SELECT value FROM meta WHERE key = ?').pluck().get(key);
}

function setMeta(db: Db, key: string, value: string): void {
  db.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value').run(key, value);
}

/**
 * Starts a run: refuses while another one is alive, then (in one transaction) sets the flag,
 * forgets an earlier run's relinks and stamps rows that have no time yet (first seen: now).
 */
export function beginRun(db: Db): RunFlag {
  const flag: RunFlag = { pid: process.pid, startedAt: Date.now() };
  db.transaction(() => {
    const text = getMeta(db, GC_RUN_KEY);
    if (text !== undefined) {
      const other = JSON.parse(text) as RunFlag;
      if (processAlive(other.pid) && Date.now() - other.startedAt < STALE_RUN_MS) {
        throw new GridError('UNAVAILABLE', `another garbage collection of this store is running (pid ${other.pid})`);
      }
    }
    setMeta(db, GC_RUN_KEY, JSON.stringify(flag));
    db.exec('DELETE FROM gc_relinks');
    const now = Date.now();
    for (const table of ['dirs', 'mutables']) db.prepare(`UPDATE ${table} SET touched = ? WHERE touched IS NULL`).run(now);
  }).immediate();
  return flag;
}

/**
 * Opening a store clears the flag of a run whose process is gone (kill -9), so links stop
 * recording relinks that no run will read. A live run's flag is left alone.
 */
export function clearDeadRun(db: Db): void {
  const text = getMeta(db, GC_RUN_KEY);
  if (text === undefined || processAlive((JSON.parse(text) as RunFlag).pid)) return;
  db.transaction(() => {
    if (getMeta(db, GC_RUN_KEY) !== text) return;
    db.prepare('DELETE FROM meta WHERE key = ?').run(GC_RUN_KEY);
    db.exec('DELETE FROM gc_relinks');
  }).immediate();
}

/** Ends a run (unless another one has taken over a flag it thought stale). */
export function endRun(db: Db, flag: RunFlag, complete: boolean): void {
  db.transaction(() => {
    const text = getMeta(db, GC_RUN_KEY);
    if (text !== undefined && text === JSON.stringify(flag)) {
      db.prepare('DELETE FROM meta WHERE key = ?').run(GC_RUN_KEY);
      db.exec('DELETE FROM gc_relinks');
    }
    if (complete) setMeta(db, LAST_RUN_KEY, JSON.stringify({ startedAt: flag.startedAt, finishedAt: Date.now() }));
  }).immediate();
}

export function lastCollection(db: Db): { startedAt: number; finishedAt: number } | undefined {
  const text = getMeta(db, LAST_RUN_KEY);
  return text === undefined ? undefined : (JSON.parse(text) as { startedAt: number; finishedAt: number });
}
