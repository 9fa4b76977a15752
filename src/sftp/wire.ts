// SSH wire primitives (RFC 4251 §5) used by every SFTP parser and encoder:
//   byte      one octet
//   uint32    4 octets, big-endian
//   uint64    8 octets, big-endian
//   string    uint32 length, then that many octets (arbitrary bytes, not NUL-terminated)
//
// Readers throw WireError on a short read or an out-of-range value; the packet decoders catch it
// and turn it into a typed result, so no caller of the public decoders ever sees an exception.

/** A malformed field. Internal to the codec: public decoders catch it and return typed results. */
export class WireError extends Error {
  override readonly name = 'WireError';
}

const MAX_SAFE_BIG = BigInt(Number.MAX_SAFE_INTEGER);
const MAX_U64 = (1n << 64n) - 1n;

/** Sequential reader over one packet. Strings are subarrays of the packet (no copy). */
export class Reader {
  pos: number;

  constructor(
    readonly buf: Buffer,
    start = 0,
  ) {
    this.pos = start;
  }

  get remaining(): number {
    return this.buf.length - this.pos;
  }

  private need(n: number): void {
    if (this.buf.length - this.pos < n) throw new WireError('truncated packet');
  }

  u8(): number {
    this.need(1);
    return this.buf[this.pos++]!;
  }

  u32(): number {
    this.need(4);
    const v = this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  u64big(): bigint {
    this.need(8);
    const v = this.buf.readBigUInt64BE(this.pos);
    this.pos += 8;
    return v;
  }

  /** A uint64 that must fit a JS number exactly (offsets, lengths, sizes). */
  u64(): number {
    const v = this.u64big();
    if (v > MAX_SAFE_BIG) throw new WireError('uint64 value above 2^53-1');
    return Number(v);
  }

  string(): Buffer {
    const len = this.u32();
    this.need(len);
    const s = this.buf.subarray(this.pos, this.pos + len);
    this.pos += len;
    return s;
  }

  /** A string decoded as UTF-8 (invalid sequences become U+FFFD): names of extensions only. */
  text(): string {
    return this.string().toString('utf8');
  }

  rest(): Buffer {
    const r = this.buf.subarray(this.pos);
    this.pos = this.buf.length;
    return r;
  }

  /** Every field must be consumed exactly; extra bytes mean client and server disagree on layout. */
  end(): void {
    if (this.pos !== this.buf.length) throw new WireError('trailing bytes after packet fields');
  }
}

/**
 * Writer into a buffer of a size computed up front, so each packet is allocated once and every
 * byte written once. `finish()` checks the size computation was right.
 */
export class Writer {
  readonly buf: Buffer;
  pos = 0;

  constructor(size: number) {
    this.buf = Buffer.allocUnsafe(size);
  }

  u8(v: number): this {
    this.buf[this.pos++] = v;
    return this;
  }

  u32(v: number): this {
    checkU32(v);
    this.buf.writeUInt32BE(v, this.pos);
    this.pos += 4;
    return this;
  }

  u64(v: number | bigint): this {
    this.buf.writeBigUInt64BE(toU64(v), this.pos);
    this.pos += 8;
    return this;
  }

  bytes(b: Uint8Array): this {
    this.buf.set(b, this.pos);
    this.pos += b.length;
    return this;
  }

  string(b: Uint8Array): this {
    this.u32(b.length);
    return this.bytes(b);
  }

  finish(): Buffer {
    if (this.pos !== this.buf.length) {
      throw new Error(`sftp encoder size mismatch: wrote ${this.pos} of ${this.buf.length}`);
    }
    return this.buf;
  }
}

/** Encoded size of an SSH string holding `b`. */
export function stringSize(b: Uint8Array): number {
  return 4 + b.length;
}

// Encoders throw RangeError on values that cannot be represented: that is a bug in the caller,
// never something a peer can cause.
export function checkU32(v: number): void {
  if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) {
    throw new RangeError(`not a uint32: ${v}`);
  }
}

export function toU64(v: number | bigint): bigint {
  if (typeof v === 'number') {
    if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`not a uint64: ${v}`);
    return BigInt(v);
  }
  if (v < 0n || v > MAX_U64) throw new RangeError(`not a uint64: ${v}`);
  return v;
}

/** Field builders for hand-made (possibly malformed) packets in tests and raw clients. */
export function u32Bytes(v: number): Buffer {
  return new Writer(4).u32(v).finish();
}

export function u64Bytes(v: number | bigint): Buffer {
  return new Writer(8).u64(v).finish();
}

export function stringBytes(b: Uint8Array | string): Buffer {
  const bytes = typeof b === 'string' ? Buffer.from(b, 'utf8') : b;
  return new Writer(stringSize(bytes)).string(bytes).finish();
}
