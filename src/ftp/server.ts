// The FTP listeners: the control port (explicit FTPS via AUTH TLS when configured) and an
// optional implicit-FTPS port. Each accepted socket is first shown to the defender, before any
// greeting or TLS work, so a banned or flooding address costs almost nothing.
import { createServer, type Server, type Socket } from 'node:net';
import { normalizeAddress } from '../util/net.js';
import { PROXY_HEADER_TIMEOUT_MS, readProxyHeader } from '../util/proxy-protocol.js';
import type { AdmitResult } from '../auth/types.js';
import { reply } from './replies.js';
import { FtpSession } from './session.js';
import { FtpTls, type TlsMode } from './tls.js';
import { DEFAULT_LIMITS, type FtpLimits, type FtpServerOptions, type RunningFtpServer } from './types.js';

const IMPLICIT_HANDSHAKE_MS = 30_000;

function listen(server: Server, host: string, port: number, backlog: number | undefined): Promise<{ host: string; port: number }> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port, ...(backlog ? { backlog } : {}) }, () => {
      server.removeListener('error', reject);
      const a = server.address() as { address: string; port: number };
      resolve({ host: a.address, port: a.port });
    });
  });
}

export async function startFtpServer(opts: FtpServerOptions): Promise<RunningFtpServer> {
  const limits: FtpLimits = { ...DEFAULT_LIMITS, ...opts.limits };
  const tlsMode: TlsMode = opts.tlsMode ?? (opts.tls ? 'optional' : 'off');
  if (tlsMode !== 'off' && !opts.tls) throw new Error(`ftp: tls = ${tlsMode} needs a certificate and key`);
  if (opts.implicit && !opts.tls) throw new Error('ftp: implicit FTPS needs a certificate and key');
  const tls = opts.tls ? new FtpTls(opts.tls, opts.tlsRequireSessionReuse ?? true) : undefined;
  const { logger, defender } = opts;
  const sessions = new Set<FtpSession>();
  const sockets = new Set<Socket>();
  let closing = false;
  let allClosed: (() => void) | undefined;

  const onSocket = (sock: Socket, implicit: boolean) => {
    sock.on('error', (err) => logger.debug({ err: err.message }, 'ftp socket error'));
    const raw = sock.remoteAddress;
    if (closing || raw === undefined) {
      sock.destroy();
      return;
    }
    if (!opts.proxy?.trusts(raw)) {
      accept(sock, implicit, normalizeAddress(raw), sock.remotePort ?? 0, false, defender);
      return;
    }
    // A load balancer's connection: the client is named by its PROXY header. Without one (a
    // LOCAL header: the balancer's own health check) it is not scored or limited.
    readProxyHeader(sock, PROXY_HEADER_TIMEOUT_MS).then(
      (source) => accept(sock, implicit, source?.address ?? normalizeAddress(raw), source?.port ?? sock.remotePort ?? 0, true, source ? defender : undefined),
      (err: Error) => {
        logger.info({ balancer: normalizeAddress(raw), err: err.message }, 'ftp connection from a load balancer without a PROXY header dropped');
        sock.destroy();
      },
    );
  };

  const accept = (sock: Socket, implicit: boolean, address: string, remotePort: number, proxied: boolean, defender: FtpServerOptions['defender']) => {
    if (closing || sock.destroyed) {
      sock.destroy();
      return;
    }
    const admission = defender ? defender.admission(address) : 'ok';
    if (admission !== 'ok') {
      logger.info({ client: address, reason: admission }, 'ftp connection refused by defender');
      if (implicit) sock.destroy();
      else sock.end(refusalReply(admission));
      return;
    }
    // Counted as open from here to the socket's close, whatever happens in between.
    sock.once('close', () => defender?.closed(address));
    sock.setNoDelay(true);
    sockets.add(sock);
    const session = new FtpSession(sock, {
      options: defender === opts.defender ? opts : { ...opts, defender },
      limits,
      tls,
      // The implicit port is TLS whatever the policy says for the plain one.
      tlsMode: implicit ? 'required' : tlsMode,
      logger,
      implicitTls: implicit,
      remoteAddress: address,
      remotePort,
      onClosed: (s) => {
        sessions.delete(s);
        if (closing && sessions.size === 0) allClosed?.();
      },
    });
    sock.once('close', () => {
      sockets.delete(sock);
      if (closing && sessions.size === 0) allClosed?.();
    });
    if (!implicit) {
      sessions.add(session);
      session.start();
      if (proxied) sock.resume(); // left paused after its header
      return;
    }
    session
      .tlsForImplicit!.accept(sock, IMPLICIT_HANDSHAKE_MS, false)
      .then((tlsSock) => {
        sessions.add(session);
        session.start(tlsSock);
      })
      .catch((err: Error) => {
        logger.info({ client: address, err: err.message }, 'ftp implicit TLS handshake failed');
        defender?.release(address, false);
        sock.destroy();
      });
  };

  const control = createServer((s) => onSocket(s, false));
  control.on('error', (err) => logger.error({ err: err.message }, 'ftp server error'));
  const address = await listen(control, opts.host, opts.port, opts.backlog);
  let implicitServer: Server | undefined;
  let implicitAddress: { host: string; port: number } | undefined;
  if (opts.implicit) {
    implicitServer = createServer((s) => onSocket(s, true));
    implicitServer.on('error', (err) => logger.error({ err: err.message }, 'ftps server error'));
    try {
      implicitAddress = await listen(implicitServer, opts.implicit.host, opts.implicit.port, opts.backlog);
    } catch (err) {
      control.close();
      throw err;
    }
  }
  logger.info({ host: address.host, port: address.port, tls: tlsMode, implicit: implicitAddress }, 'FTP listening');

  return {
    address,
    ...(implicitAddress ? { implicitAddress } : {}),
    close: async () => {
      if (closing) return;
      closing = true;
      const stopped = Promise.all([control, implicitServer].filter((s): s is Server => !!s).map((s) => new Promise<void>((r) => s.close(() => r()))));
      if (sessions.size > 0) {
        const done = new Promise<void>((r) => (allClosed = r));
        for (const s of sessions) s.shutdown();
        await done;
      }
      for (const s of sockets) s.destroy();
      await stopped;
    },
  };
}

/** The 421 a refused connection gets instead of a greeting (texts as vsftpd's). */
function refusalReply(admission: AdmitResult): string {
  if (admission === 'connections-per-address') return reply(421, 'There are too many connections from your address; try again later.');
  if (admission === 'connections') return reply(421, 'There are too many connected users; try again later.');
  return reply(421, 'Service not available, closing control connection.');
}
