// A sparse temporary file for files written out of order, encrypted with a key that exists only
// in memory (AES-256-CTR, positioned by offset), so plaintext never reaches the disk (Tahoe
// #1083). It is removed on close; a crash leaves only ciphertext nobody can read.
import { createCipheriv, randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { join } from 'node:path';

export class SpillFile {
  private readonly key = randomBytes(32);
  private readonly nonce = randomBytes(8);

  private constructor(
    private readonly file: FileHandle,
    private readonly path: string,
  ) {}

  static async create(dir: string): Promise<SpillFile> {
    await fsp.mkdir(dir, { recursive: true, mode: 0o700 });
    const path = join(dir, `spill-${process.pid}-${randomBytes(8).toString('hex')}`);
    const file = await fsp.open(path, 'wx+', 0o600);
    return new SpillFile(file, path);
  }

  /** XORs `data` with the keystream at `offset` (encryption and decryption are the same). */
  private crypt(offset: number, data: Buffer): Buffer {
    const block = Math.floor(offset / 16);
    const iv = Buffer.alloc(16);
    this.nonce.copy(iv, 0);
    iv.writeBigUInt64BE(BigInt(block), 8);
    const cipher = createCipheriv('aes-256-ctr', this.key, iv);
    const skip = offset - block * 16;
    if (skip) cipher.update(Buffer.alloc(skip));
    return cipher.update(data);
  }

  async write(offset: number, data: Buffer): Promise<void> {
    const enc = this.crypt(offset, data);
    await this.file.write(enc, 0, enc.length, offset);
  }

  /** Reads exactly `length` bytes that were written before (callers track what was written). */
  async read(offset: number, length: number): Promise<Buffer> {
    const buf = Buffer.alloc(length);
    const { bytesRead } = await this.file.read(buf, 0, length, offset);
    return this.crypt(offset, buf.subarray(0, bytesRead));
  }

  async dispose(): Promise<void> {
    await this.file.close().catch(() => {});
    await fsp.rm(this.path, { force: true });
  }
}
