// Client for an `accounts.url` account service (seed: "Running An Account Server"). It fails
// closed: every answer other than a directory cap, and every error, is a refused login. It never
// throws and never logs the password, the answer body or the URL path (which may hold a token).
import { randomBytes } from 'node:crypto';
import { isDirectory, parseCap, formatCap } from '../caps/index.js';
import { parseAccountOptions, splitOptions } from './account-options.js';
import type { Account, Authenticator, LoginAttempt } from './types.js';
import type { AuthLogger } from './logger.js';
import { LoginCache } from './login-cache.js';
import { AuthError } from './errors.js';

export interface UrlAuthenticatorOptions {
  /** The service URL (http or https). */
  url: string;
  logger: AuthLogger;
  /** Whole exchange, redirects and body included. Default 10 000 ms. */
  timeoutMs?: number;
  /** How long a successful answer is reused. Default 60 000 ms; 0 disables the cache. */
  cacheTtlMs?: number;
  /** Hard limit on cached answers. Default 1000. */
  cacheMax?: number;
  /** Same-host redirects followed at most this many times. Default 3. */
  maxRedirects?: number;
  /** Clock for the cache (tests inject one). Default Date.now. */
  now?: () => number;
}

export const URL_DEFAULTS = { timeoutMs: 10_000, cacheTtlMs: 60_000, cacheMax: 1000, maxRedirects: 3 } as const;

/** An answer longer than this cannot be a cap; stop reading. */
const MAX_ANSWER_BYTES = 64 * 1024;
const MAX_FIELD_BYTES = 1024;
const REDIRECTS = new Set([301, 302, 303, 307, 308]);

type Outcome = { account: Account } | { refused: string; level: 'info' | 'warn'; status?: number };

export class UrlAuthenticator implements Authenticator {
  private readonly url: URL;
  /** Answers by user, password and client address (the service may decide by address). */
  private readonly cache: LoginCache<Account>;
  /**
   * Questions under way, by the same key: logins that ask the same at once share one request.
   * FTP clients open a connection per transfer or parallel stream, each with its own login.
   */
  private readonly asking = new Map<string, Promise<Outcome>>();
  /** Moves at each clearCache: an answer asked for before it is neither joined nor remembered. */
  private generation = 0;
  private readonly timeoutMs: number;
  private readonly maxRedirects: number;

  constructor(private readonly opts: UrlAuthenticatorOptions) {
    let url: URL;
    try {
      url = new URL(opts.url);
    } catch {
      throw new AuthError('accounts.url is not a valid URL');
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new AuthError('accounts.url must be an http: or https: URL');
    this.url = url;
    this.timeoutMs = opts.timeoutMs ?? URL_DEFAULTS.timeoutMs;
    this.maxRedirects = opts.maxRedirects ?? URL_DEFAULTS.maxRedirects;
    this.cache = new LoginCache(opts.cacheTtlMs ?? URL_DEFAULTS.cacheTtlMs, opts.cacheMax ?? URL_DEFAULTS.cacheMax, opts.now ?? Date.now);
  }

  async checkPassword(attempt: LoginAttempt, password: string): Promise<Account | undefined> {
    const log = { user: attempt.username, address: attempt.remoteAddress, service: this.url.origin };
    if (!attempt.username || Buffer.byteLength(attempt.username) > MAX_FIELD_BYTES || Buffer.byteLength(password) > MAX_FIELD_BYTES) {
      this.opts.logger.info(log, 'account service not asked: username or password too long or empty');
      return undefined;
    }
    const key = this.cache.key([attempt.username, password, attempt.remoteAddress]);
    const cached = this.cache.get(key);
    if (cached) return { ...cached, username: attempt.username };
    const outcome = await this.shared(key, attempt.username, password);
    if ('account' in outcome) return { ...outcome.account };
    const fields = outcome.status === undefined ? log : { ...log, status: outcome.status };
    this.opts.logger[outcome.level](fields, `account service refused the login: ${outcome.refused}`);
    return undefined;
  }

  /** Forgets every cached answer (SIGHUP), so a change at the service applies to the next login. */
  clearCache(): void {
    this.cache.clear();
    this.asking.clear();
    this.generation++;
  }

  /** The service's answer for `key`, joining a request for it under way; never throws. */
  private shared(key: string, username: string, password: string): Promise<Outcome> {
    const running = this.asking.get(key);
    if (running) return running;
    const generation = this.generation;
    const outcome = this.ask(username, password).then(
      (answer) => {
        if ('account' in answer && generation === this.generation) this.cache.set(key, answer.account);
        return answer;
      },
      (err: unknown): Outcome => ({ refused: describeError(err), level: 'warn' }),
    );
    this.asking.set(key, outcome);
    // Registered before any login awaits it, so it runs first: a later login asks anew.
    void outcome.finally(() => {
      if (this.asking.get(key) === outcome) this.asking.delete(key);
    });
    return outcome;
  }

  /** Keys come only from the accounts file. */
  async findKey(): Promise<Account | undefined> {
    return undefined;
  }

  private async ask(username: string, password: string): Promise<Outcome> {
    const { body, contentType } = multipartBody([
      ['action', 'authenticate'],
      ['email', username],
      ['passwd', password],
    ]);
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(new Error(`no answer within ${this.timeoutMs} ms`)), this.timeoutMs);
    try {
      let url = this.url;
      for (let hop = 0; ; hop++) {
        const res = await fetch(url, {
          method: 'POST',
          headers: { 'content-type': contentType, accept: 'text/plain' },
          body,
          redirect: 'manual',
          signal: controller.signal,
        });
        if (REDIRECTS.has(res.status)) {
          await res.body?.cancel().catch(() => {});
          const location = res.headers.get('location');
          const next = location ? safeUrl(location, url) : undefined;
          if (!next) return { refused: 'redirect without a usable Location', level: 'warn', status: res.status };
          if (!sameHost(url, next)) return { refused: 'redirect to another host', level: 'warn', status: res.status };
          if (hop >= this.maxRedirects) return { refused: 'too many redirects', level: 'warn', status: res.status };
          // The same form is posted again (as 307/308 require); it stays on the same host.
          url = next;
          continue;
        }
        if (res.status < 200 || res.status > 299) {
          await res.body?.cancel().catch(() => {});
          return { refused: 'HTTP error status', level: 'warn', status: res.status };
        }
        const text = await readLimited(res, MAX_ANSWER_BYTES);
        if (text === undefined) return { refused: 'answer too long or not UTF-8', level: 'warn' };
        const answer = text.trim();
        if (answer === '0') return { refused: 'service said 0', level: 'info' };
        // A root cap, optionally followed by account options (quota=…), as in the accounts file.
        const { rest, options } = splitOptions(answer.split(/\s+/));
        const parsed = parseAccountOptions(options);
        if ('error' in parsed) return { refused: `malformed answer: ${parsed.error}`, level: 'warn' };
        const cap = rest.length === 1 ? parseCap(rest[0]!) : ({ type: 'unknown' } as const);
        if (cap.type === 'unknown') return { refused: `malformed answer (${answer.length} characters, not a cap)`, level: 'warn' };
        if (!isDirectory(cap)) return { refused: `answer is a ${cap.type} cap, not a directory cap`, level: 'warn' };
        return { account: { username, rootCap: formatCap(cap), ...(parsed.quota ? { quota: parsed.quota } : {}) } };
      }
    } finally {
      clearTimeout(timer);
    }
  }
}

function safeUrl(location: string, base: URL): URL | undefined {
  try {
    return new URL(location, base);
  } catch {
    return undefined;
  }
}

/** Same host and port, or an http→https upgrade on the same host; never a downgrade. */
function sameHost(from: URL, to: URL): boolean {
  if (from.hostname.toLowerCase() !== to.hostname.toLowerCase()) return false;
  if (from.protocol === to.protocol) return from.port === to.port;
  return from.protocol === 'http:' && to.protocol === 'https:';
}

async function readLimited(res: Response, limit: number): Promise<string | undefined> {
  if (!res.body) return '';
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > limit) {
      await reader.cancel().catch(() => {});
      return undefined;
    }
    chunks.push(value);
  }
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(Buffer.concat(chunks));
  } catch {
    return undefined;
  }
}

/**
 * A standard multipart/form-data body (RFC 7578), built by hand as Tahoe did so the password's
 * bytes are sent exactly (FormData would rewrite bare CR/LF in values). The boundary is random
 * and checked against the content.
 */
export function multipartBody(fields: [string, string][]): { body: Buffer; contentType: string } {
  const values = fields.map(([name, value]) => [name, Buffer.from(value, 'utf8')] as const);
  let boundary: string;
  do {
    boundary = `----lafsd${randomBytes(16).toString('hex')}`;
  } while (values.some(([, v]) => v.includes(boundary)));
  const parts: Buffer[] = [];
  for (const [name, value] of values) {
    parts.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n`), value, Buffer.from('\r\n'));
  }
  parts.push(Buffer.from(`--${boundary}--\r\n`));
  return { body: Buffer.concat(parts), contentType: `multipart/form-data; boundary=${boundary}` };
}

function describeError(err: unknown): string {
  // undici reports connection problems as TypeError('fetch failed') with the cause inside.
  const cause = err instanceof Error && err.cause instanceof Error ? err.cause : err;
  if (cause instanceof Error) {
    const code = (cause as { code?: unknown }).code;
    return typeof code === 'string' ? `${code} ${cause.message}` : cause.message;
  }
  return String(cause);
}
