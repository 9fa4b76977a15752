// Data connections: passive listeners and active connects.
//
// Passive (PASV/EPSV), hardened against port stealing (CERT VU#2558, "Pizza Thief"):
// - the port comes from the configured range, starting at a random place and trying every port
//   in the range before giving up (not a fixed number of attempts); without a range, from random
//   places of the kernel's ephemeral range (passive-ports.ts);
// - only a connection from the control connection's own address is accepted; others are
//   dropped at once and the real client can still connect;
// - one connection per PASV, after which the port is closed;
// - the port closes when no accepted connection arrives within the data timeout.
// Active (PORT/EPRT): the bounce rules are in addresses.ts; here we connect with a timeout from
// the address the control connection reached us on (from a random ephemeral port first, as
// passive listeners listen: passive-ports.ts).
import { createServer, connect, type Server, type Socket } from 'node:net';
import { normalizeAddress } from '../util/net.js';
import { PROXY_HEADER_TIMEOUT_MS, readProxyHeader, type ProxyTrust } from '../util/proxy-protocol.js';
import type { HostPort } from './addresses.js';
import { randomEphemeralPorts } from './passive-ports.js';

export class DataConnectionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DataConnectionError';
  }
}

export interface PortRange {
  min: number;
  max: number;
}

function listenOn(server: Server, host: string, port: number): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      server.removeListener('listening', onListening);
      if (err.code === 'EADDRINUSE' || err.code === 'EACCES') resolve(false);
      else reject(err);
    };
    const onListening = () => {
      server.removeListener('error', onError);
      resolve(true);
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen({ host, port, exclusive: true, backlog: 4 });
  });
}

export class PassiveListener {
  private accepted?: Socket;
  private waiter?: { resolve: (s: Socket) => void; reject: (e: Error) => void };
  private failure?: Error;
  private timer: NodeJS.Timeout;
  private closed = false;

  private constructor(
    private readonly server: Server,
    readonly port: number,
    private readonly peer: string,
    private readonly onIntruder: (intruder: string, port: number) => void,
    timeoutMs: number,
    private readonly proxy?: ProxyTrust,
  ) {
    server.on('connection', (sock) => this.onConnection(sock));
    server.on('error', (err) => this.fail(new DataConnectionError(`passive listener error: ${err.message}`)));
    this.timer = setTimeout(() => this.fail(new DataConnectionError('no data connection arrived in time')), timeoutMs);
  }

  /**
   * Listens on `host` (the control connection's local address) for a connection from `peer`
   * (through a load balancer in `proxy`: one whose PROXY header names `peer`). A connection from
   * anyone else is dropped and reported to `onIntruder` (its address, our port).
   */
  static async open(host: string, peer: string, range: PortRange | undefined, timeoutMs: number, onIntruder: (intruder: string, port: number) => void, proxy?: ProxyTrust): Promise<PassiveListener> {
    const server = createServer({ pauseOnConnect: true });
    const bindHost = normalizeAddress(host);
    if (!range) {
      // Random ports, then port 0: port 0 gets slow once TIME_WAITs pile up (passive-ports.ts).
      let bound = false;
      for (const port of randomEphemeralPorts()) if ((bound = await listenOn(server, bindHost, port))) break;
      if (!bound && !(await listenOn(server, bindHost, 0))) throw new DataConnectionError('no free port for a passive data connection');
    } else {
      const count = range.max - range.min + 1;
      const first = Math.floor(Math.random() * count);
      let bound = false;
      for (let i = 0; i < count && !bound; i++) bound = await listenOn(server, bindHost, range.min + ((first + i) % count));
      if (!bound) throw new DataConnectionError(`no free port in the passive range ${range.min}-${range.max}`);
    }
    const port = (server.address() as { port: number }).port;
    return new PassiveListener(server, port, normalizeAddress(peer), onIntruder, timeoutMs, proxy);
  }

  private onConnection(sock: Socket): void {
    sock.on('error', () => {});
    if (!this.closed && !this.accepted && this.proxy?.trusts(sock.remoteAddress)) {
      readProxyHeader(sock, PROXY_HEADER_TIMEOUT_MS).then(
        (source) => this.admit(sock, source?.address ?? normalizeAddress(sock.remoteAddress)),
        () => sock.destroy(),
      );
      return;
    }
    this.admit(sock, normalizeAddress(sock.remoteAddress));
  }

  private admit(sock: Socket, from: string): void {
    if (this.closed || this.accepted) {
      sock.destroy();
      return;
    }
    if (from !== this.peer) {
      // Someone else raced the client to our port: drop it, keep waiting for the client.
      this.onIntruder(from, this.port);
      sock.destroy();
      return;
    }
    this.accepted = sock;
    clearTimeout(this.timer);
    this.server.close();
    if (this.waiter) {
      this.waiter.resolve(sock);
      this.waiter = undefined;
    }
  }

  private fail(err: Error): void {
    if (this.accepted || this.failure) return;
    this.failure = err;
    this.shutdown();
    this.waiter?.reject(err);
    this.waiter = undefined;
  }

  private shutdown(): void {
    this.closed = true;
    clearTimeout(this.timer);
    this.server.close();
  }

  /** The accepted connection (waits until it arrives, fails on timeout or close). */
  take(): Promise<Socket> {
    if (this.accepted) {
      const s = this.accepted;
      this.accepted = undefined;
      this.closed = true;
      return Promise.resolve(s);
    }
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.waiter = {
        resolve: (s) => {
          this.accepted = undefined;
          this.closed = true;
          resolve(s);
        },
        reject,
      };
    });
  }

  /** Gives up the listener and any connection not taken yet. */
  close(): void {
    this.accepted?.destroy();
    this.accepted = undefined;
    this.fail(new DataConnectionError('data connection cancelled'));
    this.shutdown();
  }
}

/** Codes of a connect whose local port was taken (bound elsewhere, or that pair still in TIME_WAIT). */
const LOCAL_PORT_TAKEN = new Set(['EADDRINUSE', 'EADDRNOTAVAIL']);

/**
 * Connects to the client for PORT/EPRT, from `localAddress`, within `timeoutMs`. Binding the
 * local address first makes Linux search for a free port as a listen on port 0 does, and that
 * search slows down as active downloads leave their ports in TIME_WAIT (0.7-2.1 ms with 12,000
 * to 24,000 of them, against 40-50 µs from a random port; bench/passive-ports.sh): so random
 * ports of the ephemeral range come first, as for passive listeners, then port 0.
 */
export async function connectActive(target: HostPort, localAddress: string, timeoutMs: number): Promise<Socket> {
  const deadline = Date.now() + timeoutMs;
  const left = () => Math.max(1, deadline - Date.now());
  for (const localPort of randomEphemeralPorts()) {
    try {
      return await connectFrom(target, localAddress, localPort, left());
    } catch (err) {
      if (!LOCAL_PORT_TAKEN.has((err as { code?: string }).code ?? '')) throw err;
    }
  }
  return connectFrom(target, localAddress, 0, left());
}

function connectFrom(target: HostPort, localAddress: string, localPort: number, timeoutMs: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const sock = connect({ host: target.host, port: target.port, localAddress: normalizeAddress(localAddress), ...(localPort ? { localPort } : {}) });
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new DataConnectionError('connecting to the client timed out'));
    }, timeoutMs);
    sock.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      sock.destroy();
      reject(Object.assign(new DataConnectionError(`cannot connect to the client: ${err.message}`), { code: err.code }));
    });
    sock.once('connect', () => {
      clearTimeout(timer);
      sock.removeAllListeners('error');
      sock.on('error', () => {});
      sock.pause();
      resolve(sock);
    });
  });
}
