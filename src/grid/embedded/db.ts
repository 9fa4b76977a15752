// The embedded store's index: directory entries and mutable-file version pointers in SQLite.
//
// Why SQLite (better-sqlite3, WAL, synchronous=FULL): one row per directory entry in a B-tree
// keyed by (directory, keyed hash of the name) makes an update cost O(log n) — the same in a
// directory of 10 or 100,000 entries — and transactions give atomic multi-row changes (a move
// between directories is one transaction). Measured on this machine: 2,830 single-row commits/s
// with synchronous=FULL (an fsync of the WAL per commit, so an acknowledged change survives
// power loss as well as kill -9), 51,000/s with NORMAL. FULL's 0.35 ms per change is far below
// what an SFTP round trip costs, so durability wins. Plain files with our own log would need
// the same fsyncs plus our own crash recovery; LMDB would add a second native dependency for
// no measured gain at these rates.
import Database from 'better-sqlite3';
import { CONTENT_HASHES, type ContentHash } from './convergence.js';

const SCHEMA_VERSION = '4';

/** The page cache of each connection, in SQLite's unit for a size (negative: KiB). */
export const CACHE_SIZE_KIB = -2000;

export type Db = Database.Database;

type Runner = <T>(fn: () => T) => T;
const immediateRunners = new WeakMap<Db, Runner>();

/**
 * Runs `fn` in a BEGIN IMMEDIATE transaction of `db` (a savepoint when one is open), as
 * `db.transaction(fn).immediate()` does, with one runner per connection: better-sqlite3's
 * transaction() builds four wrappers and defines twenty properties on every call (5.9 µs
 * against 1.5 µs a write, and ~2.7 KB of garbage, measured here), and every upload commits.
 */
export function inImmediateTransaction<T>(db: Db, fn: () => T): T {
  let run = immediateRunners.get(db);
  if (!run) {
    run = db.transaction((f: () => unknown) => f()).immediate as Runner;
    immediateRunners.set(db, run);
  }
  return run(fn);
}

/**
 * Opens the index. `groupSync`: commits are only written to the log, and the caller makes them
 * durable with a batched fdatasync of the log before it acknowledges them (group-sync.ts);
 * otherwise every commit syncs itself (synchronous = FULL).
 */
export function openDatabase(path: string, options: { groupSync?: boolean } = {}): Db {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma(options.groupSync ? 'synchronous = NORMAL' : 'synchronous = FULL');
  // Several processes may share a store (the server and `lafsd put`): wait for locks.
  db.pragma('busy_timeout = 10000');
  // SQLite's own default page cache (2 MiB), where better-sqlite3 builds with 16 MB: small files'
  // rows filled it, and it stayed resident (issue #11). With 2 MiB, 8 clients × 1,000 small
  // uploads then idle left 86-88 MiB RSS instead of 94-95, and the 8 × 256 MiB bursts after
  // them peaked 3-7 MiB lower; 4 × 1,000 small files up and down over one client (3
  // interleaved pairs) and 100,000 inserts into one directory took as long (the OS page cache
  // holds the file's pages; the B-trees' interior pages stay in the 2 MiB).
  db.pragma(`cache_size = ${CACHE_SIZE_KIB}`);
  db.exec(`
    CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    -- One row per mutable directory (existence only; its storage index reveals nothing).
    CREATE TABLE IF NOT EXISTS dirs (si BLOB PRIMARY KEY) WITHOUT ROWID;
    -- One row per link: value is sealed under the directory's keys, bound to (dir, name_key).
    CREATE TABLE IF NOT EXISTS entries (
      dir_si BLOB NOT NULL, name_key BLOB NOT NULL, value BLOB NOT NULL,
      PRIMARY KEY (dir_si, name_key)) WITHOUT ROWID;
    -- One row per mutable file: the sealed cap of its current content, and a version counter.
    CREATE TABLE IF NOT EXISTS mutables (si BLOB PRIMARY KEY, seq INTEGER NOT NULL, value BLOB NOT NULL) WITHOUT ROWID;
    -- Immutable objects smaller than one segment (same bytes as an object file). Measured: a
    -- 4 KiB file costs 1.4 ms as a file (fsync, link, directory fsync) and ~0.4 ms as a row.
    -- A rowid table, not WITHOUT ROWID (schema version 3): see migrateToVersion3.
    CREATE TABLE IF NOT EXISTS small_objects (id INTEGER PRIMARY KEY, si BLOB NOT NULL UNIQUE, data BLOB NOT NULL);
  `);
  // A new store is created as version 1 and migrated like an existing one: one code path.
  db.transaction(() => {
    let version = db.prepare('SELECT value FROM meta WHERE key = ?').pluck().get('schema') as string | undefined;
    const created = version === undefined;
    if (version === undefined) db.prepare('INSERT INTO meta (key, value) VALUES (?, ?)').run('schema', (version = '1'));
    if (version === '1') version = migrateToVersion2(db, Date.now());
    if (version === '2') version = migrateToVersion3(db);
    if (version === '3') version = migrateToVersion4(db, created ? 'blake3' : 'sha256');
    if (version !== SCHEMA_VERSION) throw new Error(`store schema version ${version} is not supported (expected ${SCHEMA_VERSION})`);
  }).immediate();
  return db;
}

/**
 * Version 2 (garbage collection, see gc.ts): `touched`, the time in ms a stored thing was last
 * created or referenced. What exists now counts as new, so nothing is collected before a full
 * grace period after the upgrade; object files get their time when gc first sees them.
 */
function migrateToVersion2(db: Db, now: number): string {
  db.exec(`
    ALTER TABLE dirs ADD COLUMN touched INTEGER;
    ALTER TABLE mutables ADD COLUMN touched INTEGER;
    -- Immutable objects (files and small_objects rows) by storage index; no row: never seen.
    CREATE TABLE object_times (si BLOB PRIMARY KEY, touched INTEGER NOT NULL) WITHOUT ROWID;
    -- Slots and immutable directories linked while a gc runs (its write barrier; see gc.ts).
    CREATE TABLE gc_relinks (id INTEGER PRIMARY KEY, si BLOB NOT NULL, kind TEXT NOT NULL);
  `);
  for (const table of ['dirs', 'mutables']) db.prepare(`UPDATE ${table} SET touched = ?`).run(now);
  db.prepare('INSERT INTO object_times (si, touched) SELECT si, ? FROM small_objects').run(now);
  db.prepare('UPDATE meta SET value = ? WHERE key = ?').run('2', 'schema');
  return '2';
}

/**
 * Version 3: `small_objects` becomes a rowid table with a unique index on the storage index.
 * As a WITHOUT ROWID table its rows (4 KiB and more) spilled into overflow pages of an index
 * B-tree, whose every key comparison reads the whole row: measured with 6,000 rows of 4 KiB, a
 * lookup cost 14.5 µs when absent and 20.7 µs when present, against 2.6 and 7.9 µs now, and an
 * insert's transaction 111 against 85 µs. Every small upload looks its object up once and
 * every small download reads it. The rows are copied once, inside the opening transaction.
 */
function migrateToVersion3(db: Db): string {
  db.exec(`
    CREATE TABLE small_objects_v3 (id INTEGER PRIMARY KEY, si BLOB NOT NULL UNIQUE, data BLOB NOT NULL);
    INSERT INTO small_objects_v3 (si, data) SELECT si, data FROM small_objects;
    DROP TABLE small_objects;
    ALTER TABLE small_objects_v3 RENAME TO small_objects;
  `);
  db.prepare('UPDATE meta SET value = ? WHERE key = ?').run('3', 'schema');
  return '3';
}

/**
 * Version 4: the store names the hash its caps derive from (convergence.ts). A new store uses
 * BLAKE3; an existing one keeps SHA-256, which its caps were made with, so the same bytes
 * uploaded again still find the copy it holds. Older versions of lafsd refuse a version-4
 * store rather than hash its uploads the other way.
 */
function migrateToVersion4(db: Db, hash: ContentHash): string {
  db.prepare('INSERT INTO meta (key, value) VALUES (?, ?)').run(CONTENT_HASH_KEY, hash);
  db.prepare('UPDATE meta SET value = ? WHERE key = ?').run('4', 'schema');
  return '4';
}

const CONTENT_HASH_KEY = 'content_hash';

/** The hash this store's caps derive from (version 4's meta row). */
export function contentHashOf(db: Db): ContentHash {
  const value = db.prepare<[string], string>('SELECT value FROM meta WHERE key = ?').pluck().get(CONTENT_HASH_KEY);
  const known = CONTENT_HASHES.find((h) => h === value);
  if (!known) throw new Error(`the store's content hash ${JSON.stringify(value ?? null)} is not supported (expected one of ${CONTENT_HASHES.join(', ')})`);
  return known;
}

/** Prepared statements, compiled once per database. */
export class Statements {
  readonly dirExists;
  readonly insertDir;
  readonly getEntry;
  readonly putEntry;
  readonly deleteEntry;
  readonly listEntries;
  readonly anyEntry;
  readonly getMutable;
  readonly insertMutable;
  readonly updateMutable;
  readonly getSmall;
  readonly insertSmall;

  constructor(db: Db) {
    this.dirExists = db.prepare<[Buffer], number>('SELECT 1 FROM dirs WHERE si = ?').pluck();
    this.insertDir = db.prepare<[Buffer, number]>('INSERT INTO dirs (si, touched) VALUES (?, ?)');
    this.getEntry = db.prepare<[Buffer, Buffer], Buffer>('SELECT value FROM entries WHERE dir_si = ? AND name_key = ?').pluck();
    this.putEntry = db.prepare<[Buffer, Buffer, Buffer]>('INSERT OR REPLACE INTO entries (dir_si, name_key, value) VALUES (?, ?, ?)');
    this.deleteEntry = db.prepare<[Buffer, Buffer]>('DELETE FROM entries WHERE dir_si = ? AND name_key = ?');
    this.listEntries = db.prepare<[Buffer], { name_key: Buffer; value: Buffer }>('SELECT name_key, value FROM entries WHERE dir_si = ?');
    this.anyEntry = db.prepare<[Buffer], number>('SELECT 1 FROM entries WHERE dir_si = ? LIMIT 1').pluck();
    this.getMutable = db.prepare<[Buffer], { seq: number; value: Buffer }>('SELECT seq, value FROM mutables WHERE si = ?');
    this.insertMutable = db.prepare<[Buffer, number, Buffer, number]>('INSERT INTO mutables (si, seq, value, touched) VALUES (?, ?, ?, ?)');
    this.updateMutable = db.prepare<[number, Buffer, Buffer]>('UPDATE mutables SET seq = ?, value = ? WHERE si = ?');
    this.getSmall = db.prepare<[Buffer], Buffer>('SELECT data FROM small_objects WHERE si = ?').pluck();
    this.insertSmall = db.prepare<[Buffer, Buffer]>('INSERT OR IGNORE INTO small_objects (si, data) VALUES (?, ?)');
  }
}
