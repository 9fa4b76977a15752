// Public types of the SSH layer: what the caller (server wiring) passes in, and what an SFTP
// handler receives with each subsystem channel.
import type { Duplex } from 'node:stream';
import type { ProxyTrust } from '../util/proxy-protocol.js';
import type { Account, Authenticator, Defender, LoginObserver } from '../auth/types.js';

import type { Logger } from '../util/logger.js';
import type { WindowGate } from './ssh2-internals.js';

export type { Logger };

export interface DiskUsage {
  totalKiB: number;
  usedKiB: number;
  availKiB: number;
}

export interface SshLimits {
  /** Failed authentication attempts per connection before we disconnect (OpenSSH MaxAuthTries). */
  maxAuthTries: number;
  /** Time from TCP accept to successful login before we disconnect (OpenSSH LoginGraceTime). */
  loginGraceMs: number;
  /** Bytes (both directions, on the socket) after which the server starts a rekey. */
  rekeyBytes: number;
  /** Time after which the server starts a rekey. */
  rekeyIntervalMs: number;
}

export const DEFAULT_LIMITS: Readonly<SshLimits> = Object.freeze({
  maxAuthTries: 6,
  loginGraceMs: 120_000,
  rekeyBytes: 1024 ** 3,
  rekeyIntervalMs: 3_600_000,
});

export interface SshSessionInfo {
  account: Account;
  /** Client IP, normalised (IPv4-mapped IPv6 given as plain IPv4). */
  remoteAddress: string;
  remotePort: number;
  /** Short random id that ties together the log lines of one TCP connection. */
  connectionId: string;
  /**
   * Cork/uncork the TCP socket so a burst of replies leaves in few writes. Calls nest; every
   * cork() needs one uncork(). Corks still held when the channel closes are released for you.
   */
  cork(): void;
  uncork(): void;
  /** Ends the channel as sshd ends a finished subsystem: exit-status, then EOF and CLOSE. */
  endChannel(exitStatus: number): void;
  /**
   * Holds back the SSH window the channel grants, leaving the stream flowing (window-pool.ts);
   * absent when this ssh2 does not allow it, and then pausing the stream is the way.
   */
  windowGate?: WindowGate;
}

export interface SshServerOptions {
  host: string;
  /** 0 picks an ephemeral port; the chosen one is in the result's `address`. */
  port: number;
  backlog?: number;
  /** Private host keys (OpenSSH or PEM; ed25519, ecdsa, rsa; no passphrase). */
  hostKeys: Buffer[];
  authenticator: Authenticator;
  defender?: Defender;
  /** Told the outcome of every login attempt (metrics). */
  onLogin?: LoginObserver;
  logger: Logger;
  /** Called with the raw byte stream of an authenticated session's `sftp` subsystem. */
  onSftp(channel: Duplex, session: SshSessionInfo): void;
  /** Figures for `df -P -k /` (sshfs runs it). */
  diskUsage(session: SshSessionInfo): Promise<DiskUsage>;
  limits?: Partial<SshLimits>;
  /** Load balancers whose connections start with a PROXY protocol header naming the client. */
  proxy?: ProxyTrust;
  /**
   * Bytes of SSH window all session channels together may be granted (window-pool.ts): what
   * clients may send that has not been asked for yet. Default 8 MiB (transfer_memory's).
   */
  windowMemory?: number;
}

export interface RunningSshServer {
  address: { host: string; port: number };
  /** Stops listening, disconnects every client, resolves when all sockets are closed. */
  close(): Promise<void>;
}
