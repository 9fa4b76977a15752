// Immutable objects of the embedded store: one file per object under objects/, named by its
// storage index. Streamed in with bounded memory, read by range, verified on every read.
//
// Layout: a 128-byte header, then segments of SEGMENT_SIZE plaintext bytes, each stored as
// AES-256-GCM ciphertext ‖ 16-byte tag under a random data key (nonce = segment index).
// The data key sits in the header, wrapped under a key derived from the cap's read key.
//
// Why a random data key: the cap's key is convergent (a keyed hash of the whole plaintext, so
// equal bytes dedupe; convergence.ts), which is only known after the last byte. Encrypting
// under a random key and wrapping it at the end keeps uploads single-pass; deduplication
// happens at the end by storage index (a second upload of the same bytes finds the first object
// and returns its cap).
// An object smaller than one segment is sealed only at the end, so it needs no random key: its
// data key and header nonce come from its read key, and equal bytes make the very same object
// (staged.ts relies on that to store it in the transaction that links it).
import { randomBytes } from 'node:crypto';
import { constants as fsc, promises as fsp } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { b32encode, chkStorageIndex, formatCap, literalCap, LIT_MAX, taggedHash, type ChkFields } from '../../caps/index.js';
import { randomBytesPooled } from '../../util/random.js';
import { GridError } from '../errors.js';
import type { FileReader, UploadSink } from '../types.js';
import { classifyStorageError, type SpaceGuard } from './space.js';
import { HEADER_SIZE, SEGMENT_SIZE, TAG, runLayout, segmentNonce } from './layout.js';
import { OPENED, TRUNCATED, sealAddon } from './native.js';
import { gcmOpen, gcmSeal } from './aead.js';
import { BufferPool, type PooledBuffer } from './buffer-pool.js';
import { lend } from '../../util/lent-buffers.js';
import type { SealJob, SealPool } from './sealer.js';
import { contentDigest, convergentKey, type Convergence } from './convergence.js';

export { SEGMENT_SIZE };

const MAGIC = Buffer.from('LAFSD-CHK-v1\n\0\0\0', 'latin1'); // 16 bytes

export function objectPath(objectsDir: string, storageIndex: Buffer): string {
  const name = b32encode(storageIndex);
  return join(objectsDir, name.slice(0, 2), name);
}


function wrapKey(readKey: Buffer): Buffer {
  return taggedHash('lafsd_chk_wrap_key_v1', readKey);
}

export function headerHash(header: Buffer): Buffer {
  return taggedHash('lafsd_chk_header_v1', header);
}

function buildHeader(readKey: Buffer, dataKey: Buffer, size: number, nonce = randomBytesPooled(12)): Buffer {
  const header = Buffer.alloc(HEADER_SIZE);
  MAGIC.copy(header, 0);
  header.writeUInt32BE(SEGMENT_SIZE, 16);
  header.writeBigUInt64BE(BigInt(size), 20);
  // The wrapped data key (32) and its tag (16) fill bytes 40-87.
  gcmSeal(wrapKey(readKey), nonce, dataKey, header.subarray(0, 28)).copy(header, 40);
  nonce.copy(header, 28);
  return header;
}

// The CORRUPT errors of more than one check.
const notTheCap = () => new GridError('CORRUPT', 'stored file header does not match the cap');
const truncated = () => new GridError('CORRUPT', 'stored file is truncated');
const failedCheck = () => new GridError('CORRUPT', 'stored file failed its integrity check');

/** The data key of an object whose header (as read: it may be short) is `header`, checked against `cap`. */
function dataKeyOf(header: Buffer, cap: ChkFields): Buffer {
  if (header.length !== HEADER_SIZE || !headerHash(header).equals(cap.uebHash)) {
    throw notTheCap();
  }
  return openHeader(header, cap.key, cap.size);
}

/** Checks a header's own fields and returns the data key it wraps. */
function openHeader(header: Buffer, readKey: Buffer, size: number): Buffer {
  if (header.length !== HEADER_SIZE || !header.subarray(0, 16).equals(MAGIC)) {
    throw new GridError('CORRUPT', 'stored file header is damaged');
  }
  if (header.readUInt32BE(16) !== SEGMENT_SIZE || Number(header.readBigUInt64BE(20)) !== size) {
    throw notTheCap();
  }
  const dataKey = gcmOpen(wrapKey(readKey), header.subarray(28, 40), header.subarray(40, 88), header.subarray(0, 28));
  if (!dataKey) throw new GridError('CORRUPT', 'stored file header failed its integrity check');
  return dataKey;
}

async function fsyncDir(path: string): Promise<void> {
  const fh = await fsp.open(path, fsc.O_RDONLY);
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * Objects smaller than one segment, kept as rows of the index database in the same byte format
 * as object files. `stage` returns the bytes the cap must name (an object already stored under
 * that storage index wins: deduplication); the store writes them when the cap is linked.
 */
export interface SmallObjects {
  get(storageIndex: Buffer): Buffer | undefined;
  stage(storageIndex: Buffer, object: Buffer): Buffer;
}

export interface ObjectStoreDirs {
  objectsDir: string;
  /** This process's private temporary folder (in-progress uploads). */
  tmpDir: string;
  /** Seals full segments off the event loop (sealer.ts). */
  sealer: SealPool;
  /** Refuses file data that would eat into the store's reserve (space.ts). */
  space?: SpaceGuard;
  /**
   * Called before an object file is published or reused by deduplication, so the garbage
   * collector sees it in use before anyone can find it (gc.ts).
   */
  claim?: (storageIndex: Buffer) => void;
  /** Called once when the upload is done or aborted (the store counts the uploads open). */
  settled?: () => void;
}

/**
 * A streaming upload of one immutable object; see the file comment for the format. Full
 * segments go to the sealer (sealer.ts), which hashes, encrypts and writes them off the event
 * loop; an object smaller than one segment never leaves it (a row, no file, no sealing job).
 */
export class ObjectUpload implements UploadSink {
  /** The segment being filled; a new one (from the pool's spares) after each hand-over. */
  private segment: Buffer | undefined;
  private fill = 0;
  private segmentIndex = 0;
  private readonly dataKey = randomBytesPooled(32);
  private job?: SealJob;
  private tmpPath?: string;
  private failure?: Error;
  private state: 'open' | 'finishing' | 'done' | 'aborted' = 'open';
  private settledOnce = false;
  private written = 0;

  constructor(
    private readonly dirs: ObjectStoreDirs,
    private readonly convergence: Convergence,
    private readonly small?: SmallObjects,
  ) {}

  get bytesWritten(): number {
    return this.written;
  }

  async write(data: Buffer): Promise<void> {
    if (this.state !== 'open') throw new GridError('INVALID', `upload is ${this.state}`);
    this.checkSealer();
    this.written += data.length;
    let pos = 0;
    while (pos < data.length) {
      this.segment ??= this.dirs.sealer.buffer();
      const n = Math.min(SEGMENT_SIZE - this.fill, data.length - pos);
      data.copy(this.segment, this.fill, pos, pos + n);
      this.fill += n;
      pos += n;
      if (this.fill === SEGMENT_SIZE) await this.flushSegment();
    }
  }

  private checkSealer(): void {
    if (this.failure) throw this.failure;
    const err = this.job?.failure;
    if (err) throw (this.failure = writeFailure(err));
  }

  /** Hands the filled segment to the sealer (waits while the memory budget is spent). */
  private async flushSegment(): Promise<void> {
    await this.dirs.space?.claim(this.fill + TAG);
    if (!this.job) {
      this.tmpPath = join(this.dirs.tmpDir, `upload-${randomBytes(8).toString('hex')}`);
      this.job = this.dirs.sealer.job(this.tmpPath, this.dataKey, this.convergence.hash);
    }
    const segment = this.segment!;
    const length = this.fill;
    this.segment = undefined;
    this.fill = 0;
    await this.job.segment(this.segmentIndex++, segment, length);
    this.checkSealer();
  }

  async finish(): Promise<string> {
    if (this.state !== 'open') throw new GridError('INVALID', `upload is ${this.state}`);
    this.state = 'finishing';
    try {
      this.checkSealer();
      const size = this.written;
      const plain = this.segment?.subarray(0, this.fill) ?? Buffer.alloc(0);
      if (size <= LIT_MAX) {
        // Tiny files live in the cap itself, exactly as Tahoe does it: nothing is stored.
        const cap = literalCap(Buffer.from(plain));
        this.releaseSegment();
        this.end('done');
        return cap;
      }
      if (!this.job && this.small) {
        // Less than one segment: the object is a row in the index database, written by the
        // transaction that links it, instead of a file, its fsync, a link and a directory fsync.
        const { readKey, storageIndex } = convergentKey(this.convergence, contentDigest(this.convergence.hash, plain));
        const object = smallObject(readKey, plain);
        this.releaseSegment();
        await this.dirs.space?.claim(object.length);
        const stored = this.small.stage(storageIndex, object);
        this.end('done');
        return formatCap({ type: 'CHK', key: readKey, uebHash: headerHash(stored.subarray(0, HEADER_SIZE)), k: 1, n: 1, size });
      }
      if (this.fill > 0) await this.flushSegment();
      const { readKey, storageIndex } = convergentKey(this.convergence, await this.job!.digest());
      // Marked in use before anyone can find it, for the garbage collector (gc.ts).
      this.dirs.claim?.(storageIndex);
      // The same bytes are stored already: use that object, and skip writing and syncing ours.
      const existing = await this.existingObject(storageIndex, readKey, size);
      if (existing) {
        await this.cleanup({ wait: false });
        this.end('done');
        return formatCap({ type: 'CHK', key: readKey, uebHash: headerHash(existing), k: 1, n: 1, size });
      }
      const header = buildHeader(readKey, this.dataKey, size);
      await this.job!.seal(header);
      const finalHeader = await this.publish(storageIndex, readKey, size, header);
      this.end('done');
      const fields: ChkFields = { key: readKey, uebHash: headerHash(finalHeader), k: 1, n: 1, size };
      return formatCap({ type: 'CHK', ...fields });
    } catch (err) {
      await this.cleanup();
      this.end('aborted');
      throw err instanceof GridError ? err : writeFailure(err as Error);
    }
  }

  /**
   * Moves the finished temporary file into objects/ unless an object with the same storage
   * index (the same bytes) is already there, in which case that one's header makes the cap.
   */
  private async publish(storageIndex: Buffer, readKey: Buffer, size: number, header: Buffer): Promise<Buffer> {
    const finalPath = objectPath(this.dirs.objectsDir, storageIndex);
    await fsp.mkdir(dirname(finalPath), { recursive: true });
    try {
      await fsp.link(this.tmpPath!, finalPath);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const existing = await readHeader(finalPath);
      try {
        openHeader(existing, readKey, size);
        await this.cleanup();
        return existing;
      } catch {
        // The stored copy is damaged: replace it with ours (rename is atomic).
        await fsp.rename(this.tmpPath!, finalPath);
        this.tmpPath = undefined;
      }
    }
    await fsyncDir(dirname(finalPath));
    await this.cleanup();
    return header;
  }

  /** The header of an intact stored object with this storage index, if there is one. */
  private async existingObject(storageIndex: Buffer, readKey: Buffer, size: number): Promise<Buffer | undefined> {
    try {
      const header = await readHeader(objectPath(this.dirs.objectsDir, storageIndex));
      openHeader(header, readKey, size);
      return header;
    } catch {
      return undefined; // missing, or damaged: ours will replace it
    }
  }

  async abort(): Promise<void> {
    if (this.state === 'done' || this.state === 'aborted') return;
    this.end('aborted');
    await this.cleanup();
  }

  private end(state: 'done' | 'aborted'): void {
    this.state = state;
    if (this.settledOnce) return;
    this.settledOnce = true;
    this.dirs.settled?.();
  }

  /**
   * Gives the segment being filled back to the pool. A file smaller than one segment is done
   * with it once sealed; without this, every small file allocated a fresh 128 KiB buffer.
   */
  private releaseSegment(): void {
    if (this.segment) this.dirs.sealer.recycle(this.segment);
    this.segment = undefined;
  }

  /**
   * Forgets the segment being filled and removes the temporary file (through its sealing job).
   * `wait: false` for a duplicate of a stored object: unlinking a big file takes a while, and the
   * folder is this process's own (after a crash, the next open removes it).
   */
  private async cleanup(opts: { wait: boolean } = { wait: true }): Promise<void> {
    this.releaseSegment();
    const job = this.job;
    this.job = undefined;
    if (job) await job.abort().catch(() => {});
    const path = this.tmpPath;
    this.tmpPath = undefined;
    const removing = path ? fsp.rm(path, { force: true }).catch(() => {}) : undefined;
    if (opts.wait) await removing;
  }
}

function sealSegment(dataKey: Buffer, index: number, plain: Buffer): Buffer {
  return gcmSeal(dataKey, segmentNonce(index), plain);
}

/** The plaintext of one stored segment (`sealed`: its ciphertext ‖ tag); CORRUPT if the tag fails. */
function openSegment(dataKey: Buffer, index: number, sealed: Buffer): Buffer {
  const plain = gcmOpen(dataKey, segmentNonce(index), sealed);
  if (!plain) throw failedCheck();
  return plain;
}

/** A failed write of object data: NO_SPACE for a full disk, else the store is unavailable. */
function writeFailure(err: Error): GridError {
  const classified = classifyStorageError(err);
  if (classified instanceof GridError) return classified;
  return new GridError('UNAVAILABLE', `cannot write to the store: ${err.message}`, { cause: err });
}

async function readHeader(path: string): Promise<Buffer> {
  const fh = await fsp.open(path, 'r');
  try {
    const buf = Buffer.alloc(HEADER_SIZE);
    const { bytesRead } = await fh.read(buf, 0, HEADER_SIZE, 0);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

/** Segments a reader keeps for reads that come back to them (SFTP's 32 KiB reads: 4 per segment). */
const CACHED_SEGMENTS = 8;
/** Plaintext bytes a reader's cache may hold alive (its segments are views of whole runs). */
const CACHED_BYTES = 2 * 1024 * 1024;
/**
 * Segments read with one pread and opened in place: an FTP read (896 KiB) is one run.
 * Measured, bench/ftp.sh 512 MiB downloads (A/B twice): 682–766 MB/s against 588–589 with one
 * pread per segment and a Buffer.concat of the segments, at the same peak RSS. Opening runs on
 * the sealing worker thread (since replaced) used ~15% less CPU but added 45–60 MiB of peak RSS
 * (its garbage of decrypted segments, which its heap collected late) for no measurable speed;
 * opening them in place on the thread pool (native.ts) made curl's 1 GiB FTP downloads 0.86–1.11
 * s against 0.98–1.59 s, with 20–35% less CPU and no more memory (3 interleaved runs of 3).
 * Seven, not eight: a run's buffer stays under 1 MiB, lafsd's glibc mmap threshold
 * (src/cli/main.ts). At eight, runs were fresh mappings, faulted in and unmapped for every MiB
 * downloaded: curl's 1 GiB FTP downloads took 2.0–8.0 s instead of 1.4–2.7 s, with 1.6–4.2 s of
 * main-thread CPU (interleaved runs, 2026-12-05).
 */
const MAX_RUN = 7;

/** One run's segments; the cache's entries are views of its plaintext. */
interface Run {
  plainLength: number;
  /** Its buffer when it is a full run, used again once nothing holds it (buffer-pool.ts). */
  buffer?: PooledBuffer | undefined;
  /** Gone from its reader's cache (the cache's hold on `buffer` is released). */
  left?: boolean;
}

/**
 * Buffers of full runs (MAX_RUN segments, what sequential reads load), used again. 8 OpenSSH
 * clients getting 256 MiB each at once from a fresh `lafsd run`, 3 rounds: peak RSS 142-146 MiB
 * and 4.9-5.0 s a round, against 198-207 MiB and 5.5-6.1 s with a new buffer per run.
 */
const runBuffers = new BufferPool(MAX_RUN * (SEGMENT_SIZE + TAG));

/** Run buffers made and reused since the process started, and free now (for tests and metrics). */
export function runBufferCounts(): { made: number; reused: number; free: number } {
  return { ...runBuffers.counts, free: runBuffers.freeCount };
}

/** `run` leaves its reader's cache: out of all readers' total, and the cache's hold on its buffer goes, once. */
function leaveCache(run: Run): void {
  cachedRuns.remove(run);
  if (run.left) return;
  run.left = true;
  run.buffer?.release();
}

/**
 * Plaintext all readers' caches together may keep: beyond it the least recently used runs are
 * dropped, and a reader that comes back to one reads it again. Each reader's own bound kept one
 * reader small, not many: 500 open handles that had each read 32 KiB from the start of a file
 * held a 1 MiB run apiece, and grew lafsd by 520 MB (found on 2026-12-05; a session may hold
 * 512 handles). A download keeps about two runs.
 */
const CACHED_BYTES_TOTAL = 64 * 1024 * 1024;

/** The runs every reader's cache keeps, least recently used first. */
class CachedRuns {
  private readonly runs = new Map<Run, ObjectReader>();
  private bytes = 0;

  get heldBytes(): number {
    return this.bytes;
  }

  /** A new run of `reader`: older ones of any reader go while the total is over the bound. */
  add(run: Run, reader: ObjectReader): void {
    this.runs.set(run, reader);
    this.bytes += run.plainLength;
    for (const [oldest, owner] of this.runs) {
      if (this.bytes <= CACHED_BYTES_TOTAL || oldest === run) break;
      this.remove(oldest);
      owner.dropRun(oldest);
    }
  }

  touch(run: Run): void {
    const owner = this.runs.get(run);
    if (!owner) return;
    this.runs.delete(run);
    this.runs.set(run, owner);
  }

  remove(run: Run): void {
    if (this.runs.delete(run)) this.bytes -= run.plainLength;
  }
}

const cachedRuns = new CachedRuns();

/** Plaintext bytes all readers' caches hold now (for tests). */
export function cachedRunBytes(): number {
  return cachedRuns.heldBytes;
}

/** Random-access reader of one immutable object; every segment is verified before use. */
export class ObjectReader implements FileReader {
  private readonly cache = new Map<number, { run: Run; plain: Promise<Buffer> }>();
  private readonly reads = new Set<Promise<unknown>>();
  private closed = false;
  /** Where the last read ended: a read that starts there is sequential. */
  private nextOffset = 0;

  private constructor(
    private readonly file: FileHandle,
    private readonly dataKey: Buffer,
    readonly size: number,
  ) {}

  /** Opens the object of `cap`: a small object from the database, or an object file. */
  static async open(objectsDir: string, cap: ChkFields, small?: SmallObjects): Promise<FileReader> {
    const row = small?.get(chkStorageIndex(cap.key));
    if (row) return new BufferReader(openSmallObject(row, cap));
    return ObjectReader.openFile(objectsDir, cap);
  }

  private static async openFile(objectsDir: string, cap: ChkFields): Promise<ObjectReader> {
    let file: FileHandle;
    try {
      file = await fsp.open(objectPath(objectsDir, chkStorageIndex(cap.key)), 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        throw new GridError('UNAVAILABLE', 'the file data is not in this store');
      }
      throw new GridError('UNAVAILABLE', `cannot read the store: ${(err as Error).message}`, { cause: err });
    }
    try {
      const header = Buffer.alloc(HEADER_SIZE);
      const { bytesRead } = await file.read(header, 0, HEADER_SIZE, 0);
      return new ObjectReader(file, dataKeyOf(header.subarray(0, bytesRead), cap), cap.size);
    } catch (err) {
      await file.close();
      throw err;
    }
  }

  async read(offset: number, length: number): Promise<Buffer> {
    if (this.closed) throw new GridError('INVALID', 'reader is closed');
    const end = Math.min(this.size, offset + Math.max(0, length));
    if (offset >= end) return Buffer.alloc(0);
    const first = Math.floor(offset / SEGMENT_SIZE);
    const last = Math.floor((end - 1) / SEGMENT_SIZE);
    // A read that starts where the previous one ended loads whole runs (reads ahead): OpenSSH's
    // 255 KiB READs then mostly fall inside one run and are views of it, where runs cut to each
    // read's own segments made nearly every read join parts of two buffers (a copy).
    const sequential = offset === this.nextOffset;
    this.nextOffset = end;
    const runEnd = (i: number) => (sequential ? Math.min(Math.floor((this.size - 1) / SEGMENT_SIZE), i + MAX_RUN - 1) : last);
    // Segments not in the cache load as runs (their preads run in parallel in the thread pool).
    const segments: Promise<Buffer>[] = [];
    const used = new Set<Run>();
    for (let i = first; i <= last; ) {
      const hit = this.cache.get(i);
      if (hit) {
        this.cache.delete(i); // refresh its place in the LRU order
        this.cache.set(i, hit);
        cachedRuns.touch(hit.run);
        segments.push(hit.plain);
        if (!used.has(hit.run)) {
          used.add(hit.run);
          hit.run.buffer?.hold(); // a later load of this read may push it out of the cache
        }
        i++;
        continue;
      }
      let count = 1;
      const limit = runEnd(i);
      while (count < MAX_RUN && i + count <= limit && !this.cache.has(i + count)) count++;
      const loaded = this.loadRun(i, count); // held for this read already
      segments.push(...loaded.segments.slice(0, last - i + 1));
      used.add(loaded.run);
      i += count;
    }
    // The runs this read uses keep their buffers until it has made its views: one may leave the
    // cache (a later load, or another reader's) while this read waits.
    try {
      const parts = (await Promise.all(segments)).map((plain, k) => {
        const segStart = (first + k) * SEGMENT_SIZE;
        return plain.subarray(Math.max(0, offset - segStart), Math.min(plain.length, end - segStart));
      });
      const data = joinViews(parts);
      for (const run of used) {
        if (run.buffer && data.buffer === run.buffer.bytes.buffer) {
          run.buffer.hold(); // until the consumer gives the view back
          lend(data, run.buffer);
        }
      }
      return data;
    } finally {
      for (const run of used) run.buffer?.release();
    }
  }

  /**
   * Starts loading a run; its segments' plaintexts, which the cache keeps too. Its buffer, if it
   * has one, comes with a hold for the caller besides the cache's.
   */
  private loadRun(first: number, count: number): { run: Run; segments: Promise<Buffer>[] } {
    const layout = runLayout(first, count, this.size);
    const run: Run = { plainLength: layout.plainLength, buffer: count === MAX_RUN ? runBuffers.take() : undefined };
    run.buffer?.hold();
    const plain = this.openRun(first, layout, run.buffer);
    const tracked = plain.catch(() => this.dropRun(run));
    this.reads.add(tracked);
    void tracked.then(() => this.reads.delete(tracked));
    const segments: Promise<Buffer>[] = [];
    for (let k = 0; k < count; k++) {
      const from = k * SEGMENT_SIZE;
      const segment = plain.then((b) => b.subarray(from, from + SEGMENT_SIZE));
      segments.push(segment);
      this.cache.set(first + k, { run, plain: segment });
    }
    this.evict();
    if (!this.closed) cachedRuns.add(run, this);
    return { run, segments };
  }

  /** Drops the least recently used segments while too many are kept, or too many bytes held. */
  private evict(): void {
    for (;;) {
      const runs = new Set<Run>();
      for (const entry of this.cache.values()) runs.add(entry.run);
      let held = 0;
      for (const run of runs) held += run.plainLength;
      if (this.cache.size <= CACHED_SEGMENTS && held <= CACHED_BYTES) return;
      const key = this.cache.keys().next().value!;
      const { run } = this.cache.get(key)!;
      this.cache.delete(key);
      if (!this.holds(run)) leaveCache(run);
    }
  }

  private holds(run: Run): boolean {
    for (const entry of this.cache.values()) if (entry.run === run) return true;
    return false;
  }

  /** Forgets every segment of `run` (failed to load, or dropped to keep all caches in bounds). */
  dropRun(run: Run): void {
    for (const [i, entry] of this.cache) if (entry.run === run) this.cache.delete(i);
    leaveCache(run);
  }

  /**
   * Reads a run of segments with one pread, and verifies and decrypts them in place, on the thread
   * pool (native.ts): the event loop only sends what comes back, while the next run is opened.
   */
  private async openRun(
    first: number, { position, sealedLength, plainLength }: ReturnType<typeof runLayout>, recycled: PooledBuffer | undefined,
  ): Promise<Buffer> {
    const run = recycled ? recycled.bytes.subarray(0, sealedLength) : Buffer.allocUnsafe(sealedLength);
    recycled?.hold(); // the thread pool writes into it until the callback
    try {
      const status = await new Promise<number>((resolve, reject) =>
        sealAddon().open(this.file.fd, this.dataKey, first, plainLength, position, SEGMENT_SIZE, run, (err, found) => (err ? reject(err) : resolve(found))),
      );
      if (status === TRUNCATED) throw truncated();
      if (status !== OPENED) throw failedCheck();
      return run.subarray(0, plainLength);
    } catch (err) {
      recycled?.spoil();
      throw err;
    } finally {
      recycled?.release();
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all(this.reads);
    for (const { run } of this.cache.values()) leaveCache(run);
    this.cache.clear();
    await this.file.close();
  }
}

/** `parts` as one buffer: a view when they lie back to back in one buffer (a run), else a copy. */
function joinViews(parts: Buffer[]): Buffer {
  if (parts.length === 1) return parts[0]!;
  const head = parts[0]!;
  let length = head.length;
  for (let k = 1; k < parts.length; k++) {
    const p = parts[k]!;
    if (p.buffer !== head.buffer || p.byteOffset !== head.byteOffset + length) return Buffer.concat(parts);
    length += p.length;
  }
  return Buffer.from(head.buffer, head.byteOffset, length);
}

/**
 * A small object's bytes: the header and its one sealed segment. Deterministic by default (the
 * data key and the header's nonce come from the read key); `keys` as older versions made them.
 */
export function smallObject(
  readKey: Buffer, plain: Buffer,
  keys = { dataKey: taggedHash('lafsd_chk_small_data_key_v1', readKey), nonce: taggedHash('lafsd_chk_small_header_nonce_v1', readKey, 12) },
): Buffer {
  const header = buildHeader(readKey, keys.dataKey, plain.length, keys.nonce);
  return Buffer.concat([header, sealSegment(keys.dataKey, 0, plain)]);
}

/** Verifies and decrypts a small object (header and its single segment) against its cap. */
function openSmallObject(object: Buffer, cap: ChkFields): Buffer {
  const dataKey = dataKeyOf(object.subarray(0, HEADER_SIZE), cap);
  const sealed = object.subarray(HEADER_SIZE);
  if (sealed.length !== cap.size + TAG) throw truncated();
  return openSegment(dataKey, 0, sealed);
}

/** Reader over bytes held in memory (LIT caps, small objects). */
export class BufferReader implements FileReader {
  constructor(private readonly data: Buffer) {}
  get size(): number {
    return this.data.length;
  }
  async read(offset: number, length: number): Promise<Buffer> {
    return this.data.subarray(offset, Math.min(this.data.length, offset + Math.max(0, length)));
  }
  async close(): Promise<void> {}
}
