// Stores as earlier versions of lafsd left them, for the migration tests: the schema version in
// the meta table, and no `content_hash` row (version 4 added it; earlier stores hashed with
// SHA-256).
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { EmbeddedGrid } from '../../src/grid/embedded/index.js';

/** Sets the store's schema version back to `version` (its tables are the caller's business). */
export function markStoreVersion(storeDir: string, version: '1' | '2' | '3', sql = ''): void {
  const db = new Database(join(storeDir, 'store.db'));
  try {
    db.exec(`${sql}
      UPDATE meta SET value = '${version}' WHERE key = 'schema';
      DELETE FROM meta WHERE key = 'content_hash';`);
  } finally {
    db.close();
  }
}

/**
 * An empty store as a version of lafsd before BLAKE3 made it (schema 3), opened by this one:
 * its uploads' caps derive from SHA-256, as that version's did.
 */
export async function openStoreMadeBeforeBlake3(storeDir: string, convergenceSecret: Buffer): Promise<EmbeddedGrid> {
  await (await EmbeddedGrid.open({ storeDir, convergenceSecret })).close();
  markStoreVersion(storeDir, '3');
  return EmbeddedGrid.open({ storeDir, convergenceSecret });
}

export function storeMeta(storeDir: string, key: string): string | undefined {
  const db = new Database(join(storeDir, 'store.db'), { readonly: true });
  try {
    return db.prepare<[string], string>('SELECT value FROM meta WHERE key = ?').pluck().get(key);
  } finally {
    db.close();
  }
}
