// Streaming immutable uploads: the bytes of an unlinked `PUT /uri?format=CHK` are sent as they
// are written, with backpressure (write() resolves once the HTTP client has taken the chunk),
// so memory does not grow with the file. Files of up to 55 bytes never reach the node: Tahoe
// puts such files into a URI:LIT: cap itself, and so do we.
import { LIT_MAX, literalCap, parseCap } from '../../caps/index.js';
import { GridError } from '../errors.js';
import type { UploadSink } from '../types.js';
import { WatchdogError, type TahoeHttp } from './http.js';
import { uploadRequest } from './requests.js';

/**
 * An async iterable fed by push(): each push resolves when the consumer has taken its chunk.
 * Once the consumer has started, a chunk it does not take for `idleMs` calls onStall (the
 * node stopped reading).
 */
export class Feed implements AsyncIterable<Buffer> {
  private readonly queue: Array<{ chunk: Buffer; resolve: () => void; reject: (e: unknown) => void; timer?: NodeJS.Timeout }> = [];
  private wake?: () => void;
  private ended = false;
  private started = false;
  private failure?: unknown;

  constructor(
    private readonly idleMs: number,
    private readonly onStall: () => void,
  ) {}

  push(chunk: Buffer): Promise<void> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    if (this.ended) return Promise.reject(new GridError('INVALID', 'upload already finished'));
    return new Promise<void>((resolve, reject) => {
      const item: (typeof this.queue)[number] = { chunk, resolve, reject };
      if (this.started) this.arm(item);
      this.queue.push(item);
      this.wake?.();
    });
  }

  /**
   * The stall clock runs only once the HTTP client has started taking the body: an upload
   * waiting for a free connection is queued, not stalled.
   */
  private arm(item: (typeof this.queue)[number]): void {
    item.timer = setTimeout(() => this.onStall(), this.idleMs);
    item.timer.unref();
  }

  end(): void {
    this.ended = true;
    this.wake?.();
  }

  fail(err: unknown): void {
    if (this.failure !== undefined) return;
    this.failure = err;
    for (const item of this.queue.splice(0)) {
      clearTimeout(item.timer);
      item.reject(err);
    }
    this.wake?.();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Buffer> {
    this.started = true;
    for (const item of this.queue) this.arm(item);
    for (;;) {
      if (this.failure !== undefined) throw this.failure;
      const item = this.queue.shift();
      if (item) {
        clearTimeout(item.timer);
        item.resolve();
        yield item.chunk;
        continue;
      }
      if (this.ended) return;
      await new Promise<void>((resolve) => (this.wake = resolve));
      this.wake = undefined;
    }
  }
}

type State = 'open' | 'finishing' | 'done' | 'aborted' | 'failed';

export class WebApiUpload implements UploadSink {
  private state: State = 'open';
  private written = 0;
  /** The first bytes, held back until we know the file is too big for a LIT cap. */
  private head: Buffer[] = [];
  private headBytes = 0;
  private feed?: Feed;
  private controller?: AbortController;
  private response?: Promise<string>;
  private failure?: GridError;

  constructor(
    private readonly http: TahoeHttp,
    private readonly idleMs: number,
  ) {}

  get bytesWritten(): number {
    return this.written;
  }

  async write(data: Buffer): Promise<void> {
    if (this.failure) throw this.failure;
    if (this.state !== 'open') throw new GridError('INVALID', `upload is ${this.state}`);
    if (data.length === 0) return;
    // A copy: the caller may reuse its buffer once write() resolves, while the socket may
    // still hold ours.
    const chunk = Buffer.from(data);
    this.written += chunk.length;
    if (!this.feed) {
      this.head.push(chunk);
      this.headBytes += chunk.length;
      if (this.headBytes <= LIT_MAX) return;
      this.start();
      const head = Buffer.concat(this.head);
      this.head = [];
      return this.push(head);
    }
    return this.push(chunk);
  }

  private async push(chunk: Buffer): Promise<void> {
    try {
      await this.feed!.push(chunk);
    } catch (err) {
      // The request's own failure (node gone, stalled, refused) is the one to report.
      await this.response?.catch(() => {});
      throw this.failure ?? this.http.unavailable(err);
    }
  }

  private start(): void {
    const controller = new AbortController();
    const feed = new Feed(this.idleMs, () => {
      this.fail(new GridError('UNAVAILABLE', `the upload to the Tahoe-LAFS node at ${this.http.origin} made no progress for ${Math.round(this.idleMs / 1000)} s`));
      controller.abort();
    });
    this.feed = feed;
    this.controller = controller;
    this.response = (async () => {
      // No fixed wait for the answer: the body's stalls fail the feed, and after the last byte
      // finish() watches the node while it stores the file (TahoeHttp.watched).
      const answer = await this.http.open(uploadRequest('CHK'), {
        body: feed,
        signal: controller.signal,
        headersTimeoutMs: 0,
        pool: 'stream',
      });
      const { body } = await this.http.finish(answer, 4096);
      return body.toString('utf8').trim();
    })();
    this.response.catch((err: unknown) => {
      this.fail(err instanceof GridError ? err : this.http.unavailable(err));
    });
  }

  private fail(err: GridError): void {
    if (!this.failure) this.failure = err;
    this.feed?.fail(this.failure);
  }

  async finish(): Promise<string> {
    if (this.failure) throw this.failure;
    if (this.state !== 'open') throw new GridError('INVALID', `upload is ${this.state}`);
    this.state = 'finishing';
    try {
      if (!this.feed) {
        // Tiny files live in the cap itself, exactly as Tahoe makes them.
        this.state = 'done';
        return literalCap(Buffer.concat(this.head));
      }
      this.feed.end();
      let capText: string;
      try {
        // Tahoe hashes, encodes and pushes the file only now: wait while it answers and progresses.
        capText = await this.http.watched(this.controller!, { uploadSize: this.written }, () => this.response!);
      } catch (err) {
        if (err instanceof WatchdogError) throw err; // why the wait was given up, rather than "aborted"
        throw this.failure ?? (err instanceof GridError ? err : this.http.unavailable(err));
      }
      const cap = parseCap(capText);
      if (cap.type !== 'CHK' && cap.type !== 'LIT') {
        throw new GridError('UNAVAILABLE', 'unexpected answer from the Tahoe-LAFS node: the upload did not return an immutable file cap');
      }
      const size = cap.type === 'CHK' ? cap.size : cap.data.length;
      if (size !== this.written) {
        throw new GridError('CORRUPT', `the node stored ${size} bytes of the ${this.written} bytes sent`);
      }
      this.state = 'done';
      return capText;
    } catch (err) {
      this.state = 'failed';
      throw err;
    }
  }

  async abort(): Promise<void> {
    if (this.state === 'done' || this.state === 'aborted') return;
    this.state = 'aborted';
    this.head = [];
    this.fail(new GridError('INVALID', 'upload aborted'));
    this.controller?.abort();
    // The node drops a PUT whose body never ended; nothing was linked either way.
    await this.response?.catch(() => {});
  }
}
