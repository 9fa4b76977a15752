// FTPS (RFC 4217 explicit, and implicit on its own port) on node:tls.
//
// Policy, enforced here:
// - TLS 1.2 or newer; renegotiation off (SSL_OP_NO_RENEGOTIATION, and disableRenegotiation()
//   on every socket), so a client cannot make us redo handshakes mid-stream.
// - ALPN: a client that offers ALPN without `ftp` is refused (ALPACA, 2021: a TLS connection
//   meant for an HTTPS server sharing our certificate must not be accepted as FTP).
// - Every control connection gets its own TLS context with its own ticket keys and its own
//   session-ID cache. A data connection under PROT P must resume a session from that context
//   (`isSessionReused()`), i.e. one that this control connection's client negotiated: someone
//   who races the real client to the data port cannot complete a resumed handshake, so the
//   data channel cannot be stolen (ProFTPD's and vsftpd's session-reuse requirement). This works
//   for TLS 1.2 session IDs and tickets, and for TLS 1.3 tickets. Clients that never resume
//   (Python's ftplib) or resume another connection's session (rclone) need the requirement off
//   ([ftpd] tls_require_session_reuse = false; then all connections share one context, see
//   FtpTls); a refused one gets 522 on the control connection.
import { X509Certificate, createPrivateKey, randomBytes, constants } from 'node:crypto';
import { Server as NetServer, type Socket } from 'node:net';
import { Duplex } from 'node:stream';
import { TLSSocket, createSecureContext, type SecureContext } from 'node:tls';

export type TlsMode = 'off' | 'optional' | 'required';

export interface TlsMaterial {
  /** PEM certificate chain. */
  certPem: string;
  /** PEM private key (no passphrase). */
  keyPem: string;
}

const SESSION_CACHE_MAX = 64;
const SHARED_SESSION_CACHE_MAX = 4096;
/**
 * Data connections resume the session the client got when its control connection started, and
 * a control connection can last as long as it is busy; OpenSSL's default lifetime (2 h) made
 * every transfer after that fail with 522. 7 days is TLS 1.3's longest ticket lifetime; the
 * ticket keys die with the control connection anyway.
 */
const SESSION_LIFETIME_S = 7 * 24 * 3600;
const SECURE_OPTIONS = constants.SSL_OP_NO_RENEGOTIATION;

export class TlsHandshakeError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TlsHandshakeError';
  }
}

/**
 * The server's certificate, checked once at start; hands out the TLS state of each control
 * connection. With `requireSessionReuse` (the default) every control connection gets its own
 * context, so only its own client can resume its sessions. Without it, all connections share one
 * context: a client that resumes a session of another of its connections (rclone: one session
 * cache for all of them) then resumes instead of making a full handshake. That matters: after a
 * full TLS 1.3 handshake OpenSSL sends session tickets at once, a client that only writes (an
 * upload) never reads them, and when Go's TLS (rclone) closes with them unread its kernel resets
 * the connection and drops the upload's unsent tail. A resumed handshake sends no ticket.
 */
export class FtpTls {
  private shared: ConnectionTls | undefined;

  constructor(
    private readonly material: TlsMaterial,
    private readonly requireSessionReuse = true,
  ) {
    try {
      this.context();
      // OpenSSL takes a key of another type than the certificate's without complaint (it fills
      // another slot), and every handshake would then fail: check the pair itself.
      if (!new X509Certificate(material.certPem).checkPrivateKey(createPrivateKey(material.keyPem))) {
        throw new Error('the private key does not belong to the certificate');
      }
    } catch (err) {
      throw new Error(`ftp: the TLS certificate or key cannot be used: ${(err as Error).message}`, { cause: err });
    }
  }

  private context(): SecureContext {
    return createSecureContext({
      cert: this.material.certPem,
      key: this.material.keyPem,
      minVersion: 'TLSv1.2',
      secureOptions: SECURE_OPTIONS,
      honorCipherOrder: true,
      // Fresh keys: tickets from other contexts cannot be resumed here.
      ticketKeys: randomBytes(48),
      sessionTimeout: SESSION_LIFETIME_S,
    });
  }

  /** TLS state of one control connection and its data connections. */
  forConnection(): ConnectionTls {
    if (this.requireSessionReuse) return new ConnectionTls(this.context(), true, SESSION_CACHE_MAX);
    this.shared ??= new ConnectionTls(this.context(), false, SHARED_SESSION_CACHE_MAX);
    return this.shared;
  }
}

export class ConnectionTls {
  // node:tls asks a "server" for TLS 1.2 session-ID resumption; this one is never listening
  // and only carries this context's cache.
  private readonly events = new NetServer();
  private readonly cache = new Map<string, Buffer>();

  constructor(
    private readonly context: SecureContext,
    /** Whether data connections must resume one of this context's sessions. */
    readonly requireResumption: boolean,
    cacheMax: number,
  ) {
    this.events.on('newSession', (id: Buffer, data: Buffer, done: () => void) => {
      this.cache.set(id.toString('hex'), data);
      while (this.cache.size > cacheMax) this.cache.delete(this.cache.keys().next().value!);
      done();
    });
    this.events.on('resumeSession', (id: Buffer, done: (err: Error | null, data: Buffer | null) => void) => {
      done(null, this.cache.get(id.toString('hex')) ?? null);
    });
  }

  /**
   * Runs the server side of a handshake on `raw`. With `requireResumption` (pass the property of
   * that name for data connections), a handshake that did not resume one of this context's
   * sessions is refused. With `upload`, endedWithoutCloseNotify() tells afterwards whether the
   * client ended the upload properly.
   */
  accept(raw: Socket, timeoutMs: number, requireResumption: boolean, opts: { upload?: boolean } = {}): Promise<TLSSocket> {
    return new Promise((resolve, reject) => {
      const below = opts.upload ? new TcpBelowTls(raw) : raw;
      const sock = new TLSSocket(below, {
        isServer: true,
        secureContext: this.context,
        server: this.events,
        ALPNCallback: ({ protocols }) => (protocols.includes('ftp') ? 'ftp' : undefined),
      });
      if (below instanceof TcpBelowTls) {
        below.watch(sock);
        // A TLS socket takes allowHalfOpen from the stream below, and ours must let TLS finish
        // writing; TLS itself must answer the client's close_notify with its own at once (as on a
        // plain TCP socket), or a client that waits for it (ftplib's unwrap) waits until we give up.
        sock.allowHalfOpen = false;
      }
      let settled = false;
      const fail = (err: Error) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        sock.destroy();
        raw.destroy();
        reject(err instanceof TlsHandshakeError ? err : new TlsHandshakeError(`TLS handshake failed: ${err.message}`, { cause: err }));
      };
      const timer = setTimeout(() => fail(new TlsHandshakeError('TLS handshake timed out')), timeoutMs);
      sock.on('error', fail);
      sock.once('close', () => fail(new TlsHandshakeError('connection closed during the TLS handshake')));
      // 'secure' is what node's own tls.Server waits for on server-side sockets.
      sock.once('secure', () => {
        if (settled) return;
        if (requireResumption && !sock.isSessionReused()) {
          settled = true;
          clearTimeout(timer);
          refuseGracefully(sock, raw, timeoutMs);
          reject(new TlsHandshakeError('session reuse required: the data connection must resume the TLS session of the control connection (tls_require_session_reuse)'));
          return;
        }
        settled = true;
        clearTimeout(timer);
        sock.disableRenegotiation();
        resolve(sock);
      });
    });
  }
}

/**
 * Ends a data connection refused after its handshake without resetting it: close_notify and FIN,
 * then what the client still sends is read and dropped until it closes (at most `timeoutMs`).
 * An uploading client writes before it reads the control reply; destroying the socket under
 * its writes would reset the connection, and it would fail on the reset instead of on our 522.
 */
function refuseGracefully(sock: TLSSocket, raw: Socket, timeoutMs: number): void {
  const done = () => {
    clearTimeout(timer);
    sock.destroy();
    raw.destroy();
  };
  const timer = setTimeout(done, timeoutMs);
  timer.unref();
  sock.removeAllListeners('error');
  sock.on('error', done);
  sock.once('close', done);
  sock.once('end', done);
  sock.disableRenegotiation();
  sock.resume();
  sock.end();
}

const truncation = new WeakMap<object, { truncated: boolean }>();

/**
 * Whether an upload's TLS stream ended because its TCP connection ended, without the client's
 * close_notify: the data may be cut short (a reset that dropped the client's unsent bytes, or a
 * forged FIN), so it must not be stored. Every client we know ends uploads with close_notify
 * (curl, lftp, ftplib, rclone, basic-ftp); vsftpd's strict_ssl_read_eof is the same check.
 * False for sockets accepted without `upload`.
 */
export function endedWithoutCloseNotify(sock: object): boolean {
  return truncation.get(sock)?.truncated ?? false;
}

/**
 * The TCP connection under an upload's TLS socket, passed through a JS stream so we see its end:
 * node:tls reports close_notify and a bare TCP end alike. TLS consumes every byte we hand it at
 * once, so when the TCP end reaches TLS, TLS has either ended already (close_notify came first)
 * or ends now (truncated).
 */
class TcpBelowTls extends Duplex {
  private tcpEnded = false;
  private eof = false;

  constructor(private readonly raw: Socket) {
    super({ allowHalfOpen: true });
    raw.on('data', (chunk: Buffer) => {
      if (!this.push(chunk)) raw.pause();
    });
    // A reset or a close ends the stream like a FIN does, after the bytes that came before it:
    // TLS still reads a close_notify among them, as node:tls itself would.
    const end = () => {
      if (this.eof) return;
      this.eof = true;
      this.push(null);
    };
    raw.on('end', end);
    raw.on('error', () => {});
    raw.on('close', end);
  }

  /** Call once `tls` is built on this stream (it has registered its own 'end' listener). */
  watch(tls: TLSSocket): void {
    const state = { truncated: false };
    truncation.set(tls, state);
    this.prependListener('end', () => (this.tcpEnded = true));
    let tlsEnded = false;
    const push = tls.push.bind(tls);
    tls.push = (chunk: unknown, encoding?: BufferEncoding): boolean => {
      if (chunk === null && !tlsEnded) {
        tlsEnded = true;
        state.truncated = this.tcpEnded;
      }
      return push(chunk, encoding);
    };
  }

  override _read(): void {
    this.raw.resume();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (err?: Error | null) => void): void {
    // What TLS sends on an upload connection (its close_notify) is dropped once the client has
    // gone; the read side reports how the connection ended.
    if (!this.raw.writable) return callback();
    this.raw.write(chunk, () => callback());
  }

  override _final(callback: (err?: Error | null) => void): void {
    this.raw.end();
    callback();
  }

  override _destroy(err: Error | null, callback: (err?: Error | null) => void): void {
    this.raw.destroy();
    callback(err);
  }
}
