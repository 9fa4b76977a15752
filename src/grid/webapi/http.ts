// The HTTP side of the web-API backend: one undici Agent (keep-alive, a bounded number of
// connections), bounded concurrency, timeouts, and network failures turned into UNAVAILABLE.
// Nothing here is sticky: a refused connection fails that request only, and the next request
// dials again, so operations work as soon as the node is back.
//
// Timeouts: a short request must be answered within `timeoutMs`. Work that legitimately takes
// longer on the node — storing an upload after its last byte (Tahoe hashes, encodes and pushes
// only then), publishing a mutable file, a directory update that Tahoe retries after an
// UncoordinatedWriteError (up to about 30 s of back-off) — is *watched* instead: while it runs,
// the node's status page (`/status/?t=json`) is asked every `timeoutMs`/4, and the exchange
// fails as soon as the node has answered nothing for `timeoutMs`, or an upload it lists has made
// no progress for `timeoutMs`; work without progress reports ends after `commitTimeoutMs`.
import type { Readable } from 'node:stream';
import { Agent, request, type Dispatcher } from 'undici';
import { GridError } from '../errors.js';
import { errorFromResponse } from './errors.js';
import { Limiter } from '../../util/limiter.js';
import type { WebRequest } from './requests.js';

export interface HttpOptions {
  /** Whole short requests (listings, links, small reads), and waiting for any answer's headers. */
  timeoutMs: number;
  /** Streamed bodies (uploads, large downloads) fail only after this long without progress. */
  idleTimeoutMs: number;
  /**
   * Longest watched exchange whose progress the node does not report (directory updates,
   * mutable publishes, uploads it does not list), while the node keeps answering.
   */
  commitTimeoutMs: number;
  /** Sockets to the node (keep-alive). */
  maxConnections: number;
  /** Short requests in flight at once; more wait in line. */
  maxRequests: number;
  /** Streaming uploads and mutable publishes in flight at once (each holds a connection long). */
  maxStreams: number;
  /** Ranged downloads in flight at once, over all readers (each holds a connection while it streams). */
  maxDownloads: number;
}

export interface Answer {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

export interface OpenAnswer {
  status: number;
  headers: Record<string, string>;
  body: Readable;
  /** Frees the concurrency slot; call once the body is consumed or abandoned. */
  release(): void;
}

export interface CallOptions {
  /** Largest body accepted (bytes). */
  maxBody?: number;
  /** False: no deadline for the whole exchange, only for headers and body inactivity. */
  deadline?: boolean;
  /** Watched instead of a deadline (see the top of this file): a directory update. */
  watch?: boolean;
}

/** A watched exchange (see the top of this file). */
export interface WatchOptions {
  /** An upload of this many bytes: its progress on the node's status page counts as life. */
  uploadSize?: number;
}

export interface StreamOptions {
  /** Request body: bytes or an async iterable (streamed with backpressure). */
  body?: Buffer | AsyncIterable<Buffer> | Readable;
  /** Content-Length when known (a streamed body is sent chunked otherwise). */
  contentLength?: number;
  /** Aborts the exchange (e.g. an upload given up, or a stalled body). */
  signal?: AbortSignal;
  /** How long to wait for headers once the body has been sent (0: no limit; a watched exchange). */
  headersTimeoutMs?: number;
  /** Which concurrency pool the request counts against ('none': the caller bounds it). */
  pool?: 'request' | 'stream' | 'download' | 'none';
}

const DEFAULT_MAX_BODY = 64 * 1024 * 1024;
const MAX_ERROR_BODY = 64 * 1024;

function flatHeaders(headers: Record<string, string | string[] | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) if (v !== undefined) out[k.toLowerCase()] = Array.isArray(v) ? v.join(', ') : v;
  return out;
}

const NETWORK_REASONS: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  EPIPE: 'connection lost',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'host name lookup failed',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ETIMEDOUT: 'connection timed out',
  UND_ERR_CONNECT_TIMEOUT: 'connection timed out',
  UND_ERR_HEADERS_TIMEOUT: 'no answer in time',
  UND_ERR_BODY_TIMEOUT: 'the answer stalled',
  UND_ERR_SOCKET: 'connection lost',
  UND_ERR_CLOSED: 'client closed',
  UND_ERR_DESTROYED: 'client closed',
  UND_ERR_ABORTED: 'request aborted',
};

/** Failures that happen before a request reaches the node: it cannot have acted on it. */
const NOT_SENT = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_CONNECT_TIMEOUT']);

/**
 * True when a failed request may still have been carried out by the node (its answer was lost,
 * it timed out, the connection broke): anything but an answer of the node itself and a request
 * that never left.
 */
export function outcomeUnknown(err: unknown): boolean {
  if (!(err instanceof GridError) || err.code !== 'UNAVAILABLE') return false;
  if ((err as { status?: unknown }).status !== undefined) return false; // the node's own answer
  for (let e: unknown = err; e; e = (e as { cause?: unknown }).cause) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && NOT_SENT.has(code)) return false;
  }
  return true;
}

function errCode(err: unknown): string | undefined {
  const e = err as { code?: unknown; cause?: { code?: unknown } } | undefined;
  if (typeof e?.code === 'string') return e.code;
  if (typeof e?.cause?.code === 'string') return e.cause.code;
  return undefined;
}

/** Lets go of an answer body we do not want (undici reports a destroyed body as an error event). */
export function discard(body: Readable): void {
  body.on('error', () => {});
  body.destroy();
}

/** Reads a body into memory, refusing more than `max` bytes. */
export async function readBody(body: Readable, max: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    total += chunk.length;
    if (total > max) {
      discard(body);
      throw new GridError('UNSUPPORTED', `the node's answer is larger than ${max} bytes`);
    }
    chunks.push(chunk);
  }
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, total);
}

/** A watched exchange given up on (see Liveness): the reason says why. */
export class WatchdogError extends GridError {
  constructor(message: string, cause: unknown) {
    super('UNAVAILABLE', message, { cause });
  }
}

interface Watcher {
  started: number;
  uploadSize?: number;
  /** Highest progress (0..3, Tahoe's hash + ciphertext + encode/push fractions) seen, and when. */
  progress?: { value: number; at: number };
  fail(reason: string): void;
}

/**
 * Watches long exchanges: a node that answers nothing for `timeoutMs` (a hung or stopped
 * process, a dead network) fails them, and so does an upload that the node's status page shows
 * stalled; a node that is still working keeps them going. The status page is asked only while
 * something is watched.
 */
class Liveness {
  /** When the node last answered anything (any request's headers, a status page). */
  private lastAnswer = 0;
  private readonly watchers = new Set<Watcher>();
  private timer?: NodeJS.Timeout;
  private probing = false;
  private lastProbe = 0;

  constructor(
    private readonly timeoutMs: number,
    private readonly capMs: number,
    private readonly probe: (timeoutMs: number) => Promise<Buffer | undefined>,
  ) {}

  heard(): void {
    this.lastAnswer = Date.now();
  }

  watch(w: Watcher): () => void {
    this.watchers.add(w);
    this.timer ??= setInterval(() => this.tick(), Math.min(1000, Math.max(50, this.timeoutMs / 10)));
    this.timer.unref();
    return () => {
      this.watchers.delete(w);
      if (this.watchers.size === 0 && this.timer) {
        clearInterval(this.timer);
        this.timer = undefined;
      }
    };
  }

  private tick(): void {
    const now = Date.now();
    const secs = Math.round(this.timeoutMs / 1000);
    for (const w of [...this.watchers]) {
      if (now - Math.max(this.lastAnswer, w.started) > this.timeoutMs) w.fail(`no answer within ${secs} s`);
      else if (w.progress && now - w.progress.at > this.timeoutMs) w.fail(`it made no progress storing the upload for ${secs} s`);
      else if (!w.progress && now - w.started > this.capMs) w.fail(`the operation did not finish within ${Math.round(this.capMs / 1000)} s`);
    }
    if (this.watchers.size > 0 && !this.probing && now - this.lastProbe >= Math.max(250, this.timeoutMs / 4)) void this.ask();
  }

  private async ask(): Promise<void> {
    this.probing = true;
    this.lastProbe = Date.now();
    try {
      const body = await this.probe(this.timeoutMs);
      if (body === undefined) return;
      this.heard();
      const uploads = parseActiveUploads(body);
      const now = Date.now();
      for (const w of this.watchers) {
        if (w.uploadSize === undefined) continue;
        const mine = uploads.filter((u) => u.size === w.uploadSize);
        if (mine.length === 0) continue; // not listed (yet, or any more): life alone counts
        const value = Math.max(...mine.map((u) => u.progress));
        if (!w.progress || value > w.progress.value) w.progress = { value, at: now };
      }
    } finally {
      this.probing = false;
    }
  }
}

/** Active uploads on Tahoe's `/status/?t=json`: their sizes and summed progress (0..3). */
export function parseActiveUploads(body: Buffer): Array<{ size: number; progress: number }> {
  try {
    const status = JSON.parse(body.toString('utf8')) as { active?: Array<Record<string, unknown>> };
    const out: Array<{ size: number; progress: number }> = [];
    for (const op of status.active ?? []) {
      if (op.type !== 'upload' || typeof op['total-size'] !== 'number') continue;
      const parts = ['progress-hash', 'progress-ciphertext', 'progress-encode-push'].map((k) => (typeof op[k] === 'number' ? (op[k] as number) : 0));
      out.push({ size: op['total-size'], progress: parts.reduce((a, b) => a + b, 0) });
    }
    return out;
  } catch {
    return [];
  }
}

export class TahoeHttp {
  /** `scheme://host:port` of the node, for messages (a base URL never holds caps). */
  readonly origin: string;
  private readonly basePath: string;
  private readonly agent: Agent;
  private readonly requests: Limiter;
  private readonly streams: Limiter;
  private readonly downloads: Limiter;
  private readonly liveness: Liveness;
  private closed = false;

  constructor(baseUrl: string, readonly options: HttpOptions) {
    const url = new URL(baseUrl);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new GridError('INVALID', `not an http(s) URL: ${url.protocol}`);
    this.origin = url.origin;
    this.basePath = url.pathname.replace(/\/+$/, '');
    this.agent = new Agent({
      // Enough for every pool at once (a mutable publish holds a GET and a PUT), so no request
      // that holds a slot ever waits for a connection held by one that waits for a slot.
      connections: Math.max(options.maxConnections, options.maxRequests + 2 * options.maxStreams + options.maxDownloads),
      pipelining: 1,
      keepAliveTimeout: 10_000,
      keepAliveMaxTimeout: 60_000,
      connect: { timeout: options.timeoutMs },
      headersTimeout: options.timeoutMs,
      bodyTimeout: options.idleTimeoutMs,
    });
    this.requests = new Limiter(options.maxRequests);
    this.streams = new Limiter(options.maxStreams);
    this.downloads = new Limiter(options.maxDownloads);
    this.liveness = new Liveness(options.timeoutMs, options.commitTimeoutMs, (ms) => this.statusPage(ms));
  }

  /** Tahoe's status page as JSON, or undefined when the node does not answer within `ms`. */
  private async statusPage(ms: number): Promise<Buffer | undefined> {
    if (this.closed) return undefined;
    try {
      const res = await request(`${this.origin}${this.basePath}/status/?t=json`, {
        dispatcher: this.agent,
        method: 'GET',
        headers: { accept: 'application/json', 'user-agent': 'lafsd-webapi' },
        signal: AbortSignal.timeout(ms),
        headersTimeout: ms,
        bodyTimeout: ms,
      });
      return await readBody(res.body, 4 * 1024 * 1024).catch(() => Buffer.alloc(0));
    } catch {
      return undefined;
    }
  }

  /**
   * Runs `fn` as a watched exchange: `abort` is called with a reason when the node stops
   * answering (or, for an upload, stops progressing); the reason is what the caller reports.
   */
  async watched<T>(controller: AbortController, opts: WatchOptions, fn: () => Promise<T>): Promise<T> {
    let reason: string | undefined;
    const stop = this.liveness.watch({
      started: Date.now(),
      ...(opts.uploadSize !== undefined ? { uploadSize: opts.uploadSize } : {}),
      fail: (why) => {
        if (reason !== undefined) return;
        reason = why;
        controller.abort();
      },
    });
    try {
      return await fn();
    } catch (err) {
      if (reason !== undefined) throw new WatchdogError(`the Tahoe-LAFS node at ${this.origin} is unavailable: ${reason}`, err);
      throw err;
    } finally {
      stop();
    }
  }

  /** Turns a failure of the exchange itself (not an HTTP error status) into UNAVAILABLE. */
  unavailable(err: unknown, timedOut = false): GridError {
    if (err instanceof GridError) return err;
    const code = errCode(err);
    let reason = timedOut ? `no answer within ${Math.round(this.options.timeoutMs / 1000)} s` : (code && NETWORK_REASONS[code]) || undefined;
    if (!reason) reason = err instanceof Error && err.name === 'AbortError' ? 'request aborted' : 'request failed';
    return new GridError('UNAVAILABLE', `the Tahoe-LAFS node at ${this.origin} is unavailable: ${reason}`, { cause: err });
  }

  private dispatch(req: WebRequest, body: StreamOptions['body'] | string | undefined, extra: {
    signal?: AbortSignal;
    headersTimeout?: number;
    contentLength?: number;
  }): Promise<Dispatcher.ResponseData> {
    if (this.closed) return Promise.reject(new GridError('UNAVAILABLE', 'the web-API client is closed'));
    const headers: Record<string, string> = {
      accept: 'text/plain', // Tahoe then answers 500s with a plain traceback instead of an HTML page
      'user-agent': 'lafsd-webapi',
      ...req.headers,
    };
    if (extra.contentLength !== undefined) headers['content-length'] = String(extra.contentLength);
    return request(this.origin + this.basePath + req.path, {
      dispatcher: this.agent,
      method: req.method,
      headers,
      body: body as Dispatcher.DispatchOptions['body'],
      signal: extra.signal ?? null,
      headersTimeout: extra.headersTimeout ?? this.options.timeoutMs,
      bodyTimeout: this.options.idleTimeoutMs,
    }).then((res) => {
      this.liveness.heard();
      return res;
    });
  }

  /**
   * A short exchange whose answer is read whole: 2xx gives the answer, anything else throws
   * the mapped GridError. Waiting for a slot counts against the deadline, so a caller always
   * hears back within about `timeoutMs`.
   */
  async call(req: WebRequest, opts: CallOptions = {}): Promise<Answer> {
    const answer = await this.callRaw(req, opts);
    if (answer.status < 200 || answer.status >= 300) throw errorFromResponse(answer.status, answer.headers['content-type'], answer.body);
    return answer;
  }

  /** Like call, but any status comes back as an answer (callers that expect 416 and the like). */
  async callRaw(req: WebRequest, opts: CallOptions = {}): Promise<Answer> {
    if (opts.watch) {
      const controller = new AbortController();
      return this.watched(controller, {}, () => this.exchange(req, { ...opts, deadline: false, watch: false }, controller, 0));
    }
    return this.exchange(req, opts, new AbortController(), this.options.timeoutMs);
  }

  private async exchange(req: WebRequest, opts: CallOptions, controller: AbortController, headersTimeout: number): Promise<Answer> {
    let timedOut = false;
    const timer = opts.deadline === false ? undefined : setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, this.options.timeoutMs);
    timer?.unref();
    const idempotent = req.method === 'GET' || req.method === 'HEAD';
    try {
      return await this.requests.run(async () => {
        for (let attempt = 0; ; attempt++) {
          try {
            const res = await this.dispatch(req, req.body, { signal: controller.signal, headersTimeout });
            const ok = res.statusCode >= 200 && res.statusCode < 300;
            const body = await readBody(res.body, ok ? (opts.maxBody ?? DEFAULT_MAX_BODY) : MAX_ERROR_BODY).catch((err: unknown) => {
              if (!ok && err instanceof GridError) return Buffer.alloc(0); // a huge error page: the status says enough
              throw err;
            });
            return { status: res.statusCode, headers: flatHeaders(res.headers), body };
          } catch (err) {
            // A kept-alive socket the node closed meanwhile fails at once; one fresh try is safe
            // for reads. Anything else (and any write) is reported, never silently repeated.
            const code = errCode(err);
            if (idempotent && attempt === 0 && !controller.signal.aborted && (code === 'UND_ERR_SOCKET' || code === 'ECONNRESET')) continue;
            throw err;
          }
        }
      }, controller.signal);
    } catch (err) {
      throw this.unavailable(err, timedOut);
    } finally {
      if (timer) clearTimeout(timer);
    }
  }

  /**
   * An exchange with streamed bodies: headers must come within `timeoutMs` (or
   * `headersTimeoutMs` after the request body is sent), the answer body is handed over as a
   * stream that fails after `idleTimeoutMs` without data. The caller reads it and releases.
   */
  async open(req: WebRequest, opts: StreamOptions = {}): Promise<OpenAnswer> {
    const limiter = opts.pool === 'stream' ? this.streams : opts.pool === 'download' ? this.downloads : opts.pool === 'none' ? undefined : this.requests;
    let release: (() => void) | undefined;
    try {
      release = limiter ? await limiter.acquire(opts.signal) : () => {};
      const res = await this.dispatch(req, opts.body, {
        ...(opts.signal ? { signal: opts.signal } : {}),
        ...(opts.headersTimeoutMs !== undefined ? { headersTimeout: opts.headersTimeoutMs } : {}),
        ...(opts.contentLength !== undefined ? { contentLength: opts.contentLength } : {}),
      });
      const free = release;
      release = undefined;
      let freed = false;
      const done = () => {
        if (!freed) {
          freed = true;
          free();
        }
      };
      res.body.once('close', done);
      res.body.once('end', done);
      return { status: res.statusCode, headers: flatHeaders(res.headers), body: res.body, release: done };
    } catch (err) {
      throw this.unavailable(err);
    } finally {
      release?.();
    }
  }

  /** Holds one slot of the stream pool (for exchanges made of several streamed requests). */
  async streamSlot(signal?: AbortSignal): Promise<() => void> {
    try {
      return await this.streams.acquire(signal);
    } catch (err) {
      throw this.unavailable(err);
    }
  }

  /** Reads a streamed answer whole (bounded), mapping a non-2xx status to its GridError. */
  async finish(answer: OpenAnswer, maxBody = DEFAULT_MAX_BODY): Promise<Answer> {
    const ok = answer.status >= 200 && answer.status < 300;
    try {
      const body = await readBody(answer.body, ok ? maxBody : MAX_ERROR_BODY).catch((err: unknown) => {
        if (!ok && err instanceof GridError) return Buffer.alloc(0);
        throw err;
      });
      if (!ok) throw errorFromResponse(answer.status, answer.headers['content-type'], body);
      return { status: answer.status, headers: answer.headers, body };
    } catch (err) {
      throw this.unavailable(err);
    } finally {
      answer.release();
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.agent.destroy().catch(() => {});
  }
}
