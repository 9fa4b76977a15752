// Answers to the index's read-only lookups (what is this child of this directory), kept while
// the database is unchanged. Every path an SFTP or FTP client names is resolved one
// directory at a time, and clients name the same paths again and again: OpenSSH's `get` of one
// file asks LSTAT, STAT and OPEN of it, each a lookup of every directory on the way. A lookup
// from the database costs a keyed hash of the name, two queries and an entry to decrypt
// (25-45 µs here); from this cache, one query that tells whether anything changed (3-10 µs).
// Uploads gain nothing (each commit changes the index) and pay that query: measured in
// bench/README.md.
//
// Nothing is trusted to announce its writes: before each answer the cache asks SQLite for this
// connection's change count (`total_changes()`, which moves with every row this process writes,
// whichever code path wrote it, even in a transaction later rolled back) and `data_version`
// (which moves when another connection commits: `lafsd put` or `lafsd gc` in another process),
// and forgets everything when either moved. So it can never answer with something older than
// the last commit it could see.
import type { Db } from './db.js';

export class IndexReadCache {
  private readonly probe;
  private seen = '';
  private readonly answers = new Map<string, unknown>();

  constructor(
    db: Db,
    /** Answers kept at most (least recently used go first). */
    private readonly max = 4096,
  ) {
    this.probe = db.prepare<[], [number, number]>('SELECT total_changes(), data_version FROM pragma_data_version').raw();
  }

  /**
   * The answer kept for `key`, else `load()`'s, which is kept. `load` must only read. Answers
   * are shared between callers: they must not be changed.
   */
  get<T>(key: string, load: () => T): T {
    const [changes, version] = this.probe.get()!;
    const now = `${changes}:${version}`;
    if (now !== this.seen) {
      this.answers.clear();
      this.seen = now;
    }
    if (this.answers.has(key)) {
      const kept = this.answers.get(key) as T;
      this.answers.delete(key); // most recently used last
      this.answers.set(key, kept);
      return kept;
    }
    const answer = load();
    this.answers.set(key, answer);
    if (this.answers.size > this.max) this.answers.delete(this.answers.keys().next().value!);
    return answer;
  }
}
