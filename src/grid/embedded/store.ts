// The embedded store: the default Grid, on local disk in BASEDIR, needing no other process.
// Immutable file data lives in objects/ (see objects.ts); directories and mutable-file version
// pointers live in SQLite (see db.ts). Everything stored is sealed under keys from caps.
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { formatCap, parseCap, type Cap, type ChkFields } from '../../caps/index.js';
import { unpackChildren } from '../dirpack.js';
import { GridError } from '../errors.js';
import { processAlive } from '../../util/process.js';
import { copyPlain } from '../../util/copy.js';
import { capsForLink, checkReplace, nodeInfoFromCap, nowSeconds, patchUserMetadata, updateLinkMetadata } from '../links.js';
import type {
  DeleteChildOptions, DirEntry, DiskUsage, FileReader, Grid, Metadata, MetadataPatch, MutableContent, NodeInfo,
  ReplaceMode, SetChildOptions, UploadSink,
} from '../types.js';
import { contentHashOf, inImmediateTransaction, openDatabase, Statements, type Db } from './db.js';
import type { Convergence } from './convergence.js';
import { openEntry, sealEntry, type StoredEntry } from './entries.js';
import { clearDeadRun, collectGarbage, lastCollection, type GcOptions, type GcReport } from './gc.js';
import { InUse } from './in-use.js';
import { dirKeys, mutableFileKeys, nameRowKey, newSlot, type DirKeys, type SlotKeys } from './keys.js';
import { BufferReader, ObjectReader, ObjectUpload, type SmallObjects } from './objects.js';
import { classifyStorageError, NO_SPACE_MESSAGE, SpaceGuard } from './space.js';
import { openVersion, sealVersion } from './versions.js';
import { SealPool } from './sealer.js';
import { GroupSync } from './group-sync.js';
import { IndexReadCache, slotOf } from './read-cache.js';
import { StagedObjects } from './staged.js';

export interface EmbeddedGridOptions {
  /** Folder of the store (created if missing). */
  storeDir: string;
  /** The node's convergence secret: equal bytes uploaded by this node dedupe to one object. */
  convergenceSecret: Buffer;
  /** Free bytes of the store's filesystem that file data never takes (space.ts). Default 64 MiB. */
  reserveBytes?: number;
  /** Seals upload segments off the event loop (default: a pool of its own; sealer.ts). */
  sealer?: SealPool;
  /** The longest a sync of the index's log may block the event loop (group-sync.ts; default 2 ms). */
  inlineSyncLimitMs?: number;
}

export const DEFAULT_STORE_RESERVE = 64 * 1024 * 1024;

/** Largest immutable directory we read into memory (they are written whole, like Tahoe's). */
const MAX_IMMUTABLE_DIR = 64 * 1024 * 1024;

function validName(name: string): string {
  const nfc = name.normalize('NFC');
  if (nfc === '' || nfc === '.' || nfc === '..' || nfc.includes('/') || nfc.includes('\0')) {
    throw new GridError('INVALID', 'invalid name');
  }
  return nfc;
}

function userPart(metadata: Metadata): Metadata {
  const { tahoe: _tahoe, ...user } = metadata;
  return user;
}

export class EmbeddedGrid implements Grid {
  private readonly st: Statements;
  private readonly small: SmallObjects;
  /** Tells the garbage collector about every link and deduplication (gc.ts). */
  private readonly inUse: InUse;
  /** Seals upload segments off the event loop (sealer.ts). */
  private readonly sealer: SealPool;
  /** Makes commits durable, several at a time (group-sync.ts). */
  private readonly log: GroupSync;
  /** Directory and child lookups, kept while the index is unchanged (read-cache.ts). */
  private readonly reads: IndexReadCache;
  /** Small objects finished but not yet linked: the link's transaction stores them (staged.ts). */
  private readonly staged: StagedObjects;
  /** Uploads neither finished nor aborted: while there are any, commits share syncs (group-sync.ts). */
  private uploadsOpen = 0;
  /** True while others are about to commit too (shareSyncsWhile). */
  private othersChanging: () => boolean = () => false;

  private constructor(
    private readonly db: Db,
    private readonly storeDir: string,
    private readonly objectsDir: string,
    private readonly tmpDir: string,
    private readonly convergence: Convergence,
    private readonly space: SpaceGuard,
    sealer: SealPool,
    inlineSyncLimitMs: number | undefined,
  ) {
    this.sealer = sealer;
    this.st = new Statements(db);
    this.inUse = new InUse(db, (si, now) => this.staged.storeInTransaction(si, now));
    this.staged = new StagedObjects(this.st, (si, now) => this.inUse.claimObjectInTransaction(si, now));
    this.log = new GroupSync(join(storeDir, 'store.db-wal'), {
      alone: () => this.uploadsOpen === 0 && !this.othersChanging(),
      inlineLimitMs: inlineSyncLimitMs,
    });
    this.reads = new IndexReadCache(db);
    this.small = {
      get: (si) => this.staged.get(si) ?? this.st.getSmall.get(si),
      stage: (si, object) => this.stageSmall(si, object),
    };
  }

  /**
   * A finished small object: held until the transaction that links it stores it (staged.ts).
   * Returns the bytes its cap must name.
   */
  private stageSmall(si: Buffer, object: Buffer): Buffer {
    const held = this.staged.get(si);
    if (held) return held;
    const stored = this.st.getSmall.get(si);
    if (stored && !stored.equals(object)) {
      // An older copy of the same bytes (made with a random data key): claimed now, as before
      // staging, so a gc keeps it; the link only touches it.
      return this.write(
        () => {
          this.st.insertSmall.run(si, stored); // back, if a gc took it since the read above
          this.inUse.claimObjectInTransaction(si);
          return this.st.getSmall.get(si)!;
        },
        [], // objects are not in any lookup's answer
      );
    }
    const bytes = this.staged.stage(si, stored ?? object);
    // Objects nobody linked: beyond the budget, stored unlinked as an upload without a link is.
    if (this.staged.overBudget) this.write(() => this.staged.storeOldestInTransaction(false), []);
    return bytes;
  }

  /**
   * Runs `fn` as one write transaction and resolves once it is on disk (group-sync.ts). A full
   * disk (SQLITE_FULL) is NO_SPACE; the reserve that uploads leave free (space.ts) is what lets
   * these commits succeed on a full store.
   */
  private async change<T>(fn: () => T, touched?: readonly string[]): Promise<T> {
    const result = this.write(fn, touched);
    try {
      await this.log.durable();
    } catch (err) {
      throw classifyStorageError(err);
    }
    return result;
  }

  /**
   * One write transaction, committed but not yet synced. `touched`: the only (directory, name)
   * slots whose lookups it may change, so the lookup cache keeps the rest (read-cache.ts); a
   * write that may change anything else (a mutable file's size, shown in its parents' entries;
   * a directory's existence) gives none, and every kept lookup is forgotten.
   */
  private write<T>(fn: () => T, touched?: readonly string[]): T {
    let result: T;
    try {
      if (!touched) {
        result = inImmediateTransaction(this.db, fn);
      } else {
        let before = '';
        let after = '';
        result = inImmediateTransaction(this.db, () => {
          before = this.reads.state();
          const r = fn();
          after = this.reads.state();
          return r;
        });
        this.reads.wrote(touched, before, after);
      }
    } catch (err) {
      this.staged.rolledBack();
      throw classifyStorageError(err);
    }
    this.staged.committed();
    return result;
  }

  /**
   * Makes commits share the thread pool's syncs, never sync on the event loop, while `busy()`
   * says others are about to commit as well (the server: while several sessions change things,
   * vfs/change-activity.ts). The store alone only knows its own uploads open.
   */
  shareSyncsWhile(busy: () => boolean): void {
    this.othersChanging = busy;
  }

  /** Syncs of the index's log so far: on the event loop (a commit alone) and on the thread pool (group-sync.ts). */
  logSyncs(): { eventLoop: number; threadPool: number } {
    return { eventLoop: this.log.inlineSyncs, threadPool: this.log.syncs - this.log.inlineSyncs };
  }

  /** Makes every change committed so far durable (for an upload that nothing links yet). */
  async sync(): Promise<void> {
    this.storeStaged();
    return this.log.durable();
  }

  /** Stores every staged small object, unlinked, with the time each was made (sync, gc, close). */
  private storeStaged(): void {
    if (this.staged.size > 0) this.write(() => this.staged.storeOldestInTransaction(true), []);
  }

  static async open(options: EmbeddedGridOptions): Promise<EmbeddedGrid> {
    const { storeDir } = options;
    const objectsDir = join(storeDir, 'objects');
    const tmpRoot = join(storeDir, 'tmp');
    await fsp.mkdir(objectsDir, { recursive: true, mode: 0o700 });
    await fsp.mkdir(tmpRoot, { recursive: true, mode: 0o700 });
    // Uploads that a crashed process left behind never became visible: remove them. Folders of
    // live processes (a server next to a `lafsd put`) are theirs, and are left alone.
    for (const name of await fsp.readdir(tmpRoot)) {
      const pid = Number(name.split('-')[0]);
      if (!Number.isInteger(pid) || !processAlive(pid)) await fsp.rm(join(tmpRoot, name), { recursive: true, force: true });
    }
    const tmpDir = join(tmpRoot, `${process.pid}-${randomBytes(4).toString('hex')}`);
    await fsp.mkdir(tmpDir, { mode: 0o700 });
    let db: Db;
    let convergence: Convergence;
    try {
      db = openDatabase(join(storeDir, 'store.db'), { groupSync: true });
      clearDeadRun(db);
      convergence = { secret: options.convergenceSecret, hash: contentHashOf(db) };
    } catch (err) {
      throw new GridError('UNAVAILABLE', `cannot open the store in ${storeDir}: ${(err as Error).message}`, { cause: err });
    }
    const space = new SpaceGuard(storeDir, options.reserveBytes ?? DEFAULT_STORE_RESERVE);
    return new EmbeddedGrid(db, storeDir, objectsDir, tmpDir, convergence, space, options.sealer ?? new SealPool(), options.inlineSyncLimitMs);
  }

  async close(): Promise<void> {
    // Unlinked uploads stay stored, as they would have been without staging (not synced: a
    // later gc collects them unless something links their caps).
    if (this.db.open) {
      try {
        this.storeStaged();
      } catch {
        // a full disk or a closed database: they were never promised durable
      }
    }
    await this.sealer.close();
    await this.log.close();
    if (this.db.open) this.db.close();
    await fsp.rm(this.tmpDir, { recursive: true, force: true });
  }

  // --- node info ------------------------------------------------------------------------

  async stat(capText: string): Promise<NodeInfo> {
    const cap = parseCap(capText);
    switch (cap.type) {
      case 'SSK':
      case 'SSK-RO':
      case 'MDMF':
      case 'MDMF-RO': {
        const info = nodeInfoFromCap(capText);
        info.size = this.mutableSize(mutableFileKeys(capText));
        return info;
      }
      case 'DIR2':
      case 'DIR2-RO':
      case 'DIR2-MDMF':
      case 'DIR2-MDMF-RO':
        this.existingDir(dirKeys(capText));
        return nodeInfoFromCap(capText);
      default:
        return nodeInfoFromCap(capText);
    }
  }

  private existingDir(keys: DirKeys): DirKeys {
    if (!this.st.dirExists.get(keys.storageIndex)) throw new GridError('NOT_FOUND', 'this store holds no such directory');
    return keys;
  }

  private writableDir(dirCap: string): DirKeys {
    const cap = parseCap(dirCap);
    if (cap.type === 'DIR2-LIT' || cap.type === 'DIR2-CHK') throw new GridError('NOT_WRITABLE', 'directory is immutable');
    const keys = dirKeys(dirCap);
    if (!keys.writeKey) throw new GridError('NOT_WRITABLE', 'directory is read-only');
    return this.existingDir(keys);
  }

  private mutableContentCap(keys: SlotKeys): { seq: number; contentCap: string } {
    const row = this.st.getMutable.get(keys.storageIndex);
    if (!row) throw new GridError('NOT_FOUND', 'this store holds no such mutable file');
    return { seq: row.seq, contentCap: openVersion(keys, row.seq, row.value) };
  }

  private mutableSize(keys: SlotKeys): number {
    return nodeInfoFromCap(this.mutableContentCap(keys).contentCap).size ?? 0;
  }

  private entryNode(stored: StoredEntry): NodeInfo {
    const capText = stored.writeCap ?? stored.readCap;
    if (!capText) return { kind: 'unknown', cap: '', mutable: false, readOnly: true };
    const info = nodeInfoFromCap(capText);
    if (info.kind === 'file' && info.mutable) {
      try {
        info.size = this.mutableSize(mutableFileKeys(capText));
      } catch {
        // A listing must not fail because one child is missing or foreign: size stays unknown.
      }
    }
    return info;
  }

  private toDirEntry(stored: StoredEntry): DirEntry {
    return { name: stored.name, node: this.entryNode(stored), metadata: stored.metadata };
  }

  // --- directories ----------------------------------------------------------------------

  private async immutableChildren(cap: Extract<Cap, { type: 'DIR2-LIT' | 'DIR2-CHK' }>): Promise<DirEntry[]> {
    let packed: Buffer;
    if (cap.type === 'DIR2-LIT') {
      packed = cap.data;
    } else {
      if (cap.size > MAX_IMMUTABLE_DIR) throw new GridError('UNSUPPORTED', 'immutable directory is too large');
      const { type: _type, ...fields } = cap;
      const reader = await ObjectReader.open(this.objectsDir, fields as ChkFields, this.small);
      try {
        packed = await reader.read(0, reader.size);
      } finally {
        await reader.close();
      }
    }
    return unpackChildren(packed).map((c) => ({ name: c.name, node: nodeInfoFromCap(c.readCap), metadata: c.metadata }));
  }

  async list(dirCap: string): Promise<DirEntry[]> {
    const cap = parseCap(dirCap);
    if (cap.type === 'DIR2-LIT' || cap.type === 'DIR2-CHK') return this.immutableChildren(cap);
    const keys = this.dirOf(dirCap);
    const rows = this.st.listEntries.all(keys.storageIndex);
    return rows.map((row) => this.toDirEntry(openEntry(keys, row.name_key, row.value)));
  }

  /** Keys of an existing mutable directory; files and unknown caps are NOT_A_DIRECTORY. */
  private dirOf(dirCap: string): DirKeys {
    const cap = parseCap(dirCap);
    if (!cap.type.startsWith('DIR2') || cap.type.endsWith('Verifier')) throw new GridError('NOT_A_DIRECTORY', 'not a directory');
    return this.existingDir(dirKeys(dirCap));
  }

  async getChild(dirCap: string, name: string): Promise<DirEntry | undefined> {
    const nfc = validName(name);
    const cap = parseCap(dirCap);
    if (cap.type === 'DIR2-LIT' || cap.type === 'DIR2-CHK') {
      return (await this.immutableChildren(cap)).find((e) => e.name === nfc);
    }
    // Keyed by the cap itself: what an entry shows depends on the cap's authority (write caps
    // of children only through the directory's write cap). A kept answer was looked up in an
    // existing directory, and nothing changed since. Not found (the directory) is not kept.
    const entry = this.reads.get(`${dirCap}\0${nfc}`, () => {
      const keys = this.dirOf(dirCap);
      const stored = this.readEntry(keys, nfc);
      return { slot: slotOf(keys.storageIndex, nfc), answer: stored && this.toDirEntry(stored.entry) };
    });
    return entry && copyPlain(entry); // the kept one is shared: the caller gets its own
  }

  private readEntry(keys: DirKeys, nfcName: string): { nameKey: Buffer; entry: StoredEntry } | undefined {
    const nameKey = nameRowKey(keys, nfcName);
    const value = this.st.getEntry.get(keys.storageIndex, nameKey);
    return value ? { nameKey, entry: openEntry(keys, nameKey, value) } : undefined;
  }

  private writeEntry(keys: DirKeys, nameKey: Buffer, name: string, childCap: string, metadata: Metadata): void {
    const caps = capsForLink(childCap, metadata);
    this.st.putEntry.run(keys.storageIndex, nameKey, sealEntry(keys, nameKey, { name, ...caps, metadata }));
  }

  async setChild(dirCap: string, name: string, childCap: string, options: SetChildOptions): Promise<void> {
    const nfc = validName(name);
    const keys = this.writableDir(dirCap);
    await this.change(() => {
      const existing = this.readEntry(keys, nfc);
      if (existing) checkReplace(options.replace, nfc, this.entryNode(existing.entry).kind);
      const metadata = updateLinkMetadata(existing?.entry.metadata, options.metadata, nowSeconds());
      this.writeEntry(keys, existing?.nameKey ?? nameRowKey(keys, nfc), nfc, childCap, metadata);
      this.inUse.note(childCap);
    }, [slotOf(keys.storageIndex, nfc)]);
  }

  async deleteChild(dirCap: string, name: string, options: DeleteChildOptions = {}): Promise<DirEntry> {
    const nfc = validName(name);
    const keys = this.writableDir(dirCap);
    return this.change(() => {
      const existing = this.readEntry(keys, nfc);
      if (!existing) throw new GridError('NOT_FOUND', `No such child: ${nfc}`);
      const entry = this.toDirEntry(existing.entry);
      if (options.mustBe === 'file' && entry.node.kind === 'dir') throw new GridError('IS_A_DIRECTORY', `"${nfc}" is a directory`);
      if (options.mustBe === 'dir' && entry.node.kind === 'file') throw new GridError('NOT_A_DIRECTORY', `"${nfc}" is not a directory`);
      if (options.mustBeEmpty && entry.node.kind === 'dir' && !this.isEmptyDir(entry.node.cap)) {
        throw new GridError('NOT_EMPTY', `directory "${nfc}" is not empty`);
      }
      this.st.deleteEntry.run(keys.storageIndex, existing.nameKey);
      return entry;
    }, [slotOf(keys.storageIndex, nfc)]);
  }

  /** Emptiness of a child directory, decided inside the caller's transaction. */
  private isEmptyDir(capText: string): boolean {
    const cap = parseCap(capText);
    // An immutable directory with no children packs to zero bytes, which is always a LIT cap.
    if (cap.type === 'DIR2-LIT') return cap.data.length === 0;
    if (cap.type === 'DIR2-CHK') return false;
    try {
      return !this.st.anyEntry.get(dirKeys(capText).storageIndex);
    } catch {
      return true; // a directory this store does not hold has no entries here
    }
  }

  async moveChild(fromDirCap: string, fromName: string, toDirCap: string, toName: string, replace: ReplaceMode): Promise<void> {
    const fromNfc = validName(fromName);
    const toNfc = validName(toName);
    const from = this.writableDir(fromDirCap);
    const to = this.writableDir(toDirCap);
    await this.change(() => {
      const source = this.readEntry(from, fromNfc);
      if (!source) throw new GridError('NOT_FOUND', `No such child: ${fromNfc}`);
      const sameDir = from.storageIndex.equals(to.storageIndex);
      if (sameDir && fromNfc === toNfc) return;
      const target = this.readEntry(to, toNfc);
      if (target) checkReplace(replace, toNfc, this.entryNode(target.entry).kind);
      const childCap = source.entry.writeCap ?? source.entry.readCap ?? '';
      const metadata = updateLinkMetadata(source.entry.metadata, undefined, nowSeconds());
      this.st.deleteEntry.run(from.storageIndex, source.nameKey);
      this.writeEntry(to, target?.nameKey ?? nameRowKey(to, toNfc), toNfc, childCap, metadata);
      this.inUse.note(childCap); // it may come out of a directory gc found unreachable
    }, [slotOf(from.storageIndex, fromNfc), slotOf(to.storageIndex, toNfc)]);
  }

  async patchMetadata(dirCap: string, name: string, patch: MetadataPatch): Promise<DirEntry> {
    const nfc = validName(name);
    const keys = this.writableDir(dirCap);
    return this.change(() => {
      const existing = this.readEntry(keys, nfc);
      if (!existing) throw new GridError('NOT_FOUND', `No such child: ${nfc}`);
      const user = patchUserMetadata(userPart(existing.entry.metadata), patch);
      const metadata = updateLinkMetadata(existing.entry.metadata, user, nowSeconds());
      const childCap = existing.entry.writeCap ?? existing.entry.readCap ?? '';
      this.writeEntry(keys, existing.nameKey, nfc, childCap, metadata);
      return this.toDirEntry(this.readEntry(keys, nfc)!.entry);
    }, [slotOf(keys.storageIndex, nfc)]);
  }

  async mkdir(dirCap: string, name: string, options: { replace?: ReplaceMode; metadata?: Metadata } = {}): Promise<string> {
    const nfc = validName(name);
    const keys = this.writableDir(dirCap);
    const slot = newSlot();
    const childCap = formatCap({ type: 'DIR2', writeKey: slot.writeKey, fingerprint: slot.fingerprint });
    await this.change(() => {
      const existing = this.readEntry(keys, nfc);
      if (existing) checkReplace(options.replace ?? false, nfc, this.entryNode(existing.entry).kind);
      this.st.insertDir.run(dirKeys(childCap).storageIndex, Date.now());
      const metadata = updateLinkMetadata(existing?.entry.metadata, options.metadata, nowSeconds());
      this.writeEntry(keys, existing?.nameKey ?? nameRowKey(keys, nfc), nfc, childCap, metadata);
    }, [slotOf(keys.storageIndex, nfc)]); // the new directory has no lookups kept: none exist
    return childCap;
  }

  async createDirectory(): Promise<string> {
    const slot = newSlot();
    const cap = formatCap({ type: 'DIR2', writeKey: slot.writeKey, fingerprint: slot.fingerprint });
    await this.change(() => this.st.insertDir.run(dirKeys(cap).storageIndex, Date.now()));
    return cap;
  }

  // --- files ----------------------------------------------------------------------------

  async openRead(fileCap: string): Promise<FileReader> {
    const cap = parseCap(fileCap);
    switch (cap.type) {
      case 'LIT':
        return new BufferReader(cap.data);
      case 'CHK': {
        const { type: _type, ...fields } = cap;
        return ObjectReader.open(this.objectsDir, fields, this.small);
      }
      case 'SSK':
      case 'SSK-RO':
      case 'MDMF':
      case 'MDMF-RO':
        // A snapshot: the version current now, even if a new one is published while reading.
        return this.openRead(this.mutableContentCap(mutableFileKeys(fileCap)).contentCap);
      default:
        if (cap.type.startsWith('DIR2') && !cap.type.endsWith('Verifier')) throw new GridError('IS_A_DIRECTORY', 'is a directory');
        throw new GridError('INVALID', 'not a readable file cap');
    }
  }

  async upload(): Promise<UploadSink> {
    const claim = (si: Buffer) => this.inUse.claimObject(si);
    const settled = () => this.uploadsOpen--;
    this.uploadsOpen++;
    return new ObjectUpload(
      { objectsDir: this.objectsDir, tmpDir: this.tmpDir, sealer: this.sealer, space: this.space, claim, settled },
      this.convergence,
      this.small,
    );
  }

  private contentCapOf(content: MutableContent): string {
    const cap = parseCap(content.immutableCap);
    if (cap.type !== 'LIT' && cap.type !== 'CHK') throw new GridError('INVALID', 'mutable content must be an immutable file');
    return formatCap(cap);
  }

  async createMutable(content: MutableContent, format: 'SDMF' | 'MDMF' = 'SDMF'): Promise<string> {
    const contentCap = this.contentCapOf(content);
    const slot = newSlot();
    const cap = formatCap({ type: format === 'MDMF' ? 'MDMF' : 'SSK', writeKey: slot.writeKey, fingerprint: slot.fingerprint });
    const keys = mutableFileKeys(cap);
    await this.change(() => {
      this.st.insertMutable.run(keys.storageIndex, 1, sealVersion(keys, 1, contentCap), Date.now());
      this.inUse.note(contentCap);
    });
    return cap;
  }

  async overwriteMutable(writeCap: string, content: MutableContent): Promise<void> {
    const contentCap = this.contentCapOf(content);
    const keys = mutableFileKeys(writeCap);
    if (!keys.writeKey) throw new GridError('NOT_WRITABLE', 'mutable file cap is read-only');
    await this.change(() => {
      const { seq } = this.mutableContentCap(keys);
      this.st.updateMutable.run(seq + 1, sealVersion(keys, seq + 1, contentCap), keys.storageIndex);
      this.inUse.note(contentCap);
    });
  }

  // --- whole store ----------------------------------------------------------------------

  /** The store's filesystem; available space is what file data may still take (the reserve is kept). */
  async diskUsage(): Promise<DiskUsage> {
    const f = await this.space.figures();
    return { totalBytes: f.totalBytes, usedBytes: f.usedBytes, availableBytes: Math.max(0, f.freeBytes - this.space.reserveBytes) };
  }

  async checkSpace(bytes: number): Promise<void> {
    if (bytes > (await this.space.available())) throw new GridError('NO_SPACE', NO_SPACE_MESSAGE);
  }

  // --- garbage collection (gc.ts) --------------------------------------------------------

  /** Deletes what no root reaches and the grace period no longer protects; see gc.ts. */
  collectGarbage(options: GcOptions): Promise<GcReport> {
    this.storeStaged(); // what this process made is in the store, for gc as for anyone
    return collectGarbage({ storeDir: this.storeDir, objectsDir: this.objectsDir }, options);
  }

  /** When the last garbage collection that ran to its end started and finished. */
  lastGarbageCollection(): { startedAt: number; finishedAt: number } | undefined {
    return lastCollection(this.db);
  }

  /**
   * Records that a cap was just handed out from outside the store (a root the account service
   * answered, a root given to `lafsd add-user`): it counts as in use from now, as if linked.
   */
  async noteInUse(cap: string): Promise<void> {
    await this.change(() => this.inUse.note(cap));
  }

  /**
   * What the store holds, for metrics: immutable objects (object files, and small objects in the
   * database) and bytes on disk (object files, the database and its WAL). Read-only, but it
   * walks objects/, so callers keep the answer for a while rather than asking on every request.
   */
  async contents(): Promise<{ objects: number; bytes: number }> {
    let objects = this.db.prepare<[], number>('SELECT count(*) FROM small_objects').pluck().get() ?? 0;
    let bytes = 0;
    const count = (size: number | undefined) => {
      if (size === undefined) return;
      objects += 1;
      bytes += size;
    };
    for (const sub of await fsp.readdir(this.objectsDir, { withFileTypes: true })) {
      if (!sub.isDirectory()) continue;
      const dir = join(this.objectsDir, sub.name);
      const names = await fsp.readdir(dir).catch(() => [] as string[]);
      // An object removed meanwhile (garbage collection) is simply not counted.
      const sizes = await Promise.all(names.map((n) => fsp.stat(join(dir, n)).then((st) => (st.isFile() ? st.size : undefined), () => undefined)));
      sizes.forEach(count);
    }
    for (const f of ['store.db', 'store.db-wal']) bytes += (await fsp.stat(join(this.storeDir, f)).catch(() => undefined))?.size ?? 0;
    return { objects, bytes };
  }

  /** Where this store keeps its data (for messages; never contains caps). */
  get location(): string {
    return this.storeDir;
  }
}

