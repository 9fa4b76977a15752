// Damage done to an embedded store on purpose, for the tests of what reading it then does.
import Database from 'better-sqlite3';
import { dirKeys } from '../../src/grid/embedded/keys.js';

/** Flips `mask` in byte `at` of the sealed value of the first entry of directory `dirCap`. */
export function flipEntryByte(dbPath: string, dirCap: string, at: number, mask = 1): void {
  const db = new Database(dbPath);
  try {
    const { storageIndex } = dirKeys(dirCap);
    const row = db.prepare('SELECT name_key, value FROM entries WHERE dir_si = ?').get(storageIndex) as { name_key: Buffer; value: Buffer };
    const damaged = Buffer.from(row.value);
    damaged[at]! ^= mask;
    db.prepare('UPDATE entries SET value = ? WHERE dir_si = ? AND name_key = ?').run(damaged, storageIndex, row.name_key);
  } finally {
    db.close();
  }
}
