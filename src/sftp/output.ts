// Writes replies to the channel and decides when to cork and uncork the socket underneath.
//
// ssh2 turns every channel write into its own SSH packet and socket write, so a burst of 64 small
// STATUS replies would be 64 send syscalls (node-libs.md §4). Corking the socket merges them.
// Where to uncork matters (node-libs.md §3, §5.2): a blanket setImmediate adds latency to every
// request/reply round trip, which costs 1,000 sequential small files a third of their speed.
//
// Strategy 'idle' (default): cork when a batch of incoming packets is processed or a reply is
// written; uncork at once when no request is left in flight (the client is now waiting for us,
// so nothing is gained by holding), else at the end of the current event-loop turn (setImmediate
// runs after every I/O callback of this turn, so replies completed together leave together), or
// as soon as FLUSH_BYTES are held. 'tick' uncorks at the end of each callback (process.nextTick);
// 'none' never corks. The last two exist to measure the first against.
import type { Writable } from 'node:stream';
import { giveBack } from '../util/lent-buffers.js';

export type CorkStrategy = 'idle' | 'tick' | 'none';

export type Reply = Buffer | readonly [Buffer, Uint8Array];

/** Bytes held corked before we flush anyway: larger bursts gain nothing more from merging. */
const FLUSH_BYTES = 256 * 1024;

export interface OutputOptions {
  cork?: (() => void) | undefined;
  uncork?: (() => void) | undefined;
  strategy?: CorkStrategy | undefined;
  /** True when no request is in flight. */
  idle: () => boolean;
  /**
   * Called each time the stream has taken a reply off its buffer (sent it on). ssh2's channels
   * buffer 2 MiB before write() returns false, so replies held by a closed SSH window can leave
   * without a 'drain': whoever counts the stream's buffered bytes learns of it here.
   */
  sent?: (() => void) | undefined;
}

export class ReplyOutput {
  private corked = false;
  private heldBytes = 0;
  private batches = 0;
  private flushScheduled = false;
  private readonly strategy: CorkStrategy;
  private readonly scheduledFlush = (): void => {
    this.flushScheduled = false;
    this.flush();
  };

  /**
   * ssh2 closes the stream of a channel whose connection dropped without ending or destroying
   * it, and then never calls back a write: what we wrote would pile up unsent.
   */
  private closed = false;

  constructor(
    private readonly stream: Writable,
    private readonly opts: OutputOptions,
  ) {
    this.strategy = opts.cork && opts.uncork ? (opts.strategy ?? 'idle') : 'none';
    stream.once('close', () => (this.closed = true));
  }

  /** The session starts handling packets that arrived together. */
  beginBatch(): void {
    this.batches++;
    this.hold();
  }

  endBatch(): void {
    this.batches--;
    this.settle();
  }

  /** Nothing written to the stream can reach the client any more (closed or destroyed). */
  get streamGone(): boolean {
    return this.closed || this.stream.destroyed;
  }

  /** Writes one reply; false if the stream can no longer take it (the peer is gone). */
  write(reply: Reply): boolean {
    const s = this.stream;
    if (this.streamGone || s.writableEnded) return false;
    this.hold();
    const sent = this.opts.sent;
    if (Buffer.isBuffer(reply)) {
      s.write(reply, sent);
      this.heldBytes += reply.length;
    } else {
      // DATA: header and payload as two writes, so the payload is never copied; under cork (or
      // writev) they leave together. Once written (ssh2 has copied it into its packets), the
      // payload goes back to the store, which may use its buffer again (util/lent-buffers.ts).
      const payload = reply[1];
      s.write(reply[0]);
      s.write(payload, () => {
        giveBack(payload);
        sent?.();
      });
      this.heldBytes += reply[0].length + reply[1].length;
    }
    this.settle();
    return true;
  }

  /** Called when a request finished without a reply of its own being written (or after one). */
  settle(): void {
    if (!this.corked) return;
    if (this.heldBytes >= FLUSH_BYTES) return this.flush();
    if (this.batches > 0) return; // endBatch() decides
    if (this.strategy === 'idle' && this.opts.idle()) return this.flush();
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    if (this.strategy === 'tick') process.nextTick(this.scheduledFlush);
    else setImmediate(this.scheduledFlush);
  }

  /** Uncorks now if corked. */
  flush(): void {
    if (!this.corked) return;
    this.corked = false;
    this.heldBytes = 0;
    this.opts.uncork!();
  }

  private hold(): void {
    if (this.corked || this.strategy === 'none') return;
    this.corked = true;
    this.heldBytes = 0;
    this.opts.cork!();
  }
}
