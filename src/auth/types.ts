// The contract between the frontends (ssh/, ftp/) and account lookup (auth/). Frontends never
// read accounts files or call the account service themselves; they ask an Authenticator, and
// report what happened to the Defender, which decides whether an address may still connect.

/** Limits on what an account may store under its root (accounts file or account service). */
export interface AccountQuota {
  bytes?: number;
  files?: number;
}

/** A successful login: who, and the directory capability they land in. */
export interface Account {
  username: string;
  /** Root directory cap (may be read-only, which makes the whole session read-only). Never log it. */
  rootCap: string;
  /** Undefined: no quota. */
  quota?: AccountQuota;
}

export type Protocol = 'sftp' | 'ftp';

/** Who is trying to log in, from where, over which frontend. */
export interface LoginAttempt {
  username: string;
  /** Client IP address, normalised (IPv4-mapped IPv6 addresses given as plain IPv4). */
  remoteAddress: string;
  protocol: Protocol;
  /** Aborted when the connection ends: work for it that has not started yet is dropped. */
  signal?: AbortSignal;
}

/** A public key as an accounts line gives it (OpenSSH `authorized_keys` form). */
export interface AccountKey {
  /** Key type word, e.g. `ssh-ed25519`, `ssh-rsa`, `ecdsa-sha2-nistp256`. */
  type: string;
  /** The SSH wire-format public key blob (base64-decoded second field). */
  blob: Buffer;
  comment?: string;
}

export interface Authenticator {
  /**
   * Password login (SFTP password / keyboard-interactive, FTP USER+PASS). Resolves to the
   * account, or undefined when refused. Takes the same time whether or not the user exists.
   * Never rejects: service errors are logged and refuse the login.
   */
  checkPassword(attempt: LoginAttempt, password: string): Promise<Account | undefined>;
  /**
   * Public-key login, step 1: is this key listed for this user? The SSH layer verifies the
   * signature itself and only then treats the login as successful. Never rejects.
   */
  findKey(attempt: LoginAttempt, keyType: string, keyBlob: Buffer): Promise<Account | undefined>;
}

export type FailureReason = 'bad-password' | 'unknown-user' | 'bad-key' | 'grace-timeout' | 'too-many-attempts' | 'protocol-error';

/** What `Defender.admission` decided about a new connection. */
export type AdmitResult = 'ok' | 'banned' | 'per-address' | 'max-startups' | 'connections-per-address' | 'connections';

/**
 * Per-address defence against brute force and connection floods. Frontends call `admission` when
 * a TCP connection arrives, before any key exchange or greeting work, `release` when it logs in
 * or ends before that, and `closed` when it ends.
 */
export interface Defender {
  /**
   * 'ok' counts a new connection from `remoteAddress`; anything else says why it may not open:
   * the address is banned, or over a connection limit (not logged in yet: `per-address`,
   * `max-startups`; open: `connections-per-address`, `connections`).
   */
  admission(remoteAddress: string): AdmitResult;
  /** The connection from `remoteAddress` finished authenticating (or closed). */
  release(remoteAddress: string, authenticated: boolean): void;
  /** A connection `admission` let in has closed; once per such connection. */
  closed(remoteAddress: string): void;
  recordFailure(remoteAddress: string, reason: FailureReason): void;
  recordSuccess(remoteAddress: string): void;
}

/**
 * How a frontend reports the outcome of each login attempt, for metrics: the method
 * (`password`, `keyboard-interactive`, `publickey`) and the result, never who or from where.
 * A public key offered and not listed counts as a refused `publickey` attempt.
 */
export type LoginObserver = (method: string, result: 'ok' | 'refused') => void;
