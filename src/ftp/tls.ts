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
//   for TLS 1.2 session IDs and tickets, and for TLS 1.3 tickets.
import { X509Certificate, createPrivateKey, randomBytes, constants } from 'node:crypto';
import { Server as NetServer, type Socket } from 'node:net';
import { TLSSocket, createSecureContext, type SecureContext } from 'node:tls';

export type TlsMode = 'off' | 'optional' | 'required';

export interface TlsMaterial {
  /** PEM certificate chain. */
  certPem: string;
  /** PEM private key (no passphrase). */
  keyPem: string;
}

const SESSION_CACHE_MAX = 64;
const SECURE_OPTIONS = constants.SSL_OP_NO_RENEGOTIATION;

export class TlsHandshakeError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TlsHandshakeError';
  }
}

/** The server's certificate, checked once at start; hands out per-connection contexts. */
export class FtpTls {
  constructor(private readonly material: TlsMaterial) {
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
      // Fresh keys: tickets from other connections cannot be resumed here.
      ticketKeys: randomBytes(48),
    });
  }

  /** TLS state of one control connection and its data connections. */
  forConnection(): ConnectionTls {
    return new ConnectionTls(this.context());
  }
}

export class ConnectionTls {
  // node:tls asks a "server" for TLS 1.2 session-ID resumption; this one is never listening
  // and only carries this connection's cache.
  private readonly events = new NetServer();
  private readonly cache = new Map<string, Buffer>();

  constructor(private readonly context: SecureContext) {
    this.events.on('newSession', (id: Buffer, data: Buffer, done: () => void) => {
      this.cache.set(id.toString('hex'), data);
      while (this.cache.size > SESSION_CACHE_MAX) this.cache.delete(this.cache.keys().next().value!);
      done();
    });
    this.events.on('resumeSession', (id: Buffer, done: (err: Error | null, data: Buffer | null) => void) => {
      done(null, this.cache.get(id.toString('hex')) ?? null);
    });
  }

  /**
   * Runs the server side of a handshake on `raw`. With `requireResumption`, a handshake that did
   * not resume one of this connection's sessions is refused.
   */
  accept(raw: Socket, timeoutMs: number, requireResumption: boolean): Promise<TLSSocket> {
    return new Promise((resolve, reject) => {
      const sock = new TLSSocket(raw, {
        isServer: true,
        secureContext: this.context,
        server: this.events,
        ALPNCallback: ({ protocols }) => (protocols.includes('ftp') ? 'ftp' : undefined),
      });
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
          fail(new TlsHandshakeError('session reuse required: the data connection must resume the TLS session of the control connection'));
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
