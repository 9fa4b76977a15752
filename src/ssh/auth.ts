// Authentication of one SSH connection: password, keyboard-interactive (one "Password: "
// prompt) and public key (signature verified here). Counts failures for MaxAuthTries and tells
// the defender. Never logs secrets: no passwords, no key material.
import './ssh2-preload.js'; // first: ssh2's padding from our random pool
import ssh2 from 'ssh2';
import type { AuthContext, KeyboardAuthContext, ParsedKey, PublicKeyAuthContext } from 'ssh2';
import type { Account, Authenticator, Defender, FailureReason, LoginAttempt, LoginObserver } from '../auth/types.js';
import type { Logger } from './types.js';

const { utils } = ssh2;

/** What we tell a client it may try next (RFC 4252 §5.1). */
export const AUTH_METHODS: ('publickey' | 'password' | 'keyboard-interactive')[] = [
  'publickey',
  'password',
  'keyboard-interactive',
];

export interface ConnectionAuthOptions {
  authenticator: Authenticator;
  defender: Defender | undefined;
  onLogin?: LoginObserver;
  logger: Logger;
  maxAuthTries: number;
  remoteAddress: string;
  remotePort: number;
  connectionId: string;
  /** Called once when the connection used up its attempts; the caller disconnects. */
  onTooManyFailures(): void;
}

type Outcome = { account: Account } | { reason: FailureReason; detail?: string };

export class ConnectionAuth {
  private failures = 0;
  private keyFailureRecorded = false;
  /** Set once we logged someone in or gave up; later requests get no answer. */
  private done = false;
  private closed = false;
  /** Aborted with the connection: a password check still waiting for its turn is dropped. */
  private readonly gone = new AbortController();
  account: Account | undefined;

  constructor(private readonly opts: ConnectionAuthOptions) {}

  /** The TCP connection is gone: drop answers still being computed. */
  connectionClosed(): void {
    this.closed = true;
    this.gone.abort();
  }

  /** ssh2 'authentication' handler. Never throws; every path answers the context at most once. */
  handle(ctx: AuthContext): void {
    if (this.done || this.closed) return;
    const user = ctx.username;
    switch (ctx.method) {
      case 'none':
        // Clients probe with `none` to learn the methods; OpenSSH does not count it either.
        this.opts.logger.debug(this.logFields('none', user), 'ssh auth methods requested');
        ctx.reject(AUTH_METHODS);
        return;
      case 'password':
        this.decide(ctx, 'password', this.checkPassword(user, ctx.password));
        return;
      case 'keyboard-interactive':
        this.keyboardInteractive(ctx);
        return;
      case 'publickey':
        this.publicKey(ctx);
        return;
      default:
        this.decide(ctx, ctx.method, Promise.resolve({ reason: 'protocol-error', detail: 'method not offered' }));
    }
  }

  private keyboardInteractive(ctx: KeyboardAuthContext): void {
    ctx.prompt([{ prompt: 'Password: ', echo: false }], (answers: string[] | Error) => {
      // An Error here means the client abandoned this exchange for a new request.
      if (!Array.isArray(answers) || this.done || this.closed) return;
      const outcome: Promise<Outcome> =
        answers.length === 1 && typeof answers[0] === 'string'
          ? this.checkPassword(ctx.username, answers[0])
          : Promise.resolve({ reason: 'protocol-error', detail: 'expected one answer' });
      this.decide(ctx, 'keyboard-interactive', outcome);
    });
  }

  private publicKey(ctx: PublicKeyAuthContext): void {
    const key = parsePublicKey(ctx);
    const isQuery = !ctx.signature || !ctx.blob;
    const method = isQuery ? 'publickey-query' : 'publickey';
    if (key instanceof Error) {
      this.decide(ctx, method, Promise.resolve({ reason: 'bad-key', detail: key.message }));
      return;
    }
    const attempt = this.attempt(ctx.username);
    const outcome = this.opts.authenticator.findKey(attempt, key.type, ctx.key.data).then((account): Outcome | 'pk-ok' => {
      if (!account) return { reason: 'bad-key', detail: 'key not listed' };
      // A key offered without a signature only learns that it is acceptable (USERAUTH_PK_OK);
      // it never logs anyone in (libssh CVE-2018-10933 class).
      if (isQuery) return 'pk-ok';
      const ok = key.verify(ctx.blob!, ctx.signature!, ctx.hashAlgo);
      return ok === true ? { account } : { reason: 'bad-key', detail: 'bad signature' };
    });
    this.decide(ctx, method, outcome);
  }

  private checkPassword(username: string, password: string): Promise<Outcome> {
    // No shortcut for empty passwords or unknown users: the authenticator equalises the timing.
    return this.opts.authenticator
      .checkPassword(this.attempt(username), password)
      .then((account): Outcome => (account ? { account } : { reason: 'bad-password' }));
  }

  private decide(ctx: AuthContext, method: string, outcome: Promise<Outcome | 'pk-ok'>): void {
    outcome
      .catch((err: unknown): Outcome => {
        // The Authenticator promises never to reject; if it does, refuse (fail closed).
        this.opts.logger.error({ ...this.logFields(method, ctx.username), err: String(err) }, 'ssh authenticator failed');
        return { reason: 'protocol-error', detail: 'authenticator error' };
      })
      .then((result) => {
        if (this.done || this.closed) return;
        if (result === 'pk-ok') {
          this.opts.logger.debug(this.logFields(method, ctx.username), 'ssh public key acceptable, awaiting signature');
          ctx.accept(); // for a query, ssh2 sends USERAUTH_PK_OK rather than success
          return;
        }
        if ('account' in result) this.succeed(ctx, method, result.account);
        else this.fail(ctx, method, result.reason, result.detail);
      })
      .catch((err: unknown) => {
        this.opts.logger.error({ conn: this.opts.connectionId, err: String(err) }, 'ssh auth handler error');
      });
  }

  private succeed(ctx: AuthContext, method: string, account: Account): void {
    this.done = true;
    this.account = account;
    this.opts.defender?.recordSuccess(this.opts.remoteAddress);
    this.opts.onLogin?.(metricMethod(method), 'ok');
    this.opts.logger.info({ ...this.logFields(method, ctx.username), result: 'ok' }, 'ssh login');
    ctx.accept();
  }

  private fail(ctx: AuthContext, method: string, reason: FailureReason, detail?: string): void {
    this.failures += 1;
    this.opts.onLogin?.(metricMethod(method), 'refused');
    const fields = { ...this.logFields(method, ctx.username), result: 'refused', reason, detail, failures: this.failures };
    this.opts.logger.info(fields, 'ssh login');
    // Agents offer several keys in turn: only the first refused key of a connection scores, so
    // an ordinary user with many keys is never banned (every attempt still counts for MaxAuthTries).
    if (reason !== 'bad-key' || !this.keyFailureRecorded) this.opts.defender?.recordFailure(this.opts.remoteAddress, reason);
    if (reason === 'bad-key') this.keyFailureRecorded = true;
    if (this.failures >= this.opts.maxAuthTries) {
      this.done = true;
      this.opts.logger.warn(this.logFields(method, ctx.username), 'ssh too many authentication failures, disconnecting');
      this.opts.defender?.recordFailure(this.opts.remoteAddress, 'too-many-attempts');
      ctx.reject([]);
      this.opts.onTooManyFailures();
      return;
    }
    ctx.reject(AUTH_METHODS);
  }

  private attempt(username: string): LoginAttempt {
    return { username, remoteAddress: this.opts.remoteAddress, protocol: 'sftp', signal: this.gone.signal };
  }

  private logFields(method: string, username: string) {
    return {
      conn: this.opts.connectionId,
      method,
      // The name is client-chosen: bound its size in the log (JSON escaping handles the rest).
      user: username.length > 128 ? `${username.slice(0, 128)}…` : username,
      client: this.opts.remoteAddress,
      clientPort: this.opts.remotePort,
    };
  }
}

/** A key offered without a signature is still a public-key attempt. */
function metricMethod(method: string): string {
  return method === 'publickey-query' ? 'publickey' : method;
}

/** The offered key, checked to be a plain public key of the type it claims, with a SHA-2 signature. */
function parsePublicKey(ctx: PublicKeyAuthContext): ParsedKey | Error {
  const parsed = utils.parseKey(ctx.key.data);
  if (parsed instanceof Error) return parsed;
  const key = Array.isArray(parsed) ? (parsed[0] as ParsedKey) : parsed;
  // ssh2 reports rsa-sha2-256/512 as algo `ssh-rsa` with hashAlgo set; plain `ssh-rsa` means SHA-1.
  if (key.type !== ctx.key.algo) return new Error(`key is ${key.type}, offered as ${ctx.key.algo}`);
  if (key.type === 'ssh-rsa' && !ctx.hashAlgo) return new Error('ssh-rsa (SHA-1) signatures are not accepted');
  return key;
}
