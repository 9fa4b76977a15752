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
// operators (`kill -HUP $(cat BASEDIR/lafsd.pid)`) and for service managers. It is removed on a
// clean stop; one left by a killed process is only a stale note, overwritten by the next start.
import Database from 'better-sqlite3';
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
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

/** True when a lafsd process holds the lock of `dir` right now (the lock is not taken). */
export function isLocked(dir: string): boolean {
  try {
    lockDirs([dir], false).release();
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

/**
 * Locks every folder, or none: throws NodeLockedError naming the holder's PID when one is held
 * elsewhere. With `writePid`, each folder gets a PID file naming this process.
 */
export function lockDirs(dirs: readonly string[], writePid = true): NodeLock {
  const held: { dir: string; db: Database.Database }[] = [];
  const release = () => {
    for (const { dir, db } of held.splice(0)) {
      if (writePid && readPidFile(dir) === process.pid) rmSync(join(dir, PID_FILE), { force: true });
      if (db.inTransaction) db.exec('ROLLBACK');
      db.close();
    }
  };
  try {
    for (const dir of dirs) {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      const db = new Database(join(dir, LOCK_FILE), { timeout: 0 });
      try {
        // Takes the file's exclusive lock at once (no waiting), without writing a byte.
        db.exec('BEGIN EXCLUSIVE');
      } catch (err) {
        db.close();
        if ((err as { code?: string }).code === 'SQLITE_BUSY' || (err as { code?: string }).code === 'SQLITE_LOCKED') {
          throw new NodeLockedError(dir, readPidFile(dir));
        }
        throw new Error(`cannot lock ${join(dir, LOCK_FILE)}: ${(err as Error).message}`, { cause: err });
      }
      held.push({ dir, db });
      if (writePid) {
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
