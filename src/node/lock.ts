// One server per node: `lafsd run` holds a lock on BASEDIR and on its embedded store's folder for
// as long as it runs, and writes its PID beside each lock.
//
// The lock is an operating-system file lock, not the existence of a file: an exclusive
// transaction, never committed, on BASEDIR/lafsd.lock, taken through SQLite (which lafsd ships
// for the store) because Node has no flock/fcntl of its own. The kernel drops such a lock when
// its process ends, however it ends (kill -9, out of memory, a crash), so a stale lock cannot
// block a restart and a PID reused by another program cannot pass for a running server. The lock
// file stays empty (the transaction writes nothing), so a crash cannot damage it. It holds across
// containers that share a volume, where PIDs mean nothing.
//
// Other commands (`lafsd put`, `sftp-server --stdio`) share the store with a running server, as
// before, and take no lock. BASEDIR/lafsd.pid names the holder: for the refusal message, for
// operators (`kill -HUP $(cat BASEDIR/lafsd.pid)`) and for service managers. A clean stop
// removes both files, so a Tahoe-LAFS node directory is left as it was; what a killed process
// leaves behind is taken over by the next start.
import Database from 'better-sqlite3';
import { closeSync, existsSync, fstatSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

export const LOCK_FILE = 'lafsd.lock';
export const PID_FILE = 'lafsd.pid';

/** Another process holds the lock of a folder this server needs. */
export class NodeLockedError extends Error {
  constructor(
    readonly dir: string,
    /** PID of the holder, from its PID file, when it could be read. */
    readonly pid: number | undefined,
  ) {
    const who = pid === undefined ? 'another lafsd' : `another lafsd (PID ${pid}, in ${join(dir, PID_FILE)})`;
    super(`${dir} is in use by ${who}: only one \`lafsd run\` may serve a node and its store at a time; stop that one first`);
    this.name = 'NodeLockedError';
  }
}

export interface NodeLock {
  /** The folders locked, in order. */
  readonly dirs: readonly string[];
  /** Drops the locks and removes the PID files. Idempotent. */
  release(): void;
}

/** The PID written in `dir`'s PID file, if it holds one. */
export function readPidFile(dir: string): number | undefined {
  try {
    const pid = Number(readFileSync(join(dir, PID_FILE), 'utf8').trim().split('\n')[0]);
    return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** True when a lafsd process holds the lock of `dir` right now (nothing is taken or changed). */
export function isLocked(dir: string): boolean {
  if (!existsSync(join(dir, LOCK_FILE))) return false;
  try {
    lockDirs([dir], { owner: false }).release();
    return false;
  } catch (err) {
    if (err instanceof NodeLockedError) return true;
    throw err;
  }
}

/**
 * The folders `lafsd run` locks: BASEDIR, and the embedded store's folder, so that two nodes
 * whose `store` names one folder cannot both serve it either.
 */
export function lockedDirs(basedir: string, storeDir: string | undefined): string[] {
  const dirs = [resolve(basedir)];
  if (storeDir !== undefined && resolve(storeDir) !== dirs[0]) dirs.push(resolve(storeDir));
  return dirs;
}

/** Tries this many times when the lock file is replaced under us by a stopping holder. */
const ATTEMPTS = 5;

interface Held {
  dir: string;
  db: Database.Database;
  /** Our own descriptor of the lock file, kept open while the lock is held (see below). */
  fd: number;
}

/**
 * Locks every folder, or none: throws NodeLockedError naming the holder's PID when one is held
 * elsewhere. As the `owner` (default), each folder gets a PID file naming this process, and
 * release() removes it and the lock file, leaving the folder as it was (a Tahoe-LAFS node
 * directory stays untouched); without, nothing is written or removed.
 *
 * Removing the lock file is safe because it happens while the lock is still held, and a new
 * holder checks after locking that the file it locked is the one at the path: if a stopping
 * holder removed it meanwhile, it tries again with the new file.
 */
export function lockDirs(dirs: readonly string[], options: { owner?: boolean } = {}): NodeLock {
  const owner = options.owner ?? true;
  const held: Held[] = [];
  const release = () => {
    for (const h of held.splice(0)) {
      if (owner) {
        if (readPidFile(h.dir) === process.pid) rmSync(join(h.dir, PID_FILE), { force: true });
        rmSync(join(h.dir, LOCK_FILE), { force: true });
      }
      unlock(h);
    }
  };
  try {
    for (const dir of dirs) {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      held.push(lockOne(dir));
      if (owner) {
        const tmp = join(dir, `${PID_FILE}.${process.pid}.tmp`);
        writeFileSync(tmp, `${process.pid}\n`, { mode: 0o644 });
        renameSync(tmp, join(dir, PID_FILE));
      }
    }
  } catch (err) {
    release();
    throw err;
  }
  return { dirs: [...dirs], release };
}

function lockOne(dir: string): Held {
  const path = join(dir, LOCK_FILE);
  for (let attempt = 1; ; attempt++) {
    // Our descriptor pins the file we lock (its inode cannot be reused while open). It stays
    // open until after SQLite's: closing any descriptor of a file drops the process's fcntl
    // locks on it, SQLite's included.
    const fd = openSync(path, 'a', 0o600);
    let db: Database.Database;
    try {
      db = new Database(path, { timeout: 0 });
    } catch (err) {
      closeSync(fd);
      throw new Error(`cannot lock ${path}: ${(err as Error).message}`, { cause: err });
    }
    const h = { dir, db, fd };
    try {
      // No journal file beside it: the transaction writes nothing anyway.
      db.pragma('journal_mode = MEMORY');
      // Takes the file's exclusive lock at once (no waiting), without writing a byte.
      db.exec('BEGIN EXCLUSIVE');
    } catch (err) {
      unlock(h);
      const code = (err as { code?: string }).code;
      if (code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED') throw new NodeLockedError(dir, readPidFile(dir));
      throw new Error(`cannot lock ${path}: ${(err as Error).message}`, { cause: err });
    }
    const now = statSync(path, { throwIfNoEntry: false });
    if (now && now.ino === fstatSync(fd).ino && now.dev === fstatSync(fd).dev) return h;
    unlock(h); // a stopping holder removed that file: lock the one there now
    if (attempt >= ATTEMPTS) throw new Error(`cannot lock ${path}: it keeps being replaced`);
  }
}

function unlock(h: Held): void {
  if (h.db.inTransaction) h.db.exec('ROLLBACK');
  h.db.close();
  closeSync(h.fd);
}
