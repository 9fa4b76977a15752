// Public types of the FTP frontend: what the server wiring passes in and gets back.
import type { Account, Authenticator, Defender, LoginObserver } from '../auth/types.js';
import type { VfsSession } from '../vfs/index.js';
import type { TlsMaterial, TlsMode } from './tls.js';
import type { PortRange } from './data.js';
import type { ProxyTrust } from '../util/proxy-protocol.js';

import type { Logger } from '../util/logger.js';

export type { Logger };

export interface FtpLimits {
  /** Failed logins on one connection before it is closed (as SFTP: OpenSSH MaxAuthTries). */
  maxAuthTries: number;
  /** Time from accept to a successful login before the connection is closed. */
  loginGraceMs: number;
  /** A logged-in connection with no command (and no transfer) for this long is closed. */
  idleTimeoutMs: number;
  /** Waiting for a data connection (passive accept, active connect, its TLS handshake), and a stalled transfer. */
  dataTimeoutMs: number;
}

export const DEFAULT_LIMITS: Readonly<FtpLimits> = Object.freeze({
  maxAuthTries: 6,
  loginGraceMs: 120_000,
  idleTimeoutMs: 600_000, // Twisted's FTP default, which Tahoe's frontend used
  dataTimeoutMs: 30_000,
});

export interface FtpServerOptions {
  /** Control-connection address; port 0 picks an ephemeral port (see the result's `address`). */
  host: string;
  port: number;
  backlog?: number;
  /** Implicit FTPS listener (TLS from the first byte); needs `tls`. */
  implicit?: { host: string; port: number };
  authenticator: Authenticator;
  defender?: Defender;
  /** Told the outcome of every login attempt (metrics). */
  onLogin?: LoginObserver;
  /** Opens the filesystem session of a logged-in account (the server wiring supplies it). */
  openSession(account: Account, remoteAddress: string): VfsSession | Promise<VfsSession>;
  /** Certificate and key for FTPS. Without them FTPS is off. */
  tls?: TlsMaterial;
  /** `off`, `optional` (AUTH TLS offered) or `required` (no login or data without TLS). Default: optional with `tls`, else off. */
  tlsMode?: TlsMode;
  /**
   * A data connection under PROT P must resume the TLS session of its control connection
   * (default true, as vsftpd's require_ssl_reuse); false accepts any handshake.
   */
  tlsRequireSessionReuse?: boolean;
  /** Ports for passive data connections; default any free port. */
  passivePorts?: PortRange;
  /** IPv4 address announced in PASV replies (NAT); default the address the client connected to. */
  passiveAddress?: string;
  limits?: Partial<FtpLimits>;
  logger: Logger;
  /** Load balancers whose connections (control and passive data) start with a PROXY protocol header naming the client. */
  proxy?: ProxyTrust;
}

export interface RunningFtpServer {
  address: { host: string; port: number };
  implicitAddress?: { host: string; port: number };
  /** Stops listening, ends every session (uploads in progress link nothing), resolves when all sockets are closed. */
  close(): Promise<void>;
}
