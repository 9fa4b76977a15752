// Files open for writing, visible to everyone before they are committed (Tahoe's
// "heisenfiles"): stat and listings show their current size, rename and remove of the path
// apply to them, and a new open of the path waits for a pending commit. One registry per
// server, shared by all sessions and both protocols, keyed by directory (read cap) and name.

/** What the registry needs from an open writer. */
export interface OpenWriter {
  /** Bytes written so far (the size a stat shows). */
  readonly currentSize: number;
  /** When the writer was opened (seconds), shown as its mtime until it is linked. */
  readonly openedAt: number;
  /** Resolves when a commit in progress has finished (successfully or not). */
  settled(): Promise<void>;
  /** Resolves once the writer is closed and its commit has finished, or it was abandoned. */
  closed(): Promise<void>;
  /** A remove of the path: the writer commits nothing (but still reads its data until closed). */
  abandon(): Promise<void>;
  /** A rename of the path: the writer will commit to the new place. */
  retarget(dirCap: string, dirReadCap: string, name: string): void;
}

/** Items kept by directory (read cap) and name, several per name, in the order added. */
export class NameIndex<T> {
  private readonly byDir = new Map<string, Map<string, Set<T>>>();

  add(dirReadCap: string, name: string, item: T): void {
    let names = this.byDir.get(dirReadCap);
    if (!names) this.byDir.set(dirReadCap, (names = new Map()));
    let set = names.get(name);
    if (!set) names.set(name, (set = new Set()));
    set.add(item);
  }

  remove(dirReadCap: string, name: string, item: T): void {
    const names = this.byDir.get(dirReadCap);
    const set = names?.get(name);
    if (!set) return;
    set.delete(item);
    if (set.size === 0) names!.delete(name);
    if (names!.size === 0) this.byDir.delete(dirReadCap);
  }

  /** Items at that name, the most recently added last. */
  at(dirReadCap: string, name: string): T[] {
    return [...(this.byDir.get(dirReadCap)?.get(name) ?? [])];
  }

  /** Every name in a directory that has items. */
  inDir(dirReadCap: string): Map<string, T[]> {
    const out = new Map<string, T[]>();
    for (const [name, set] of this.byDir.get(dirReadCap) ?? []) out.set(name, [...set]);
    return out;
  }

  /** Number of items (for tests: every test ends with no open writer left). */
  get size(): number {
    let n = 0;
    for (const names of this.byDir.values()) for (const set of names.values()) n += set.size;
    return n;
  }
}

/** The server's open writers. */
export class OpenFiles extends NameIndex<OpenWriter> {}
