// The HTTP side of the web-API backend: one undici Agent (keep-alive, a bounded number of
// connections), bounded concurrency, timeouts, and network failures turned into UNAVAILABLE.
// Nothing here is sticky: a refused connection fails that request only, and the next request
// dials again, so operations work as soon as the node is back.
import type { Readable } from 'node:stream';
import { Agent, request, type Dispatcher } from 'undici';
import { GridError } from '../errors.js';
import { errorFromResponse } from './errors.js';
import { Limiter } from './limiter.js';
import type { WebRequest } from './requests.js';

export interface HttpOptions {
  /** Whole short requests (listings, links, small reads), and waiting for any answer's headers. */
  timeoutMs: number;
  /** Streamed bodies (uploads, large downloads) fail only after this long without progress. */
  idleTimeoutMs: number;
  /** After an upload's last byte: Tahoe encodes and pushes the file to storage servers only then. */
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
}

export interface StreamOptions {
  /** Request body: bytes or an async iterable (streamed with backpressure). */
  body?: Buffer | AsyncIterable<Buffer> | Readable;
  /** Content-Length when known (a streamed body is sent chunked otherwise). */
  contentLength?: number;
  /** Aborts the exchange (e.g. an upload given up, or a stalled body). */
  signal?: AbortSignal;
  /** How long to wait for headers once the body has been sent. */
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

export class TahoeHttp {
  /** `scheme://host:port` of the node, for messages (a base URL never holds caps). */
  readonly origin: string;
  private readonly basePath: string;
  private readonly agent: Agent;
  private readonly requests: Limiter;
  private readonly streams: Limiter;
  private readonly downloads: Limiter;
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
    const controller = new AbortController();
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
            const res = await this.dispatch(req, req.body, { signal: controller.signal });
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
