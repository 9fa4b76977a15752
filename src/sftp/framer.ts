// Splits the SFTP subsystem byte stream into packets.
//   uint32   length    of everything that follows (type byte included)
//   byte     type
//   byte[length-1] body
// The framer hands out the `length` bytes after the length field ("payload"), type byte first.
import { MAX_PACKET, PacketType } from './constants.js';

const WRITE_TYPE = PacketType.WRITE;

/** Default bound on bytes held (incomplete plus complete-but-unpulled packets). */
export const DEFAULT_MAX_BUFFERED = 8 * 1024 * 1024;

export interface FramerOptions {
  /** Largest accepted payload length; default MAX_PACKET. */
  maxPacket?: number;
  /**
   * Largest number of bytes the framer will hold; default DEFAULT_MAX_BUFFERED. Exceeding it is
   * fatal. This is a safety net against a peer that ignores flow control: a session applying
   * backpressure should pause its source well before, watching `bufferedBytes`.
   */
  maxBuffered?: number;
  /**
   * Told each pushed chunk the framer no longer refers to (all its bytes handed out, or dropped
   * after a fatal error). Views handed out in packets may still refer to it.
   */
  onDrop?: (chunk: Buffer) => void;
}

export type FrameResult =
  /**
   * One complete payload, type byte first. A WRITE that arrived in several chunks comes as its
   * first chunk's part in `payload` (the whole request header is in it) and the rest of its data
   * in `more`, uncopied: decodeRequest(payload, more) joins them without copying the data.
   */
  | { kind: 'packet'; payload: Buffer; more?: Buffer[] }
  /** No complete packet buffered; push more bytes. */
  | { kind: 'need-more' }
  /**
   * The stream cannot be framed any more (length 0, length above maxPacket, or too many bytes
   * buffered). Sticky: every later `next()` returns the same result. The session disconnects.
   */
  | { kind: 'fatal'; reason: string };

/**
 * Incremental packet framer: `push()` each chunk as it arrives, then call `next()` until it
 * returns something other than 'packet'.
 *
 * Cost is linear in the bytes pushed: chunks are queued, not concatenated. A packet that lies
 * inside one chunk is returned as a subarray of that chunk (no copy); one that spans chunks is
 * copied once into a buffer of exactly its size. So `push()` hands the chunk over: the caller must
 * not modify it afterwards, and a long-lived payload (or subarray of one) keeps its chunk alive.
 */
export class SftpFramer {
  private readonly maxPacket: number;
  private readonly maxBuffered: number;
  // Queue of chunks; `head` indexes the first live chunk and `headOffset` the first unread byte in
  // it. Indexing instead of shift() keeps dequeueing O(1).
  private chunks: Buffer[] = [];
  private head = 0;
  private headOffset = 0;
  private buffered = 0;
  private failure: { kind: 'fatal'; reason: string } | undefined;
  private readonly onDrop: ((chunk: Buffer) => void) | undefined;

  constructor(opts: FramerOptions = {}) {
    this.maxPacket = opts.maxPacket ?? MAX_PACKET;
    this.maxBuffered = opts.maxBuffered ?? DEFAULT_MAX_BUFFERED;
    this.onDrop = opts.onDrop;
  }

  /** Bytes received and not yet handed out as packets. */
  get bufferedBytes(): number {
    return this.buffered;
  }

  /** The fatal result, once framing has failed. */
  get fatal(): { kind: 'fatal'; reason: string } | undefined {
    return this.failure;
  }

  push(chunk: Buffer): void {
    if (this.failure || chunk.length === 0) {
      this.onDrop?.(chunk);
      return;
    }
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    if (this.buffered > this.maxBuffered) {
      this.fail(`more than ${this.maxBuffered} bytes buffered`);
    }
  }

  next(): FrameResult {
    if (this.failure) return this.failure;
    if (this.buffered < 4) return NEED_MORE;
    const len = this.peekLength();
    if (len === 0) return this.fail('packet length 0');
    if (len > this.maxPacket) return this.fail(`packet length ${len} exceeds ${this.maxPacket}`);
    if (this.buffered < 4 + len) return NEED_MORE;
    this.skip(4);
    const inFirst = this.chunks[this.head]!.length - this.headOffset;
    if (inFirst < len && this.writeHeaderIn(inFirst)) return { kind: 'packet', payload: this.take(inFirst), more: this.takeParts(len - inFirst) };
    return { kind: 'packet', payload: this.take(len) };
  }

  /**
   * The packet at the read position is a WRITE whose header (type, id, handle, offset, data
   * length) lies within its first `inFirst` bytes. Such packets are not copied into one buffer:
   * a 32 KiB WRITE spans two SSH packets, and copying each would be most of the session's
   * copying and garbage.
   */
  private writeHeaderIn(inFirst: number): boolean {
    const c = this.chunks[this.head]!;
    const at = this.headOffset;
    if (inFirst < 9 || c[at] !== WRITE_TYPE) return false;
    const handleLength = c.readUInt32BE(at + 5);
    return inFirst >= 1 + 4 + 4 + handleLength + 8 + 4;
  }

  /** The next `n` bytes as views of the chunks that hold them; the caller checked they are buffered. */
  private takeParts(n: number): Buffer[] {
    const parts: Buffer[] = [];
    while (n > 0) {
      const c = this.chunks[this.head]!;
      const part = Math.min(c.length - this.headOffset, n);
      parts.push(c.subarray(this.headOffset, this.headOffset + part));
      n -= part;
      this.buffered -= part;
      if (this.headOffset + part === c.length) this.dropHead();
      else this.headOffset += part;
    }
    return parts;
  }

  private fail(reason: string): FrameResult {
    this.failure = { kind: 'fatal', reason };
    // Drop the backlog: nothing more will be read from it.
    if (this.onDrop) for (let i = this.head; i < this.chunks.length; i++) this.onDrop(this.chunks[i]!);
    this.chunks = [];
    this.head = 0;
    this.headOffset = 0;
    this.buffered = 0;
    return this.failure;
  }

  /** The uint32 at the read position; the caller has checked 4 bytes are buffered. */
  private peekLength(): number {
    const first = this.chunks[this.head]!;
    if (first.length - this.headOffset >= 4) return first.readUInt32BE(this.headOffset);
    // The length field straddles chunks (rare): assemble it byte by byte.
    let v = 0;
    let got = 0;
    let i = this.head;
    let off = this.headOffset;
    while (got < 4) {
      const c = this.chunks[i]!;
      if (off >= c.length) {
        i++;
        off = 0;
        continue;
      }
      v = v * 256 + c[off++]!;
      got++;
    }
    return v;
  }

  private skip(n: number): void {
    while (n > 0) {
      const c = this.chunks[this.head]!;
      const avail = c.length - this.headOffset;
      if (avail > n) {
        this.headOffset += n;
        this.buffered -= n;
        return;
      }
      n -= avail;
      this.buffered -= avail;
      this.dropHead();
    }
  }

  /** Removes and returns the next `n` bytes; the caller has checked they are buffered. */
  private take(n: number): Buffer {
    const c = this.chunks[this.head]!;
    const avail = c.length - this.headOffset;
    if (avail >= n) {
      const out = c.subarray(this.headOffset, this.headOffset + n);
      if (avail === n) this.dropHead();
      else this.headOffset += n;
      this.buffered -= n;
      return out;
    }
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      const cur = this.chunks[this.head]!;
      const part = Math.min(cur.length - this.headOffset, n - filled);
      cur.copy(out, filled, this.headOffset, this.headOffset + part);
      filled += part;
      if (this.headOffset + part === cur.length) this.dropHead();
      else this.headOffset += part;
    }
    this.buffered -= n;
    return out;
  }

  private dropHead(): void {
    this.onDrop?.(this.chunks[this.head]!);
    this.chunks[this.head] = EMPTY; // release the chunk now, not at compaction
    this.head++;
    this.headOffset = 0;
    if (this.head === this.chunks.length) {
      this.chunks = [];
      this.head = 0;
    } else if (this.head >= 1024 && this.head * 2 >= this.chunks.length) {
      // Amortised O(1): compact only once the dead prefix is at least half the array.
      this.chunks = this.chunks.slice(this.head);
      this.head = 0;
    }
  }
}

const NEED_MORE: FrameResult = Object.freeze({ kind: 'need-more' });
const EMPTY = Buffer.alloc(0);
