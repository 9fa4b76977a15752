// Garbage collection of the embedded store: deletes what no root reaches and the grace period
// no longer protects, while servers and `lafsd put` keep working on the same store.
//
// WHAT IS LIVE. Everything reachable from the roots the caller gives (accounts files, roots
// the account service answered within the retention window, the keep file: src/node/gc-roots.ts),
// following read caps (a read cap reaches the same storage index as its write cap): mutable
// directories (`dirs` rows and their `entries`), mutable files (`mutables` rows) and the object
// of their *current* version only, immutable files (object files, `small_objects` rows), and
// immutable directories (DIR2-CHK objects, whose children are followed; DIR2-LIT caps carry
// theirs). LIT caps have no storage; verify caps and unknown caps are not followed. Each storage
// index is visited once, which ends cycles. Everything else older than the grace period goes.
//
// AGES. `touched` (ms; schema version 2, db.ts) on `dirs` and `mutables` rows, and in
// `object_times` for immutable objects, small or file (one table, one update per link). It is
// set when a thing is created, linked (setChild, moveChild, a mutable file's new version),
// found again by deduplication (small objects: in the link's transaction, staged.ts; object files: a
// claim committed *before* link(2) or reuse, objects.ts), or handed out from outside the store
// (noteInUse: account-service roots, `add-user --root`). Reading does not count. The v1→v2 migration stamps every row with the
// time of the upgrade, and an object file without a time is stamped when gc first sees it:
// either way nothing stored before the upgrade is deleted within a full grace period after.
//
// MARK ON A SNAPSHOT. gc opens its own connection and marks inside one read transaction:
// in WAL mode that is a consistent picture of every directory and version pointer at one
// moment T0, so a move from a not-yet-scanned directory into a scanned one cannot hide an
// entry (it is in one of the two in the snapshot). Object files are immutable, so reading
// DIR2-CHK contents outside the snapshot is safe. The roots are read after the run flag is set
// and the snapshot taken (see ROOTS).
//
// SWEEP UNDER THE LOCK. Candidates are things unreached at T0 whose time was older than the
// cutoff (T0 minus the grace period). Each is deleted in a short BEGIN IMMEDIATE transaction
// that first re-reads its time: a thing touched since is kept. An object file is renamed into
// trash/ *inside* that transaction; files in trash/ are no objects any more and are unlinked
// after the commit (or by the next run). Every transaction is synchronous from BEGIN to COMMIT,
// so a server in the same process never waits for a lock its own process holds.
//
// THE DEDUPLICATION RACE is closed by ordering: an upload whose bytes equal a garbage object
// commits a fresh time for it (the claim, or the upsert) before it can find the object and
// return its cap. SQLite serialises that commit with the sweep's transaction. If the claim
// commits first, the sweep's re-check sees a young object and keeps it. If the sweep commits
// first, the object is already gone (the row deleted; the file renamed away under the lock),
// so the upload finds nothing and stores its own copy. A cap is never returned for data a
// sweep has decided to delete, so it can never be linked to deleted data. A small object is
// the exception that keeps the rule: its cap may be returned before any claim, but the process
// holds its bytes until the link's own transaction stores them again (staged.ts).
//
// LINKS DURING A RUN (the write barrier). Something linked after T0 was not necessarily
// marked. A linked file or object is touched by the link, so the re-check keeps it. A linked
// slot (mutable directory or file) or immutable directory may reach old unmarked things that
// nobody touched, and gc cannot follow it without its cap. So while a run's flag is set
// (gc-run.ts; set in a transaction before the snapshot), every link of such a node also
// records its storage index in gc_relinks, in the link's own transaction. Before each batch,
// under the lock, the sweep reads the new records: if one names a node that existed at T0 and
// was not reached (or an unreached immutable directory), the run stops deleting and says so;
// the next run marks it from its new parent. Slots created after T0 need no such care: all
// they link was noted by those links. Argument: take any path that reaches X when a batch
// commits. If every edge is older than T0, X was marked. Otherwise look at the last new edge
// on the path: its child is a leaf touched at link time (X itself, so young and kept), a node
// marked at T0 (then so is X), a slot created after T0 (then its edges are newer, contradicting
// "last"), or an unreached old node, which stopped the sweep before this batch. So at every
// commit, what a batch deletes is unreachable. This costs one primary-key read per link.
//
// ROOTS (src/node/gc-roots.ts) are read after the flag and the snapshot. Whoever adds a root writes
// its file first and calls noteInUse after (the account-service recorder, `lafsd add-user
// --root`); `lafsd put` and `lafsd mkdir` without a path add caps of things they just created
// (young). So a root added during a run is either read, or its noteInUse is a barrier record.
// Hand edits of the root files during a run are only seen by the next run.
//
// CRASH SAFETY (kill -9 at any moment). The mark only reads. A batch is one SQLite
// transaction: killed before COMMIT, its row deletions roll back; files it already renamed
// stay in trash/, which is safe because the decision was made under the lock and any later
// claim finds no file and republishes; their leftover times are removed as stale by a later
// run, as are trash files. A killed run leaves its flag: the next run sees the pid dead and
// takes over; opening the store clears a dead run's flag meanwhile. Only one run at a time.
// Power loss: a claim commits without its own fsync, but the link that makes its object
// reachable commits with one, which syncs the claim too; a gc batch commits with FULL.
//
// WHAT THE GRACE PERIOD MUST COVER (hence the generous default of 7 days): the time between
// an upload or deduplication and its link, a directory made by `lafsd add-user` until the
// accounts line is written, a file kept open for writing whose unlinked intermediate base
// (random-write mode, vfs/content.ts) may be linked at close, and clock corrections.
//
// DAMAGE. A directory entry, version pointer or immutable directory that exists but cannot be
// read hides what it reaches, so its presence stops all deletion (reported with its path,
// never its cap) unless the caller explicitly accepts that (`ignoreDamaged`).
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { openDatabase, type Db } from './db.js';
import { Marker, type MarkSnapshot } from './gc-mark.js';
import type { GcReport, GcRoot } from './gc-report.js';
import { beginRun, endRun, type RunFlag } from './gc-run.js';
import { Sweeper } from './gc-sweep.js';

export type { GcCounts, GcReport, GcRoot } from './gc-report.js';
export { clearDeadRun, lastCollection } from './gc-run.js';

export interface GcOptions {
  /** The roots, read once the run has begun (see ROOTS above). */
  roots: () => Promise<readonly GcRoot[]>;
  /** Unreachable things younger than this are kept. */
  graceMs: number;
  /** Count what would be deleted; change nothing. */
  dryRun?: boolean;
  /** Delete even when some node could not be read (what it reaches is then lost). */
  ignoreDamaged?: boolean;
  /** Stops the run between two steps (a server shutting down). */
  signal?: AbortSignal;
  /** The time the run counts as started, in ms; tests use it to look past the grace period. */
  now?: number;
}

function snapshotReader(db: Db): MarkSnapshot {
  const dirExists = db.prepare<[Buffer], number>('SELECT 1 FROM dirs WHERE si = ?').pluck();
  const entries = db.prepare<[Buffer], { name_key: Buffer; value: Buffer }>('SELECT name_key, value FROM entries WHERE dir_si = ?');
  const mutable = db.prepare<[Buffer], { seq: number; value: Buffer }>('SELECT seq, value FROM mutables WHERE si = ?');
  const small = db.prepare<[Buffer], Buffer>('SELECT data FROM small_objects WHERE si = ?').pluck();
  return {
    dirExists: (si) => dirExists.get(si) !== undefined,
    entries: (si) => entries.all(si),
    mutable: (si) => mutable.get(si),
    smallObject: (si) => small.get(si),
  };
}

async function emptyTrash(trashDir: string): Promise<void> {
  await fsp.mkdir(trashDir, { recursive: true, mode: 0o700 });
  for (const name of await fsp.readdir(trashDir)) await fsp.rm(join(trashDir, name), { force: true, recursive: true });
}

export async function collectGarbage(paths: { storeDir: string; objectsDir: string }, options: GcOptions): Promise<GcReport> {
  const began = performance.now();
  const startedAt = options.now ?? Date.now();
  const dryRun = options.dryRun ?? false;
  const trashDir = join(paths.storeDir, 'trash');
  // Its own connection: a long read snapshot and short write batches, apart from the store's.
  const db = openDatabase(join(paths.storeDir, 'store.db'));
  let flag: RunFlag | undefined;
  let complete = false;
  try {
    if (!dryRun) {
      await emptyTrash(trashDir);
      flag = beginRun(db);
    }
    const marker = new Marker(snapshotReader(db), paths.objectsDir, options.signal);
    const sweeper = new Sweeper(db, paths.objectsDir, trashDir, marker.live, { cutoff: startedAt - options.graceMs, dryRun, signal: options.signal });
    let roots: readonly GcRoot[] = [];
    let stopped: string | undefined;
    db.exec('BEGIN');
    try {
      db.prepare('SELECT count(*) FROM meta').get(); // the snapshot starts with the first read
      roots = await options.roots();
      await marker.markFrom(roots);
      await sweeper.listRows();
    } catch (err) {
      if (!options.signal?.aborted) throw err;
      stopped = 'interrupted';
    } finally {
      db.exec('COMMIT');
    }
    if (!stopped) {
      await sweeper.listFiles();
      if (marker.problems.length > 0 && !options.ignoreDamaged) {
        stopped = `${marker.problems.length} damaged node(s) could not be read, so what they reach is unknown; nothing was deleted`;
      } else if (!dryRun) {
        stopped = await sweeper.sweep();
      }
    }
    complete = stopped === undefined;
    if (!dryRun) db.pragma('wal_checkpoint(PASSIVE)');
    return {
      dryRun,
      complete,
      ...(stopped ? { stopped } : {}),
      problems: marker.problems,
      startedAt,
      graceMs: options.graceMs,
      durationMs: Math.round(performance.now() - began),
      roots: roots.length,
      reachable: sweeper.reachable,
      freed: sweeper.freed,
      young: sweeper.young,
    };
  } finally {
    try {
      if (flag) endRun(db, flag, complete);
    } finally {
      db.close();
    }
  }
}
