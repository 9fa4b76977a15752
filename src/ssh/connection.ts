// One accepted TCP connection, from accept to close: login grace timer, authentication,
// server-side rekey policy, write coalescing, sessions, and a log line at each end.
import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import type { ClientInfo, Connection, NegotiatedAlgorithms, ServerChannel } from 'ssh2';
import type { Defender, FailureReason } from '../auth/types.js';
import { FirstOfEach } from '../util/first-of-each.js';
import { acknowledgeNow } from '../util/tcp-quickack.js';
import { gatherWrites } from '../util/write-gatherer.js';
import { isAllowedNegotiation } from './algorithms.js';
import { ConnectionAuth } from './auth.js';
import { endChannel, serveSession } from './session.js';
import { acceptSessionWithWindow, enforceChannelWindows, holdOutputWhileSocketBacklogged, replaceOffer, strictKexEnabled, takeOverChannelWindow } from './ssh2-internals.js';
import type { ChannelWindow, WindowPool } from './window-pool.js';
import type { SshLimits, SshServerOptions, SshSessionInfo } from './types.js';

/** OpenSSH's MaxSessions default: channels one connection may hold open at once. */
const MAX_SESSIONS = 10;
/**
 * Bytes a connection's socket may hold unsent before its channels' output waits: the SSH window
 * of OpenSSH's client and ssh2 (2 MiB), far above the 256 KiB an SFTP session corks at once.
 */
const SOCKET_BACKLOG_LIMIT = 2 * 1024 * 1024;
/** Unsent bytes on the socket above which we stop reading the client until it reads (see holdInputWhileBacklogged). */
const INPUT_HOLD_BACKLOG = 8 * 1024 * 1024;
/** How long a disconnecting peer gets to close its side before we destroy the socket. */
const DISCONNECT_LINGER_MS = 2_000;

export interface ConnectionDeps {
  opts: SshServerOptions;
  limits: SshLimits;
  /** Our KEXINIT offer (without ssh-rsa), installed on each connection. */
  offer: object;
  /** The windows of all session channels of the server. */
  windows: WindowPool;
}

export class SshConnection {
  readonly id = randomBytes(6).toString('hex');
  readonly remoteAddress: string;
  readonly remotePort: number;
  private client: Connection | undefined;
  private readonly auth: ConnectionAuth;
  private readonly startedAt = Date.now();
  private graceTimer: NodeJS.Timeout | undefined;
  private rekeyTimer: NodeJS.Timeout | undefined;
  private lingerTimer: NodeJS.Timeout | undefined;
  /** Reading paused until the client reads what we sent (holdInputWhileBacklogged). */
  private inputHeld = false;
  /** Whether the log already says this client's input was held (once a connection is enough). */
  private inputHoldLogged = false;
  private handshakes = 0;
  private rekeyRequested = false;
  private rekeyBase = 0;
  private rekeys = 0;
  /**
   * The pool shares of this connection's open sessions, one per session (so also their count).
   * ssh2 emits a session's 'close' only for the client's CHANNEL_CLOSE; when the connection
   * drops first (rclone and paramiko end that way), onClose gives them back, or the pool would
   * count them for good.
   */
  private readonly sessionWindows = new Set<ChannelWindow>();
  /** Requests refused on this connection: the first of each kind logged, all counted. */
  private readonly refusals: FirstOfEach;
  private penalised = false;
  private closed = false;

  constructor(
    private readonly sock: Socket,
    remoteAddress: string,
    private readonly deps: ConnectionDeps,
  ) {
    this.remoteAddress = remoteAddress;
    this.remotePort = sock.remotePort ?? 0;
    const { opts, limits } = deps;
    this.refusals = new FirstOfEach(opts.logger);
    this.auth = new ConnectionAuth({
      authenticator: opts.authenticator,
      defender: opts.defender,
      ...(opts.onLogin ? { onLogin: opts.onLogin } : {}),
      logger: opts.logger,
      maxAuthTries: limits.maxAuthTries,
      remoteAddress,
      remotePort: this.remotePort,
      connectionId: this.id,
      onTooManyFailures: () => this.disconnect(),
    });
    // LoginGraceTime counts from accept, so a client that never even sends its banner is cut too.
    this.graceTimer = setTimeout(() => this.graceExpired(), limits.loginGraceMs);
    this.graceTimer.unref();
    opts.logger.info({ conn: this.id, client: remoteAddress, clientPort: this.remotePort }, 'ssh connection');
  }

  private released = false;

  /** Tells the defender this connection left the unauthenticated pool (login or close), once. */
  private releaseOnce(defender: Defender | undefined): void {
    if (this.released) return;
    this.released = true;
    defender?.release(this.remoteAddress, this.authenticated);
  }

  get authenticated(): boolean {
    return this.auth.account !== undefined;
  }

  /** Call right after ssh2 took the socket (it paused it, so our listener cannot steal data). */
  afterInject(): void {
    // Everything ssh2 writes in one tick (window adjusts, replies produced while handling a
    // chunk, replies resolved together) leaves in one send (node-libs.md §5.2), its small
    // packets copied into one buffer so unsent replies cost what they weigh.
    gatherWrites(this.sock);
    this.sock.on('data', () => {
      // A client with Nagle's algorithm on may be holding the rest of a request until this
      // chunk is acknowledged (util/tcp-quickack.ts).
      acknowledgeNow(this.sock);
      this.maybeRekeyForBytes();
      this.holdInputWhileBacklogged();
    });
  }

  /**
   * Stops reading the client while the socket holds more than INPUT_HOLD_BACKLOG unsent: ssh2
   * answers requests that want a reply (keepalives, channel requests) as they come, whether the
   * client reads or not. A client sending keepalives and never reading grew lafsd by 500 MiB in
   * 3 s (found on 2026-12-05). Channel data has its own hold (SOCKET_BACKLOG_LIMIT) well below.
   */
  private holdInputWhileBacklogged(): void {
    if (this.inputHeld || this.sock.writableLength <= INPUT_HOLD_BACKLOG) return;
    this.inputHeld = true;
    this.sock.pause();
    if (!this.inputHoldLogged) {
      // Only a client that floods requests and never reads gets here (a slow reader of file data
      // is held much earlier, by its channel's window): worth one line, not one per hold.
      this.inputHoldLogged = true;
      this.deps.opts.logger.warn({ conn: this.id, unsentMiB: Math.round(this.sock.writableLength / 1048576) }, 'ssh: client does not read our replies; reading it paused until it does');
    }
    // A write over the socket's high-water mark returned false, so 'drain' comes once it is sent.
    this.sock.once('drain', () => {
      this.inputHeld = false;
      this.sock.resume();
    });
  }

  /** ssh2 read the client's identification line and is about to send its KEXINIT. */
  attach(client: Connection, info: ClientInfo): void {
    this.client = client;
    const { logger } = this.deps.opts;
    if (!replaceOffer(client, this.deps.offer)) {
      logger.warn({ conn: this.id }, 'ssh2 internals changed: cannot install our algorithm offer; relying on handshake checks');
    }
    const software = info.header?.versions?.software ?? '';
    const enforced = enforceChannelWindows(client, (channel, excess) => {
      logger.info({ conn: this.id, channel, excess }, 'ssh: peer ignored channel window; disconnecting');
      if (!this.authenticated) this.penalise('protocol-error');
      // Nothing more is read: the DISCONNECT is queued, and the socket closes after it.
      this.sock.pause();
      this.sock.end();
      this.lingerTimer ??= setTimeout(() => this.sock.destroy(), DISCONNECT_LINGER_MS);
      this.lingerTimer.unref();
    });
    if (!enforced) logger.warn({ conn: this.id }, 'ssh2 internals changed: cannot enforce channel windows');

    client.on('error', (err: Error & { level?: string }) => {
      const fields = { conn: this.id, err: err.message, level: err.level };
      if (err.level === 'socket') logger.debug(fields, 'ssh socket error');
      else logger.info(fields, 'ssh protocol error');
      if (!this.authenticated && err.level !== 'socket') this.penalise('protocol-error');
    });
    client.on('handshake', (negotiated: NegotiatedAlgorithms) => this.onHandshake(negotiated, software));
    client.on('authentication', (ctx) => this.auth.handle(ctx));
    client.on('ready', () => {
      this.clearGrace();
      // Logged in: the connection no longer counts against the unauthenticated limits.
      this.releaseOnce(this.deps.opts.defender);
    });
    client.on('session', (accept, reject) => {
      if (this.closed || this.sessionWindows.size >= MAX_SESSIONS) {
        reject();
        return;
      }
      const window = this.deps.windows.join();
      const opened = acceptSessionWithWindow(client, accept, window.openWith());
      const session = opened.session;
      if (!session) {
        window.leave();
        return;
      }
      window.announced(opened.window);
      this.sessionWindows.add(window);
      session.once('close', () => {
        if (this.sessionWindows.delete(window)) window.leave();
      });
      serveSession(session, {
        logger,
        connectionId: this.id,
        onSftp: this.deps.opts.onSftp,
        diskUsage: this.deps.opts.diskUsage,
        refused: (msg, fields) => this.refused(msg, fields),
        makeInfo: (channel) => this.sessionInfo(channel, window),
      });
    });
    // Forwarding of any kind is refused. Without these listeners ssh2 refuses too, but silently.
    client.on('tcpip', (_accept, reject, info) => {
      this.refused('ssh port forwarding refused', { dest: `${info.destIP}:${info.destPort}` });
      reject();
    });
    client.on('openssh.streamlocal', (_accept, reject) => {
      this.refused('ssh socket forwarding refused', {});
      reject();
    });
    client.on('request', (_accept, reject, name) => {
      this.refused('ssh global request refused', { request: name });
      reject?.();
    });
  }

  private refused(msg: string, fields: Record<string, string>): void {
    this.refusals.note('info', { conn: this.id, ...fields }, msg);
  }

  /** Disconnect politely, and for sure within a short time. Idempotent. */
  disconnect(): void {
    if (this.closed || this.lingerTimer) return;
    try {
      if (this.client) this.client.end();
      else this.sock.end();
    } catch {
      this.sock.destroy();
    }
    this.lingerTimer = setTimeout(() => this.sock.destroy(), DISCONNECT_LINGER_MS);
    this.lingerTimer.unref();
  }

  /** The socket closed: stop timers, tell the auth code, log the connection's end. */
  onClose(defender: Defender | undefined): void {
    if (this.closed) return;
    this.closed = true;
    this.auth.connectionClosed();
    this.clearGrace();
    clearTimeout(this.rekeyTimer);
    clearTimeout(this.lingerTimer);
    for (const window of this.sessionWindows) window.leave();
    this.sessionWindows.clear();
    // A connection that never got through the identification exchange (scanner, garbage).
    if (!this.client && !this.penalised) this.penalise('protocol-error');
    this.releaseOnce(defender);
    this.deps.opts.logger.info(
      {
        conn: this.id,
        client: this.remoteAddress,
        user: this.auth.account?.username,
        ms: Date.now() - this.startedAt,
        bytesIn: this.sock.bytesRead,
        bytesOut: this.sock.bytesWritten,
        rekeys: this.rekeys,
        ...this.refusals.summary(),
      },
      'ssh connection closed',
    );
  }

  private sessionInfo(channel: ServerChannel, window: ChannelWindow): SshSessionInfo {
    const account = this.auth.account!;
    const sock = this.sock;
    let corked = 0;
    const wire = takeOverChannelWindow(channel, () => window.onData());
    if (wire) window.attach(wire);
    else this.deps.opts.logger.warn({ conn: this.id }, 'ssh: cannot manage the channel window (unexpected ssh2 internals); ssh2 grants its own');
    const gate = wire ? window : undefined;
    if (!holdOutputWhileSocketBacklogged(channel, sock, SOCKET_BACKLOG_LIMIT)) {
      this.deps.opts.logger.warn({ conn: this.id }, 'ssh: cannot hold channel output for the socket (unexpected ssh2 internals)');
    }
    // Corks left over when the channel goes away must not stall the rest of the connection.
    channel.once('close', () => {
      for (; corked > 0; corked -= 1) sock.uncork();
    });
    return {
      account,
      remoteAddress: this.remoteAddress,
      remotePort: this.remotePort,
      connectionId: this.id,
      cork: () => {
        corked += 1;
        sock.cork();
      },
      uncork: () => {
        if (corked === 0) return;
        corked -= 1;
        sock.uncork();
      },
      endChannel: (exitStatus) => endChannel(channel, exitStatus),
      ...(gate ? { windowGate: gate } : {}),
    };
  }

  private onHandshake(negotiated: NegotiatedAlgorithms, software: string): void {
    const { logger } = this.deps.opts;
    this.handshakes += 1;
    const fields = {
      conn: this.id,
      kex: negotiated.kex,
      hostKey: negotiated.serverHostKey,
      cipher: negotiated.cs.cipher,
      mac: negotiated.cs.cipher.includes('gcm') || negotiated.cs.cipher.startsWith('chacha') ? undefined : negotiated.cs.mac,
      strictKex: strictKexEnabled(this.client!),
    };
    if (!isAllowedNegotiation(negotiated)) {
      logger.warn(fields, 'ssh negotiated algorithms outside our list; disconnecting');
      this.disconnect();
      return;
    }
    if (this.handshakes === 1) {
      logger.info({ ...fields, software: software.slice(0, 100) }, 'ssh handshake');
    } else {
      this.rekeys += 1;
      logger.info({ ...fields, initiator: this.rekeyRequested ? 'server' : 'client' }, 'ssh rekey');
    }
    // Any completed key exchange gives fresh keys: restart both rekey limits from here.
    this.rekeyRequested = false;
    this.rekeyBase = this.sock.bytesRead + this.sock.bytesWritten;
    clearTimeout(this.rekeyTimer);
    this.rekeyTimer = setTimeout(() => this.requestRekey('interval'), this.deps.limits.rekeyIntervalMs);
    this.rekeyTimer.unref();
  }

  private maybeRekeyForBytes(): void {
    if (this.handshakes === 0 || this.rekeyRequested) return;
    const total = this.sock.bytesRead + this.sock.bytesWritten;
    if (total - this.rekeyBase >= this.deps.limits.rekeyBytes) this.requestRekey('bytes');
  }

  private requestRekey(why: 'bytes' | 'interval'): void {
    if (!this.client || this.closed || this.rekeyRequested) return;
    this.rekeyRequested = true;
    this.deps.opts.logger.debug({ conn: this.id, why }, 'ssh starting rekey');
    // If a client-initiated exchange is already running ssh2 ignores this; its completion
    // resets our counters all the same.
    this.client.rekey();
  }

  private graceExpired(): void {
    this.graceTimer = undefined;
    if (this.authenticated || this.closed) return;
    this.deps.opts.logger.info({ conn: this.id, client: this.remoteAddress }, 'ssh login grace time exceeded');
    this.penalise('grace-timeout');
    this.disconnect();
  }

  private clearGrace(): void {
    clearTimeout(this.graceTimer);
    this.graceTimer = undefined;
  }

  /** One connection-level penalty at most (per-attempt failures are reported by the auth code). */
  private penalise(reason: FailureReason): void {
    if (this.penalised) return;
    this.penalised = true;
    this.deps.opts.defender?.recordFailure(this.remoteAddress, reason);
  }
}
