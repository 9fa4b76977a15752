// The SSH listener: our own net.Server (so we can set TCP_NODELAY and ask the defender before
// ssh2 sees a byte), ssh2's Server for the protocol, fed through injectSocket().
import { createServer, type Server as NetServer, type Socket } from 'node:net';
import './ssh2-preload.js'; // first: ssh2's padding from our random pool
import ssh2 from 'ssh2';
import { normalizeAddress } from '../util/net.js';
import { PROXY_HEADER_TIMEOUT_MS, readProxyHeader } from '../util/proxy-protocol.js';
import { hostKeyAlgorithmsFor, ssh2Algorithms } from './algorithms.js';
import { SshConnection } from './connection.js';
import { parseHostKey } from './hostkeys.js';
import { assertNativeCrypto } from './native.js';
import { buildOffer } from './ssh2-internals.js';
import { DEFAULT_LIMITS, type RunningSshServer, type SshLimits, type SshServerOptions } from './types.js';
import { WindowPool } from './window-pool.js';

/** Windows of all session channels together when the caller does not say (transfer_memory's default, config/schema.ts). */
const DEFAULT_WINDOW_MEMORY = 8 * 1024 * 1024;

const { Server: Ssh2Server } = ssh2;

/** Server identification: `SSH-2.0-lafsd` (no library version for scanners to match). */
const IDENT = 'lafsd';

export async function startSshServer(opts: SshServerOptions): Promise<RunningSshServer> {
  assertNativeCrypto();
  const limits = resolveLimits(opts.limits);
  if (opts.hostKeys.length === 0) throw new Error('ssh: at least one host key is needed');
  const parsed = opts.hostKeys.map((k, i) => parseHostKey(k, `ssh host key #${i + 1}`));
  const algorithms = ssh2Algorithms(hostKeyAlgorithmsFor(parsed));
  const offer = buildOffer(algorithms);
  const { logger, defender } = opts;
  const windows = new WindowPool(opts.windowMemory ?? DEFAULT_WINDOW_MEMORY);

  const ssh = new Ssh2Server({ hostKeys: opts.hostKeys, algorithms, ident: IDENT });
  ssh.on('error', (err: Error) => logger.error({ err: err.message }, 'ssh server error'));

  // ssh2 announces a connection (after reading the client's identification line) with the
  // socket's address and port; that pair names one live TCP connection on our listener.
  const awaitingHeader = new Map<string, SshConnection>();
  const connections = new Set<SshConnection>();
  const keyOf = (ip: string | undefined, port: number | undefined) => `${ip}|${port}`;

  ssh.on('connection', (client, info) => {
    const conn = awaitingHeader.get(keyOf(info.ip, info.port));
    if (!conn) {
      client.end();
      return;
    }
    awaitingHeader.delete(keyOf(info.ip, info.port));
    conn.attach(client, info);
  });

  let closing = false;
  const onSocket = (sock: Socket) => {
    sock.on('error', (err) => logger.debug({ err: err.message }, 'ssh socket error'));
    const rawAddress = sock.remoteAddress;
    if (closing || rawAddress === undefined) {
      sock.destroy();
      return;
    }
    if (!opts.proxy?.trusts(rawAddress)) {
      accept(sock, rawAddress, normalizeAddress(rawAddress), false, defender);
      return;
    }
    // A load balancer's connection: the client is named by its PROXY header. Without one (a
    // LOCAL header: the balancer's own health check) it is not scored or limited: a check that
    // reads the banner and hangs up would otherwise get the balancer banned, and every client
    // with it.
    readProxyHeader(sock, PROXY_HEADER_TIMEOUT_MS).then(
      (source) => accept(sock, rawAddress, source?.address ?? normalizeAddress(rawAddress), true, source ? defender : undefined),
      (err: Error) => {
        logger.info({ balancer: normalizeAddress(rawAddress), err: err.message }, 'ssh connection from a load balancer without a PROXY header dropped');
        sock.destroy();
      },
    );
  };

  const accept = (sock: Socket, rawAddress: string, address: string, proxied: boolean, defender: SshServerOptions['defender']) => {
    if (closing || sock.destroyed) {
      sock.destroy();
      return;
    }
    // Before any banner or key-exchange work: a banned or flooding address costs us nothing.
    // Closed without a word, as sshd does past MaxStartups (OpenSSH shows no pre-banner text).
    const admission = defender ? defender.admission(address) : 'ok';
    if (admission !== 'ok') {
      logger.info({ client: address, reason: admission }, 'ssh connection refused by defender');
      sock.destroy();
      return;
    }
    // Counted as open from here to the socket's close, whatever happens in between.
    sock.once('close', () => defender?.closed(address));
    sock.setNoDelay(true);
    const conn = new SshConnection(sock, address, { opts: defender === opts.defender ? opts : { ...opts, defender }, limits, offer, windows });
    const key = keyOf(rawAddress, sock.remotePort);
    connections.add(conn);
    awaitingHeader.set(key, conn);
    sock.once('close', () => {
      awaitingHeader.delete(key);
      connections.delete(conn);
      conn.onClose(defender);
      if (closing && connections.size === 0) allClosed?.();
    });
    try {
      ssh.injectSocket(sock);
      if (proxied) sock.resume(); // left paused after its header
      conn.afterInject();
    } catch (err) {
      logger.error({ err: String(err) }, 'ssh could not start a connection');
      sock.destroy();
    }
  };

  const net: NetServer = createServer({ noDelay: true }, onSocket);
  net.on('error', (err) => logger.error({ err: err.message }, 'ssh listener error'));
  await listen(net, opts.host, opts.port, opts.backlog);
  const bound = net.address();
  const address = typeof bound === 'object' && bound ? { host: bound.address, port: bound.port } : { host: opts.host, port: opts.port };
  logger.info({ host: address.host, port: address.port, hostKeys: parsed.map((k) => k.type) }, 'ssh listening');

  let allClosed: (() => void) | undefined;
  let closed: Promise<void> | undefined;
  const close = () => {
    closed ??= (async () => {
      closing = true;
      const listenerClosed = new Promise<void>((resolve) => net.close(() => resolve()));
      const drained = new Promise<void>((resolve) => {
        allClosed = resolve;
        if (connections.size === 0) resolve();
      });
      for (const conn of connections) conn.disconnect();
      await Promise.all([listenerClosed, drained]);
      logger.info({ host: address.host, port: address.port }, 'ssh stopped');
    })();
    return closed;
  };

  return { address, close };
}

function resolveLimits(given: Partial<SshLimits> | undefined): SshLimits {
  const limits = { ...DEFAULT_LIMITS, ...given };
  for (const [name, value] of Object.entries(limits)) {
    if (!Number.isFinite(value) || value <= 0) throw new Error(`ssh: limit ${name} must be a positive number (got ${value})`);
  }
  return limits;
}

function listen(net: NetServer, host: string, port: number, backlog: number | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => reject(new Error(`ssh: cannot listen on ${host}:${port}: ${err.message}`));
    net.once('error', onError);
    net.listen({ host, port, backlog }, () => {
      net.off('error', onError);
      resolve();
    });
  });
}
