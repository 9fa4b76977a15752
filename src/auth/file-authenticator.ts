// Authenticator over the accounts file. The parsed table is replaced atomically on reload; a
// broken file keeps the previous table, so a typo never locks everybody out (or in).
import { watch, type FSWatcher } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import type { Account, AccountKey, Authenticator, LoginAttempt } from './types.js';
import { parseAccounts, type AccountRecord } from './accounts-file.js';
import { AuthError } from './errors.js';
import type { AuthLogger } from './logger.js';
import { LoginCache } from './login-cache.js';
import { verifyDummy, verifyPassword, type PasswordSpec } from './passwords.js';

/** Longer passwords are refused (after the usual dummy work): no client needs them. */
export const MAX_PASSWORD_BYTES = 1024;

/**
 * Password checks against accounts-file passwords since the process started, by how they were
 * decided: a hash of their own, a password verified at an earlier login, or the hash of a login
 * with the same password under way. For the metrics; refusals of unknown users are not counted.
 */
const verifications = { hashed: 0, remembered: 0, shared: 0 };

export function passwordVerifications(): { hashed: number; remembered: number; shared: number } {
  return { ...verifications };
}

/** How long, and how many, verified passwords are remembered ([auth] password_cache_*). */
export const FILE_CACHE_DEFAULTS = { cacheTtlMs: 15 * 60_000, cacheMax: 1000 } as const;

export interface FileAuthenticatorOptions {
  /** Path of the accounts file (absolute, or relative to the process cwd). */
  path: string;
  /** Name used in messages, e.g. `private/accounts`. Default: `path`. */
  displayName?: string;
  logger: AuthLogger;
  /** Watch the file and reload on change. Default true. */
  watch?: boolean;
  /** Quiet period after the last change event before reloading. Default 200 ms. */
  debounceMs?: number;
  /** How long a verified password is remembered; 0 verifies every login. Default 15 minutes. */
  cacheTtlMs?: number;
  /** Most verified passwords remembered. Default 1000. */
  cacheMax?: number;
  /** Clock for the cache (tests inject one). Default Date.now. */
  now?: () => number;
}

export class FileAuthenticator implements Authenticator {
  private accounts = new Map<string, AccountRecord>();
  private watcher: FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<boolean> | undefined;
  private rerun = false;
  private closed = false;
  private readonly name: string;
  /**
   * Passwords verified against the record they matched. A hit counts only while that record's
   * password is still the one loaded: a reload makes new records, so a changed or removed
   * password is refused at once, and the cache is emptied then too.
   */
  private readonly verified: LoginCache<PasswordSpec>;
  /**
   * Checks under way, by the same key: a client that opens several connections at once (lftp
   * and rclone in parallel, FileZilla's second connection) waits for the first one's hash
   * instead of queueing one hash per connection behind the process's single hash slot.
   */
  private readonly checking = new Map<string, Check>();

  private constructor(private readonly opts: FileAuthenticatorOptions) {
    this.name = opts.displayName ?? opts.path;
    this.verified = new LoginCache(
      opts.cacheTtlMs ?? FILE_CACHE_DEFAULTS.cacheTtlMs, opts.cacheMax ?? FILE_CACHE_DEFAULTS.cacheMax, opts.now ?? Date.now,
    );
  }

  /** Loads the file (a broken file is an AuthError: the server must not start) and starts watching. */
  static async open(opts: FileAuthenticatorOptions): Promise<FileAuthenticator> {
    const auth = new FileAuthenticator(opts);
    // Watch before reading, so an edit between the read and the watch is not missed.
    if (opts.watch ?? true) auth.startWatching();
    try {
      auth.accounts = await auth.load();
    } catch (err) {
      auth.close();
      throw err;
    }
    return auth;
  }

  /** Number of accounts currently loaded. */
  get size(): number {
    return this.accounts.size;
  }

  /** True when the file lists this user (the combined authenticator routes on it). */
  has(username: string): boolean {
    return this.accounts.has(username);
  }

  /**
   * Re-reads the file. Resolves true when the new accounts are in effect, false when the file
   * was broken or unreadable and the previous accounts stay (the problem is logged). Concurrent
   * calls are serialised; a call during a reload causes one more reload after it.
   */
  reload(): Promise<boolean> {
    if (this.running) {
      this.rerun = true;
      return this.running;
    }
    this.running = (async () => {
      let ok = false;
      do {
        this.rerun = false;
        ok = await this.reloadOnce();
      } while (this.rerun && !this.closed);
      this.running = undefined;
      return ok;
    })();
    return this.running;
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.watcher?.close();
    this.watcher = undefined;
  }

  async checkPassword(attempt: LoginAttempt, password: string): Promise<Account | undefined> {
    const rec = this.accounts.get(attempt.username);
    // Every refusal path does one default-strength hash, so timing does not tell whether the
    // user exists, has only keys, or has a plain-text password.
    if (!rec?.password || Buffer.byteLength(password, 'utf8') > MAX_PASSWORD_BYTES) {
      await verifyDummy(password, attempt.signal);
      return undefined;
    }
    const key = this.verified.key([attempt.username, password]);
    if (this.verified.get(key) === rec.password) {
      verifications.remembered++;
      return accountOf(rec);
    }
    if (!(await this.check(key, rec.password, password, attempt.signal))) return undefined;
    if (this.accounts.get(attempt.username) === rec) this.verified.set(key, rec.password);
    return accountOf(rec);
  }

  /** Verifies `password` against `spec`, joining a check of the same key and spec under way. */
  private async check(key: string, spec: PasswordSpec, password: string, signal: AbortSignal | undefined): Promise<boolean> {
    for (;;) {
      const running = this.checking.get(key);
      if (running?.spec !== spec) break;
      verifications.shared++;
      const ok = await running.result;
      // A check its own client gave up on says no without hashing: this client asks again.
      if (ok || !running.signal?.aborted || signal?.aborted) return ok;
    }
    verifications.hashed++;
    const mine: Check = { spec, signal, result: Promise.resolve(false) };
    this.checking.set(key, mine);
    mine.result = (async () => {
      try {
        const ok = await verifyPassword(spec, password, signal);
        // A plain-text password still costs one hash, as every refusal does.
        if (spec.kind === 'plain') await verifyDummy(password, signal);
        return ok;
      } finally {
        // Before anyone awaiting the result resumes, so a client that asks again finds it gone.
        if (this.checking.get(key) === mine) this.checking.delete(key);
      }
    })();
    return mine.result;
  }

  async findKey(attempt: LoginAttempt, _keyType: string, keyBlob: Buffer): Promise<Account | undefined> {
    // The blob embeds its own type, so comparing blobs is enough; the algorithm name the client
    // signs with (e.g. rsa-sha2-512 for an ssh-rsa key) is deliberately not compared.
    const rec = this.accounts.get(attempt.username);
    if (!rec) return undefined;
    const match = rec.keys.some((k: AccountKey) => k.blob.equals(keyBlob));
    return match ? accountOf(rec) : undefined;
  }

  private async reloadOnce(): Promise<boolean> {
    try {
      this.accounts = await this.load();
      this.verified.clear();
      return true;
    } catch (err) {
      const problems = err instanceof AuthError ? err.problems : [];
      this.opts.logger.error(
        { file: this.name, problems, error: err instanceof AuthError ? err.message.split('\n')[0] : errorText(err) },
        'accounts file not reloaded; keeping the previous accounts',
      );
      return false;
    }
  }

  private async load(): Promise<Map<string, AccountRecord>> {
    let bytes: Buffer;
    let mode: number;
    try {
      mode = (await stat(this.opts.path)).mode;
      bytes = await readFile(this.opts.path);
    } catch (err) {
      throw new AuthError(`${this.name}: cannot read the accounts file: ${errorText(err)}`);
    }
    const { accounts, warnings } = parseAccounts(bytes, this.name);
    const log = this.opts.logger;
    if (process.platform !== 'win32' && (mode & 0o077) !== 0) {
      log.warn({ file: this.name, mode: (mode & 0o777).toString(8) }, 'accounts file is readable by group or others; chmod 600 it');
    }
    for (const w of warnings) log.warn({ file: this.name }, w);
    let keys = 0;
    for (const rec of accounts.values()) keys += rec.keys.length;
    log.info({ file: this.name, users: accounts.size, keys }, 'accounts loaded');
    return accounts;
  }

  private startWatching(): void {
    const dir = dirname(this.opts.path);
    const base = basename(this.opts.path);
    try {
      // Watch the directory, not the file: editors and `mv new accounts` replace the file by
      // rename, which would leave a file watcher attached to the old inode.
      this.watcher = watch(dir, { persistent: false }, (_event, filename) => {
        if (filename === null || filename === base || filename.toString() === base) this.schedule();
      });
      this.watcher.on('error', (err) => {
        this.opts.logger.warn({ file: this.name, error: errorText(err) }, 'stopped watching the accounts file; reload with SIGHUP');
        this.watcher?.close();
        this.watcher = undefined;
      });
    } catch (err) {
      this.opts.logger.warn({ file: this.name, error: errorText(err) }, 'cannot watch the accounts file; reload with SIGHUP');
    }
  }

  private schedule(): void {
    if (this.closed) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.reload();
    }, this.opts.debounceMs ?? 200);
    this.timer.unref();
  }
}

function errorText(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const code = (err as NodeJS.ErrnoException).code;
  return typeof code === 'string' && !err.message.startsWith(code) ? `${code}: ${err.message}` : err.message;
}

interface Check {
  spec: PasswordSpec;
  /** The connection that started it: its end takes the check out of the hash queue. */
  signal: AbortSignal | undefined;
  result: Promise<boolean>;
}

function accountOf(rec: AccountRecord): Account {
  return rec.quota ? { username: rec.username, rootCap: rec.rootCap, quota: rec.quota } : { username: rec.username, rootCap: rec.rootCap };
}
