// Immutable objects of the embedded store: one file per object under objects/, named by its
// storage index. Streamed in with bounded memory, read by range, verified on every read.
//
// Layout: a 128-byte header, then segments of SEGMENT_SIZE plaintext bytes, each stored as
// AES-256-GCM ciphertext ‖ 16-byte tag under a random data key (nonce = segment index).
// The data key sits in the header, wrapped under a key derived from the cap's read key.
//
// Why a random data key: the cap's key is convergent (a keyed hash of the whole plaintext, so
// equal bytes dedupe), which is only known after the last byte. Encrypting under a random key
// and wrapping it at the end keeps uploads single-pass; deduplication happens at the end by
// storage index (a second upload of the same bytes finds the first object and returns its cap).
import { createCipheriv, createDecipheriv, createHash, randomBytes, type Hash } from 'node:crypto';
import { constants as fsc, promises as fsp } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { b32encode, chkStorageIndex, formatCap, literalCap, LIT_MAX, taggedHash, type ChkFields } from '../../caps/index.js';
import { GridError } from '../errors.js';
import type { FileReader, UploadSink } from '../types.js';
import { classifyStorageError, type SpaceGuard } from './space.js';

/**
 * 128 KiB: big enough that per-segment work (a GCM setup, a syscall) is negligible, small
 * enough that a 32 KiB SFTP read decrypts little it does not need (readers cache segments).
 */
export const SEGMENT_SIZE = 128 * 1024;
const TAG = 16;
const HEADER_SIZE = 128;
const MAGIC = Buffer.from('LAFSD-CHK-v1\n\0\0\0', 'latin1'); // 16 bytes
const WRITES_IN_FLIGHT = 4;

export function objectPath(objectsDir: string, storageIndex: Buffer): string {
  const name = b32encode(storageIndex);
  return join(objectsDir, name.slice(0, 2), name);
}

function segmentNonce(index: number): Buffer {
  const nonce = Buffer.alloc(12);
  nonce.writeBigUInt64BE(BigInt(index), 4);
  return nonce;
}

function segmentOffset(index: number): number {
  return HEADER_SIZE + index * (SEGMENT_SIZE + TAG);
}

function wrapKey(readKey: Buffer): Buffer {
  return taggedHash('lafsd_chk_wrap_key_v1', readKey);
}

export function headerHash(header: Buffer): Buffer {
  return taggedHash('lafsd_chk_header_v1', header);
}

function buildHeader(readKey: Buffer, dataKey: Buffer, size: number): Buffer {
  const header = Buffer.alloc(HEADER_SIZE);
  MAGIC.copy(header, 0);
  header.writeUInt32BE(SEGMENT_SIZE, 16);
  header.writeBigUInt64BE(BigInt(size), 20);
  const nonce = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', wrapKey(readKey), nonce);
  cipher.setAAD(header.subarray(0, 28));
  const wrapped = Buffer.concat([cipher.update(dataKey), cipher.final()]);
  nonce.copy(header, 28);
  wrapped.copy(header, 40);
  cipher.getAuthTag().copy(header, 72);
  return header;
}

/** Checks a header against the cap and returns the data key. */
function openHeader(header: Buffer, readKey: Buffer, size: number): Buffer {
  if (header.length !== HEADER_SIZE || !header.subarray(0, 16).equals(MAGIC)) {
    throw new GridError('CORRUPT', 'stored file header is damaged');
  }
  if (header.readUInt32BE(16) !== SEGMENT_SIZE || Number(header.readBigUInt64BE(20)) !== size) {
    throw new GridError('CORRUPT', 'stored file header does not match the cap');
  }
  const decipher = createDecipheriv('aes-256-gcm', wrapKey(readKey), header.subarray(28, 40));
  decipher.setAAD(header.subarray(0, 28));
  decipher.setAuthTag(header.subarray(72, 88));
  try {
    return Buffer.concat([decipher.update(header.subarray(40, 72)), decipher.final()]);
  } catch {
    throw new GridError('CORRUPT', 'stored file header failed its integrity check');
  }
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
 * as object files. `putIfAbsent` stores durably and returns what is stored under that storage
 * index (an existing object with the same bytes wins: deduplication).
 */
export interface SmallObjects {
  get(storageIndex: Buffer): Buffer | undefined;
  putIfAbsent(storageIndex: Buffer, object: Buffer): Buffer;
}

export interface ObjectStoreDirs {
  objectsDir: string;
  /** This process's private temporary folder (in-progress uploads). */
  tmpDir: string;
  /** Refuses file data that would eat into the store's reserve (space.ts). */
  space?: SpaceGuard;
  /**
   * Called before an object file is published or reused by deduplication, so the garbage
   * collector sees it in use before anyone can find it (gc.ts).
   */
  claim?: (storageIndex: Buffer) => void;
}

/** A streaming upload of one immutable object; see the file comment for the format. */
export class ObjectUpload implements UploadSink {
  private readonly segment = Buffer.allocUnsafe(SEGMENT_SIZE);
  private fill = 0;
  private segmentIndex = 0;
  private readonly plaintextHash: Hash = createHash('sha256');
  private readonly dataKey = randomBytes(32);
  private file?: FileHandle;
  private tmpPath?: string;
  private readonly inFlight = new Set<Promise<void>>();
  private failure?: Error;
  private state: 'open' | 'finishing' | 'done' | 'aborted' = 'open';
  private written = 0;

  constructor(
    private readonly dirs: ObjectStoreDirs,
    private readonly convergenceSecret: Buffer,
    private readonly small?: SmallObjects,
  ) {}

  get bytesWritten(): number {
    return this.written;
  }

  async write(data: Buffer): Promise<void> {
    if (this.state !== 'open') throw new GridError('INVALID', `upload is ${this.state}`);
    if (this.failure) throw this.failure;
    this.plaintextHash.update(data);
    this.written += data.length;
    let pos = 0;
    while (pos < data.length) {
      const n = Math.min(SEGMENT_SIZE - this.fill, data.length - pos);
      data.copy(this.segment, this.fill, pos, pos + n);
      this.fill += n;
      pos += n;
      if (this.fill === SEGMENT_SIZE) await this.flushSegment();
    }
  }

  private sealSegment(index: number, plain: Buffer): Buffer {
    const cipher = createCipheriv('aes-256-gcm', this.dataKey, segmentNonce(index));
    return Buffer.concat([cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
  }

  private async ensureFile(): Promise<FileHandle> {
    if (!this.file) {
      this.tmpPath = join(this.dirs.tmpDir, `upload-${randomBytes(8).toString('hex')}`);
      this.file = await fsp.open(this.tmpPath, 'wx', 0o600);
    }
    return this.file;
  }

  /** Encrypts the buffered segment and starts writing it; waits when too many writes are queued. */
  private async flushSegment(): Promise<void> {
    await this.dirs.space?.claim(this.fill + TAG);
    const file = await this.ensureFile();
    const index = this.segmentIndex++;
    const sealed = this.sealSegment(index, this.segment.subarray(0, this.fill));
    this.fill = 0;
    const p: Promise<void> = file.write(sealed, 0, sealed.length, segmentOffset(index)).then(
      () => void this.inFlight.delete(p),
      (err: Error) => {
        this.inFlight.delete(p);
        this.failure ??= writeFailure(err);
      },
    );
    this.inFlight.add(p);
    while (this.inFlight.size >= WRITES_IN_FLIGHT) await Promise.race(this.inFlight);
    if (this.failure) throw this.failure;
  }

  async finish(): Promise<string> {
    if (this.state !== 'open') throw new GridError('INVALID', `upload is ${this.state}`);
    this.state = 'finishing';
    try {
      const size = this.written;
      if (size <= LIT_MAX) {
        // Tiny files live in the cap itself, exactly as Tahoe does it: nothing is stored.
        const cap = literalCap(this.segment.subarray(0, this.fill));
        await this.cleanup();
        this.state = 'done';
        return cap;
      }
      const digest = this.plaintextHash.digest();
      const params = Buffer.alloc(4);
      params.writeUInt32BE(SEGMENT_SIZE);
      const readKey = taggedHash('lafsd_chk_convergent_key_v1', Buffer.concat([this.convergenceSecret, params, digest]), 16);
      const storageIndex = chkStorageIndex(readKey);
      const header = buildHeader(readKey, this.dataKey, size);
      if (!this.file && this.small) {
        // Less than one segment: the object is a row in the index database, stored with one
        // transaction instead of a file, its fsync, a link and a directory fsync.
        const object = Buffer.concat([header, this.sealSegment(0, this.segment.subarray(0, this.fill))]);
        await this.dirs.space?.claim(object.length);
        const stored = this.small.putIfAbsent(storageIndex, object);
        this.state = 'done';
        return formatCap({ type: 'CHK', key: readKey, uebHash: headerHash(stored.subarray(0, HEADER_SIZE)), k: 1, n: 1, size });
      }
      if (this.fill > 0) await this.flushSegment();
      await Promise.all(this.inFlight);
      if (this.failure) throw this.failure;
      const file = this.file!;
      await file.write(header, 0, HEADER_SIZE, 0);
      await file.sync();
      await file.close();
      this.file = undefined;
      const finalHeader = await this.publish(storageIndex, readKey, size, header);
      this.state = 'done';
      const fields: ChkFields = { key: readKey, uebHash: headerHash(finalHeader), k: 1, n: 1, size };
      return formatCap({ type: 'CHK', ...fields });
    } catch (err) {
      await this.cleanup();
      this.state = 'aborted';
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
    this.dirs.claim?.(storageIndex);
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

  async abort(): Promise<void> {
    if (this.state === 'done' || this.state === 'aborted') return;
    this.state = 'aborted';
    await Promise.allSettled(this.inFlight);
    await this.cleanup();
  }

  private async cleanup(): Promise<void> {
    const file = this.file;
    this.file = undefined;
    if (file) await file.close().catch(() => {});
    const path = this.tmpPath;
    this.tmpPath = undefined;
    if (path) await fsp.rm(path, { force: true }).catch(() => {});
  }
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

const CACHED_SEGMENTS = 8;

/** Random-access reader of one immutable object; every segment is verified before use. */
export class ObjectReader implements FileReader {
  private readonly cache = new Map<number, Promise<Buffer>>();
  private readonly reads = new Set<Promise<unknown>>();
  private closed = false;

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
      if (bytesRead !== HEADER_SIZE || !headerHash(header).equals(cap.uebHash)) {
        throw new GridError('CORRUPT', 'stored file header does not match the cap');
      }
      return new ObjectReader(file, openHeader(header, cap.key, cap.size), cap.size);
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
    // All segments of a read load at once: the preads run in parallel in the threadpool.
    const loads: Promise<Buffer>[] = [];
    for (let i = first; i <= last; i++) loads.push(this.segment(i));
    const parts = (await Promise.all(loads)).map((plain, k) => {
      const segStart = (first + k) * SEGMENT_SIZE;
      return plain.subarray(Math.max(0, offset - segStart), Math.min(plain.length, end - segStart));
    });
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
  }

  private segment(index: number): Promise<Buffer> {
    let p = this.cache.get(index);
    if (p) {
      this.cache.delete(index); // refresh its place in the LRU order
      this.cache.set(index, p);
      return p;
    }
    p = this.loadSegment(index);
    this.cache.set(index, p);
    p.catch(() => this.cache.delete(index));
    while (this.cache.size > CACHED_SEGMENTS) this.cache.delete(this.cache.keys().next().value!);
    const tracked = p.catch(() => {});
    this.reads.add(tracked);
    void tracked.then(() => this.reads.delete(tracked));
    return p;
  }

  private async loadSegment(index: number): Promise<Buffer> {
    const plainLength = Math.min(SEGMENT_SIZE, this.size - index * SEGMENT_SIZE);
    const sealed = Buffer.allocUnsafe(plainLength + TAG);
    const { bytesRead } = await this.file.read(sealed, 0, sealed.length, segmentOffset(index));
    if (bytesRead !== sealed.length) throw new GridError('CORRUPT', 'stored file is truncated');
    const decipher = createDecipheriv('aes-256-gcm', this.dataKey, segmentNonce(index));
    decipher.setAuthTag(sealed.subarray(plainLength));
    try {
      return Buffer.concat([decipher.update(sealed.subarray(0, plainLength)), decipher.final()]);
    } catch {
      throw new GridError('CORRUPT', 'stored file failed its integrity check');
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all(this.reads);
    this.cache.clear();
    await this.file.close();
  }
}

/** Verifies and decrypts a small object (header and its single segment) against its cap. */
function openSmallObject(object: Buffer, cap: ChkFields): Buffer {
  const header = object.subarray(0, HEADER_SIZE);
  if (header.length !== HEADER_SIZE || !headerHash(header).equals(cap.uebHash)) {
    throw new GridError('CORRUPT', 'stored file header does not match the cap');
  }
  const dataKey = openHeader(header, cap.key, cap.size);
  const sealed = object.subarray(HEADER_SIZE);
  if (sealed.length !== cap.size + TAG) throw new GridError('CORRUPT', 'stored file is truncated');
  const decipher = createDecipheriv('aes-256-gcm', dataKey, segmentNonce(0));
  decipher.setAuthTag(sealed.subarray(cap.size));
  try {
    return Buffer.concat([decipher.update(sealed.subarray(0, cap.size)), decipher.final()]);
  } catch {
    throw new GridError('CORRUPT', 'stored file failed its integrity check');
  }
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
