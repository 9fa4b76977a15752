// One FTP control connection: reads commands in order (pipelining is fine), answers each, and
// runs transfers over data connections. Every filesystem decision is the vfs's; this file only
// translates. Commands wait for the one before them, except ABOR and STAT, which are answered
// while a transfer runs (the control socket is never paused for a transfer).
import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { Account } from '../auth/types.js';
import { FirstOfEach } from '../util/first-of-each.js';
import { normalizeAddress } from '../util/net.js';
import { sleepOffLoop } from '../util/pool-sleep.js';
import {
  ROOT, VfsError, childOf, formatPath, isVfsError, nameOf, parentOf, parsePath, redactedPath, samePath, lsLine,
  type ListEntry, type VPath, type VfsFile, type VfsSession,
} from '../vfs/index.js';
import { checkActiveTarget, familyOf, formatEpsv, formatPasv, parseEprtArg, parseEpsvArg, parsePortArg, type HostPort } from './addresses.js';
import { LineReader, parseCommand, type Command } from './codec.js';
import { featureLines, helpLines, lookupCommand } from './commands.js';
import { passiveAnswerMayStallCurl } from './curl-stall.js';
import { DataConnectionError, PassiveListener, connectActive } from './data.js';
import { errorReply, transferErrorReply } from './errors.js';
import { DEFAULT_MLST_FACTS, formatTimeVal, listLines, mlsxLine, parseTimeVal, selectFacts, sortEntries, stripListOptions, type MlstFact } from './listing.js';
import { listingLine, multiline, quotePath, reply } from './replies.js';
import { endedWithoutCloseNotify, type ConnectionTls, type FtpTls, type TlsMode } from './tls.js';
import { receiveFile, sendFile, sendText, type Progress } from './transfer.js';
import type { FtpLimits, FtpServerOptions, Logger } from './types.js';

/** Unread control bytes above which we stop reading the socket until commands catch up. */
const MAX_UNREAD = 64 * 1024;
/**
 * Reply bytes waiting unsent on the control socket above which no further command starts until
 * the client reads: a client that pipelines commands and never reads the answers must not make
 * us keep them all (HELP: 6 bytes in, ~400 out). Its commands then wait in TCP (MAX_UNREAD).
 */
const MAX_UNSENT = 256 * 1024;
/** How long a closing connection may take to flush its last reply. */
const CLOSE_GRACE_MS = 5000;
const TLS_HANDSHAKE_MS = 30_000;
/** How long a same-host client's PASV/EPSV answer waits (sameHostPause). */
const SAME_HOST_PASSIVE_PAUSE_MICROS = 500;

export interface SessionContext {
  options: FtpServerOptions;
  limits: FtpLimits;
  tls: FtpTls | undefined;
  tlsMode: TlsMode;
  logger: Logger;
  /** The connection arrived on the implicit-FTPS port and is already TLS. */
  implicitTls: boolean;
  remoteAddress: string;
  remotePort: number;
  onClosed(session: FtpSession): void;
}

interface Transfer {
  controller: AbortController;
  progress: Progress;
  finished: Promise<void>;
  markFinished(): void;
}

interface ReplyText {
  code: number;
  text: string;
}

type Handler = (arg: Buffer, cmd: Command) => Promise<void> | void;

const utf8 = new TextDecoder('utf-8', { fatal: true });

export class FtpSession {
  readonly id = randomBytes(4).toString('hex');
  private socket: Socket;
  private readonly reader = new LineReader();
  /** Made on first use (AUTH TLS, implicit FTPS): plain connections never pay for a TLS context. */
  private tlsState?: ConnectionTls;
  private secure: boolean;
  private pbsz = false;
  private prot: 'C' | 'P' = 'C';
  private pendingUser?: string;
  private account?: Account;
  private vfs?: VfsSession;
  private failures = 0;
  private cwd: VPath = ROOT;
  private type: 'A' | 'I' = 'I';
  private restOffset = 0;
  private renameFrom?: VPath;
  private passive?: PassiveListener;
  private active?: HostPort;
  private epsvAll = false;
  /** The verb of the last command begun, and of the one before the running one (curl-stall.ts). */
  private lastVerb?: string;
  private precedingVerb?: string;
  private facts = new Set<MlstFact>(DEFAULT_MLST_FACTS);
  private running = false;
  private outOfBand = false;
  private upgrading = false;
  private readPaused = false;
  /** Commands wait for the control socket's 'drain' (MAX_UNSENT). */
  private awaitingDrain = false;
  private transfer?: Transfer;
  private closing = false;
  /** Aborted when the control connection closes: a password check still waiting is dropped. */
  private readonly gone = new AbortController();
  private closed = false;
  /** The client closed its side of the control connection. */
  private peerEnded = false;
  private graceTimer?: NodeJS.Timeout;
  private idleTimer?: NodeJS.Timeout;
  private closeTimer?: NodeJS.Timeout;
  private readonly log: Logger;
  /** Refusals a client can repeat at will (PORT to a foreign host, PASV with no port free, a foreign data connection): first of each logged, all counted. */
  private readonly refusals: FirstOfEach;
  private readonly handlers: Record<string, Handler>;
  private readonly onData = (chunk: Buffer) => this.received(chunk);

  constructor(socket: Socket | TLSSocket, private readonly ctx: SessionContext) {
    this.socket = socket;
    this.secure = ctx.implicitTls;
    if (ctx.implicitTls) {
      // Implicit FTPS (the de-facto standard on port 990): everything is protected from the start.
      this.pbsz = true;
      this.prot = 'P';
    }
    this.log = {
      info: (o, m) => ctx.logger.info({ conn: this.id, ...o }, m),
      warn: (o, m) => ctx.logger.warn({ conn: this.id, ...o }, m),
      error: (o, m) => ctx.logger.error({ conn: this.id, ...o }, m),
      debug: (o, m) => ctx.logger.debug({ conn: this.id, ...o }, m),
    };
    this.refusals = new FirstOfEach(this.log);
    this.handlers = this.buildHandlers();
  }

  /** The TLS state of this connection, when FTPS is on. */
  private get connTls(): ConnectionTls | undefined {
    if (!this.tlsAvailable) return undefined;
    this.tlsState ??= this.ctx.tls!.forConnection();
    return this.tlsState;
  }

  private get tlsAvailable(): boolean {
    return this.ctx.tls !== undefined && this.ctx.tlsMode !== 'off';
  }

  /** Implicit FTPS: the TLS context to run the first handshake with. */
  get tlsForImplicit(): ConnectionTls | undefined {
    return this.connTls;
  }

  /** Greets the client; `socket` replaces the accepted one (implicit FTPS: after the handshake). */
  start(socket?: Socket): void {
    this.attach(socket ?? this.socket);
    this.log.info({ client: this.ctx.remoteAddress, clientPort: this.ctx.remotePort, tls: this.secure }, 'ftp connection');
    this.graceTimer = setTimeout(() => this.loginTimeout(), this.ctx.limits.loginGraceMs);
    this.write(reply(220, 'lafsd FTP server ready.'));
  }

  /** Server shutdown: tell the client, end the session (an upload in progress links nothing). */
  shutdown(): void {
    this.close(reply(421, 'Server shutting down, closing control connection.'));
  }

  // --- the control socket -------------------------------------------------------------------

  private attach(sock: Socket): void {
    this.socket = sock;
    sock.on('data', this.onData);
    sock.on('error', (err) => this.log.debug({ err: err.message }, 'ftp control socket error'));
    sock.once('end', () => (this.peerEnded = true));
    sock.once('close', () => void this.onSocketClosed());
    sock.resume();
  }

  private write(text: string): void {
    if (!this.closed && this.socket.writable) this.socket.write(text);
  }

  private send(code: number, text: string): void {
    this.write(reply(code, text));
  }

  private received(chunk: Buffer): void {
    if (this.closing) return;
    this.reader.push(chunk);
    this.pump();
  }

  /** Takes commands off the reader in order, one at a time (ABOR and STAT also during transfers). */
  private pump(): void {
    while (!this.closing && !this.upgrading && !this.outOfBand) {
      if (this.socket.writableLength > MAX_UNSENT) {
        this.resumeOnDrain();
        break;
      }
      if (this.running) {
        if (!this.transfer) break;
        const peeked = this.reader.peek();
        if (peeked === undefined) break;
        if (peeked === 'overflow') return this.lineTooLong();
        const cmd = parseCommand(peeked.line);
        if (!lookupCommand(cmd.verb)?.duringTransfer) break;
        this.reader.next();
        this.outOfBand = true;
        const after = () => {
          this.outOfBand = false;
          this.pump();
        };
        void this.execute(cmd).then(after, after);
        return;
      }
      const next = this.reader.next();
      if (next === undefined) break;
      if (next === 'overflow') return this.lineTooLong();
      this.running = true;
      const after = () => {
        this.running = false;
        this.pump();
      };
      void this.execute(parseCommand(next.line)).then(after, after);
    }
    // Flow control for the control connection: a client that floods commands waits for us.
    const shouldPause = this.reader.buffered > MAX_UNREAD;
    if (shouldPause !== this.readPaused && !this.upgrading && !this.closing) {
      this.readPaused = shouldPause;
      if (shouldPause) this.socket.pause();
      else this.socket.resume();
    }
  }

  private resumeOnDrain(): void {
    if (this.awaitingDrain) return;
    this.awaitingDrain = true;
    const socket = this.socket;
    socket.once('drain', () => {
      this.awaitingDrain = false;
      if (socket === this.socket) this.pump();
    });
  }

  private lineTooLong(): void {
    this.log.warn({ client: this.ctx.remoteAddress }, 'ftp command line too long, closing');
    if (!this.vfs) this.ctx.options.defender?.recordFailure(this.ctx.remoteAddress, 'protocol-error');
    this.close(reply(500, 'Command line too long.'));
  }

  private async execute(cmd: Command): Promise<void> {
    const pendingRename = this.renameFrom;
    this.renameFrom = undefined; // RNFR must be followed directly by RNTO
    this.precedingVerb = this.lastVerb;
    this.lastVerb = cmd.verb;
    try {
      this.touch();
      if (!cmd.verb) return this.send(500, 'Syntax error, command unrecognized.');
      const spec = lookupCommand(cmd.verb);
      if (!spec) return this.send(502, 'Command not implemented.');
      if (spec.login && !this.vfs) return this.send(530, 'Please login with USER and PASS.');
      if (spec.arg === 'required' && cmd.arg.length === 0) return this.send(501, 'Syntax error in parameters or arguments.');
      const verb = spec.alias ?? cmd.verb;
      if (verb === 'RNTO') this.renameFrom = pendingRename;
      await this.handlers[verb]!(cmd.arg, cmd);
    } catch (err) {
      if (!isVfsError(err)) this.log.error({ verb: cmd.verb, err: String(err) }, 'ftp command failed unexpectedly');
      const r = errorReply(err);
      this.send(r.code, r.text);
    } finally {
      if (cmd.verb !== 'RNFR' && cmd.verb !== 'RNTO') this.renameFrom = undefined;
      this.touch();
    }
  }

  // --- timers -------------------------------------------------------------------------------

  private touch(): void {
    if (!this.vfs || this.closing) return;
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => {
      if (this.transfer || this.running) return this.touch(); // a transfer is activity
      this.log.info({ user: this.account?.username }, 'ftp idle timeout');
      this.close(reply(421, 'Timeout: closing control connection.'));
    }, this.ctx.limits.idleTimeoutMs);
  }

  private loginTimeout(): void {
    if (this.vfs || this.closing) return;
    this.log.info({ client: this.ctx.remoteAddress }, 'ftp login grace time exceeded');
    this.ctx.options.defender?.recordFailure(this.ctx.remoteAddress, 'grace-timeout');
    this.close(reply(421, 'Login timeout: closing control connection.'));
  }

  // --- closing ------------------------------------------------------------------------------

  private close(lastReply?: string): void {
    if (this.closing) return;
    this.closing = true;
    clearTimeout(this.graceTimer);
    clearTimeout(this.idleTimer);
    this.transfer?.controller.abort();
    this.closeData();
    if (this.socket.writable) {
      if (lastReply) this.socket.end(lastReply);
      else this.socket.end();
    }
    this.closeTimer = setTimeout(() => this.socket.destroy(), CLOSE_GRACE_MS);
  }

  private async onSocketClosed(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.closing = true;
    this.gone.abort();
    clearTimeout(this.graceTimer);
    clearTimeout(this.idleTimer);
    clearTimeout(this.closeTimer);
    this.closeData();
    // Nobody is left to answer: work the client started (a sparse STOR's zero fill) stops now.
    this.vfs?.cancel();
    const t = this.transfer;
    if (t) {
      t.controller.abort();
      await t.finished;
    }
    if (this.vfs) await this.vfs.close().catch((err) => this.log.error({ err: String(err) }, 'ftp session close failed'));
    this.ctx.options.defender?.release(this.ctx.remoteAddress, this.vfs !== undefined);
    this.log.info({ user: this.account?.username, client: this.ctx.remoteAddress, ...this.refusals.summary() }, 'ftp disconnected');
    this.ctx.onClosed(this);
  }

  private closeData(): void {
    this.passive?.close();
    this.passive = undefined;
    this.active = undefined;
  }

  // --- helpers ------------------------------------------------------------------------------

  private path(arg: Buffer): VPath {
    return parsePath(arg, this.cwd);
  }

  private get session(): VfsSession {
    return this.vfs!;
  }

  /** Whether a data transfer may start under the TLS policy; answers and returns false if not. */
  private dataAllowed(): boolean {
    if (this.ctx.tlsMode === 'required' && this.prot !== 'P') {
      this.send(521, 'Data connections must be encrypted: use PBSZ 0 and PROT P.');
      this.closeData();
      return false;
    }
    return true;
  }

  private logTransfer(op: string, path: VPath | undefined, t: Transfer, started: number, result: string): void {
    this.log.info(
      { user: this.account?.username, op, path: path ? redactedPath(path) : undefined, bytes: t.progress.bytes, ms: Date.now() - started, result },
      'ftp transfer',
    );
  }

  /**
   * Opens the data connection, answers 150, runs `body` and answers with what it returns. The
   * data connection is gone afterwards. `cleanup` runs when the body never started.
   */
  private async transferWith(op: string, path: VPath | undefined, opening: string, body: (data: Socket, t: Transfer) => Promise<ReplyText>, cleanup?: () => Promise<void>, upload = false): Promise<void> {
    let markFinished!: () => void;
    const finished = new Promise<void>((r) => (markFinished = r));
    const t: Transfer = { controller: new AbortController(), progress: { bytes: 0 }, finished, markFinished };
    const started = Date.now();
    this.transfer = t;
    let data: Socket | undefined;
    let result: ReplyText;
    try {
      try {
        const raw = await this.openData(t.controller.signal);
        raw.setNoDelay(true);
        this.send(150, opening);
        data = raw;
        const tls = this.secure && this.prot === 'P' ? this.connTls : undefined;
        if (tls) {
          try {
            data = await tls.accept(raw, this.ctx.limits.dataTimeoutMs, tls.requireResumption, { upload });
          } catch (err) {
            data = undefined;
            this.log.warn({ client: this.ctx.remoteAddress, err: (err as Error).message }, 'ftp data connection TLS refused');
            throw Object.assign(new DataConnectionError(`SSL connection failed: ${(err as Error).message}`), { tlsCode: 522 });
          }
        }
      } catch (err) {
        await cleanup?.();
        const code = (err as { tlsCode?: number }).tlsCode ?? (t.controller.signal.aborted ? 426 : 425);
        result = { code, text: code === 426 ? 'Connection closed; transfer aborted.' : `Cannot open data connection: ${(err as Error).message}` };
        this.logTransfer(op, path, t, started, `data connection: ${(err as Error).message}`);
        return this.send(result.code, result.text);
      }
      const sock = data;
      sock.setTimeout(this.ctx.limits.idleTimeoutMs, () => sock.destroy(new Error('data connection stalled')));
      result = await body(sock, t);
      this.logTransfer(op, path, t, started, result.code < 300 ? 'ok' : result.text);
      this.send(result.code, result.text);
    } finally {
      this.transfer = undefined;
      // Our side has finished; a client that never closes its side does not keep the socket.
      const d = data;
      if (d && !d.destroyed) setTimeout(() => d.destroy(), CLOSE_GRACE_MS).unref();
      markFinished();
    }
  }

  private openData(signal: AbortSignal): Promise<Socket> {
    if (this.passive) {
      const listener = this.passive;
      this.passive = undefined;
      signal.addEventListener('abort', () => listener.close(), { once: true });
      return listener.take();
    }
    if (this.active) {
      const target = this.active;
      this.active = undefined;
      return connectActive(target, this.socket.localAddress ?? '', this.ctx.limits.dataTimeoutMs);
    }
    return Promise.reject(new DataConnectionError('use PASV, EPSV, PORT or EPRT first'));
  }

  /** Reply for a failure in a transfer body: vfs errors map through the table, the rest is 426. */
  private failed(err: unknown, t: Transfer): ReplyText {
    if (isVfsError(err) || !(err instanceof DataConnectionError)) {
      if (!isVfsError(err)) this.log.error({ err: String(err) }, 'ftp transfer failed unexpectedly');
      return transferErrorReply(err);
    }
    return { code: 426, text: t.controller.signal.aborted ? 'Connection closed; transfer aborted.' : `Connection closed; transfer aborted: ${err.message}` };
  }

  private async abandon(file: VfsFile): Promise<void> {
    await file.abandon().catch(() => {});
    await this.session.closeFile(file).catch(() => {});
  }

  // --- command handlers ---------------------------------------------------------------------

  private buildHandlers(): Record<string, Handler> {
    return {
      USER: (a) => this.user(a),
      PASS: (a) => this.pass(a),
      QUIT: () => this.close(reply(221, 'Goodbye.')),
      NOOP: () => this.send(200, 'NOOP ok.'),
      SYST: () => this.send(215, 'UNIX Type: L8'),
      FEAT: () => this.write(multiline(211, 'Features:', featureLines({ auth: this.tlsAvailable && !this.ctx.implicitTls, prot: this.tlsAvailable }), 'End')),
      OPTS: (a) => this.opts(a),
      HELP: (a) => this.help(a),
      AUTH: (a) => this.auth(a),
      PBSZ: (a) => this.pbszCmd(a),
      PROT: (a) => this.protCmd(a),
      CCC: () => (this.secure ? this.send(534, 'CCC refused: the control connection stays encrypted.') : this.send(533, 'Command channel is not protected.')),
      TYPE: (a) => this.typeCmd(a),
      MODE: (a) => (text(a).toUpperCase() === 'S' ? this.send(200, 'Mode set to S.') : this.send(504, 'Only stream mode (S) is supported.')),
      STRU: (a) => (text(a).toUpperCase() === 'F' ? this.send(200, 'Structure set to F.') : this.send(504, 'Only file structure (F) is supported.')),
      PWD: () => this.send(257, `${quotePath(formatPath(this.cwd))} is the current directory`),
      CWD: (a) => this.cwdCmd(this.path(a)),
      CDUP: () => this.cwdCmd(parsePath('..', this.cwd)),
      LIST: (a) => this.listCmd(a, 'LIST'),
      NLST: (a) => this.listCmd(a, 'NLST'),
      MLSD: (a) => this.mlsd(a),
      MLST: (a) => this.mlst(a),
      SIZE: (a) => this.size(a),
      MDTM: (a) => this.mdtm(a),
      MFMT: (a) => this.mfmt(a),
      RETR: (a) => this.retr(a),
      STOR: (a) => this.store(a, 'STOR'),
      APPE: (a) => this.store(a, 'APPE'),
      STOU: (a) => this.stou(a),
      REST: (a) => this.rest(a),
      DELE: async (a) => {
        await this.session.remove(this.path(a));
        this.send(250, 'Delete operation successful.');
      },
      MKD: async (a) => {
        const p = this.path(a);
        await this.session.mkdir(p);
        this.send(257, `${quotePath(formatPath(p))} created`);
      },
      RMD: async (a) => {
        await this.session.rmdir(this.path(a));
        this.send(250, 'Remove directory operation successful.');
      },
      RNFR: async (a) => {
        const p = this.path(a);
        await this.session.attrs(p);
        this.renameFrom = p;
        this.send(350, 'Ready for RNTO.');
      },
      RNTO: async (a) => {
        const from = this.renameFrom;
        this.renameFrom = undefined;
        if (!from) return this.send(503, 'RNFR required first.');
        await this.session.rename(from, this.path(a), 'posix');
        this.send(250, 'Rename successful.');
      },
      ABOR: () => this.abor(),
      STAT: (a) => this.stat(a),
      PASV: () => this.pasv(),
      EPSV: (a) => this.epsv(a),
      PORT: (a) => this.port(a),
      EPRT: (a) => this.eprt(a),
      SITE: (a) => this.site(a),
    };
  }

  // --- login --------------------------------------------------------------------------------

  private tlsRequiredFirst(): boolean {
    if (this.ctx.tlsMode === 'required' && !this.secure) {
      this.send(530, 'This server requires FTPS: send AUTH TLS before logging in.');
      return true;
    }
    return false;
  }

  private user(arg: Buffer): void {
    if (this.vfs) return this.send(503, 'Already logged in.');
    if (this.tlsRequiredFirst()) return;
    // The name is the client's: it goes to the authenticator and (JSON-escaped) to logs only.
    this.pendingUser = decodeLossy(arg);
    this.send(331, 'Please specify the password.');
  }

  private async pass(arg: Buffer): Promise<void> {
    if (this.vfs) return this.send(503, 'Already logged in.');
    if (this.tlsRequiredFirst()) return;
    const username = this.pendingUser;
    this.pendingUser = undefined;
    if (username === undefined) return this.send(503, 'Login with USER first.');
    const { authenticator, defender } = this.ctx.options;
    const addr = this.ctx.remoteAddress;
    // No shortcut for unknown users or odd passwords: the authenticator spends the same time.
    const account = await authenticator
      .checkPassword({ username, remoteAddress: addr, protocol: 'ftp', signal: this.gone.signal }, decodeLossy(arg))
      .catch((err: unknown) => {
        this.log.error({ err: String(err) }, 'ftp authenticator failed');
        return undefined;
      });
    if (this.closing) return;
    const logUser = username.length > 128 ? `${username.slice(0, 128)}…` : username;
    if (!account) {
      this.failures++;
      this.ctx.options.onLogin?.('password', 'refused');
      this.log.info({ method: 'password', user: logUser, client: addr, result: 'refused', failures: this.failures }, 'ftp login');
      defender?.recordFailure(addr, 'bad-password');
      if (this.failures >= this.ctx.limits.maxAuthTries) {
        defender?.recordFailure(addr, 'too-many-attempts');
        this.log.warn({ user: logUser, client: addr }, 'ftp too many authentication failures, disconnecting');
        return this.close(reply(421, 'Too many failed login attempts, closing control connection.'));
      }
      return this.send(530, 'Login incorrect.');
    }
    let vfs: VfsSession;
    try {
      vfs = await this.ctx.options.openSession(account, addr);
    } catch (err) {
      this.log.error({ user: account.username, err: String(err) }, 'ftp could not open a session');
      return this.close(reply(421, 'Service not available, closing control connection.'));
    }
    if (this.closing) {
      await vfs.close().catch(() => {});
      return;
    }
    this.vfs = vfs;
    this.account = account;
    this.cwd = ROOT;
    clearTimeout(this.graceTimer);
    defender?.recordSuccess(addr);
    this.ctx.options.onLogin?.('password', 'ok');
    this.log.info({ method: 'password', user: account.username, client: addr, result: 'ok', tls: this.secure }, 'ftp login');
    this.send(230, 'Login successful.');
  }

  // --- TLS ----------------------------------------------------------------------------------

  private async auth(arg: Buffer): Promise<void> {
    const mech = text(arg).toUpperCase();
    const tls = this.connTls;
    if (!tls) return this.send(504, 'AUTH TLS is not available on this server.');
    if (this.secure) return this.send(503, 'The connection is already protected by TLS.');
    if (this.vfs) return this.send(503, 'AUTH must come before login.');
    if (!['TLS', 'TLS-C', 'SSL', 'TLS-P'].includes(mech)) return this.send(504, 'Unsupported AUTH mechanism; use AUTH TLS.');
    this.pendingUser = undefined;
    // Stop reading in clear text: whatever follows the command is already the TLS handshake.
    this.upgrading = true;
    const raw = this.socket;
    raw.off('data', this.onData);
    raw.pause();
    const rest = this.reader.takeRest();
    await new Promise<void>((resolve) => raw.write(reply(234, `AUTH ${mech === 'SSL' ? 'SSL' : 'TLS'} successful.`), () => resolve()));
    if (this.closing) return;
    try {
      if (rest.length) raw.unshift(rest);
      const sock = await tls.accept(raw, TLS_HANDSHAKE_MS, false);
      this.secure = true;
      if (mech === 'SSL' || mech === 'TLS-P') {
        // Old clients (RFC 4217 draft) expect protected data without PBSZ/PROT.
        this.pbsz = true;
        this.prot = 'P';
      }
      this.attach(sock);
      this.upgrading = false;
    } catch (err) {
      this.log.info({ client: this.ctx.remoteAddress, err: (err as Error).message }, 'ftp control TLS handshake failed');
      this.upgrading = false;
      this.close();
    }
  }

  private pbszCmd(arg: Buffer): void {
    if (!this.secure) return this.send(503, 'PBSZ needs a protected connection: AUTH TLS first.');
    if (!/^\d+$/.test(text(arg))) return this.send(501, 'PBSZ needs a number.');
    this.pbsz = true;
    this.send(200, 'PBSZ=0');
  }

  private protCmd(arg: Buffer): void {
    if (!this.secure) return this.send(503, 'PROT needs a protected connection: AUTH TLS first.');
    if (!this.pbsz) return this.send(503, 'PBSZ must come before PROT.');
    switch (text(arg).toUpperCase()) {
      case 'C':
        if (this.ctx.tlsMode === 'required') return this.send(534, 'PROT C refused: this server requires encrypted data connections (PROT P).');
        this.prot = 'C';
        return this.send(200, 'Protection level set to Clear.');
      case 'P':
        this.prot = 'P';
        return this.send(200, 'Protection level set to Private.');
      case 'S':
      case 'E':
        return this.send(536, 'Protection level not supported; use C or P.');
      default:
        return this.send(504, 'Unknown protection level.');
    }
  }

  // --- settings -----------------------------------------------------------------------------

  private opts(arg: Buffer): void {
    const t = text(arg);
    const [name = '', ...rest] = t.split(' ');
    const value = rest.join(' ');
    switch (name.toUpperCase()) {
      case 'UTF8':
      case 'UTF-8':
        // Names are always UTF-8 (RFC 2640); there is nothing to switch.
        if (value.trim().toUpperCase() === 'OFF') return this.send(504, 'UTF8 mode cannot be turned off.');
        return this.send(200, 'Always in UTF8 mode.');
      case 'MLST': {
        this.facts = selectFacts(value);
        return this.send(200, `MLST OPTS ${[...this.facts].map((f) => `${f};`).join('')}`);
      }
      default:
        return this.send(501, 'Option not understood.');
    }
  }

  private help(arg: Buffer): void {
    const verb = text(arg).toUpperCase();
    if (verb) {
      return lookupCommand(verb) ? this.send(214, `${verb} is supported.`) : this.send(502, `${verb} is not implemented.`);
    }
    this.write(multiline(214, 'The following commands are recognized.', helpLines(), 'Help OK.'));
  }

  private typeCmd(arg: Buffer): void {
    const t = text(arg).toUpperCase().replace(/\s+/g, ' ');
    if (t === 'I' || t === 'L 8') {
      this.type = 'I';
      return this.send(200, 'Switching to Binary mode.');
    }
    if (t === 'A' || t === 'A N') {
      this.type = 'A';
      return this.send(200, 'Switching to ASCII mode.');
    }
    this.send(504, 'Type not supported; use A or I.');
  }

  private rest(arg: Buffer): void {
    const t = text(arg);
    if (!/^\d{1,15}$/.test(t)) return this.send(501, 'REST needs a byte offset.');
    this.restOffset = Number(t);
    this.send(350, `Restarting at ${this.restOffset}. Send STOR or RETR to start the transfer.`);
  }

  // --- directories and metadata ---------------------------------------------------------------

  private async cwdCmd(p: VPath): Promise<void> {
    const attrs = await this.session.attrs(p);
    if (attrs.kind !== 'dir') throw new VfsError('NOT_A_DIRECTORY', 'Not a directory.');
    this.cwd = p;
    this.send(250, 'Directory successfully changed.');
  }

  private async size(arg: Buffer): Promise<void> {
    // RFC 3659 §4: in ASCII mode SIZE would have to count converted bytes; say no, as ProFTPD does.
    if (this.type === 'A') return this.send(550, 'SIZE is not allowed in ASCII mode; use TYPE I.');
    const attrs = await this.session.attrs(this.path(arg));
    if (attrs.kind !== 'file') return this.send(550, 'Not a regular file.');
    if (attrs.size === undefined) return this.send(550, 'Size unknown.');
    this.send(213, String(attrs.size));
  }

  private async mdtm(arg: Buffer): Promise<void> {
    const attrs = await this.session.attrs(this.path(arg));
    if (attrs.mtime === undefined) return this.send(550, 'Modification time unknown.');
    this.send(213, formatTimeVal(attrs.mtime));
  }

  private async mfmt(arg: Buffer): Promise<void> {
    const space = arg.indexOf(0x20);
    const time = space < 0 ? undefined : parseTimeVal(arg.subarray(0, space).toString('latin1'));
    if (time === undefined || space + 1 >= arg.length) return this.send(501, 'Usage: MFMT YYYYMMDDHHMMSS path');
    const p = this.path(arg.subarray(space + 1));
    await this.session.setAttrs(p, { mtime: Math.floor(time) });
    this.send(213, `Modify=${formatTimeVal(time)}; ${formatPath(p)}`);
  }

  private async site(arg: Buffer): Promise<void> {
    const t = arg.toString('latin1');
    const [sub = ''] = t.split(' ');
    switch (sub.toUpperCase()) {
      case 'CHMOD': {
        const m = /^\S+ +([0-7]{1,4}) +/.exec(t);
        if (!m) return this.send(501, 'Usage: SITE CHMOD MODE path');
        const p = this.path(arg.subarray(Buffer.byteLength(m[0], 'latin1')));
        await this.session.setAttrs(p, { permissions: parseInt(m[1]!, 8) });
        return this.send(200, 'SITE CHMOD command ok.');
      }
      case 'HELP':
        return this.send(214, 'SITE commands: CHMOD HELP');
      default:
        return this.send(504, 'Unknown SITE command.');
    }
  }

  /** Is the directory holding `p` writable (for the d/f facts)? */
  private async parentWritable(p: VPath): Promise<boolean> {
    if (p.parts.length === 0) return false;
    return !(await this.session.attrs(parentOf(p))).noWrite;
  }

  private async mlst(arg: Buffer): Promise<void> {
    const p = arg.length ? this.path(arg) : this.cwd;
    const attrs = await this.session.attrs(p);
    const type = attrs.kind === 'dir' && samePath(p, this.cwd) ? 'cdir' : undefined;
    const line = mlsxLine(formatPath(p), attrs, this.facts, { parentWritable: await this.parentWritable(p), ...(type ? { type } : {}) });
    this.write(multiline(250, `Listing ${formatPath(p)}`, [line], 'End'));
  }

  private async stat(arg: Buffer): Promise<void> {
    if (this.transfer) return this.send(213, `Transfer in progress: ${this.transfer.progress.bytes} bytes so far.`);
    const target = stripListOptions(arg);
    if (target.length === 0) {
      const lines = [
        `Connected to ${this.ctx.remoteAddress}`,
        `Logged in as ${this.account!.username}`,
        `TYPE: ${this.type === 'A' ? 'ASCII' : 'BINARY'}, STRUcture: File, MODE: Stream`,
        `Control connection: ${this.secure ? 'TLS' : 'clear'}; data connections: ${this.prot === 'P' ? 'TLS' : 'clear'}`,
        this.passive ? `Passive listener on port ${this.passive.port}` : this.active ? 'Active mode (PORT)' : 'No data connection',
      ];
      return this.write(multiline(211, 'lafsd FTP server status:', lines, 'End of status'));
    }
    const p = this.path(target);
    const lines = await this.longListing(p);
    this.write(multiline(213, `Status of ${formatPath(p)}:`, lines, 'End of status'));
  }

  /** `ls -l` lines for a directory, or the one line of a file. */
  private async longListing(p: VPath): Promise<string[]> {
    const attrs = await this.session.attrs(p);
    if (attrs.kind === 'dir') return listLines(await this.session.list(p));
    return [lsLine(nameOf(p) ?? '/', attrs)];
  }

  // --- data connections -----------------------------------------------------------------------

  private controlFamily(): 4 | 6 {
    return familyOf(this.socket.localAddress ?? '');
  }

  private async openPassive(): Promise<PassiveListener | undefined> {
    this.closeData();
    try {
      this.passive = await PassiveListener.open(
        this.socket.localAddress ?? '', this.ctx.remoteAddress, this.ctx.options.passivePorts, this.ctx.limits.dataTimeoutMs,
        (intruder, port) => this.refusals.note('warn', { client: this.ctx.remoteAddress, intruder, port }, 'ftp data connection from a foreign address dropped'),
        this.ctx.options.proxy,
      );
      return this.passive;
    } catch (err) {
      this.refusals.note('warn', { err: (err as Error).message }, 'ftp cannot open a passive port');
      this.send(425, `Cannot open passive connection: ${(err as Error).message}`);
      return undefined;
    }
  }

  private async pasv(): Promise<void> {
    if (this.epsvAll) return this.send(503, 'PASV not allowed after EPSV ALL.');
    const announce = this.ctx.options.passiveAddress ?? this.socket.localAddress ?? '';
    const v4 = familyOf(announce) === 4 ? normalizeV4(announce) : undefined;
    if (!v4) return this.send(425, 'PASV cannot announce an IPv6 address; use EPSV.');
    const [listener] = await Promise.all([this.openPassive(), this.sameHostPause()]);
    if (!listener) return;
    this.send(227, formatPasv(v4, listener.port));
  }

  private async epsv(arg: Buffer): Promise<void> {
    const parsed = parseEpsvArg(text(arg));
    const fam = this.controlFamily();
    if (parsed.kind === 'all') {
      this.epsvAll = true;
      return this.send(200, 'EPSV ALL ok.');
    }
    if (parsed.kind === 'bad') return this.send(501, 'Syntax error in EPSV argument.');
    if (parsed.kind === 'unsupported' || (parsed.kind === 'protocol' && parsed.family !== fam)) {
      return this.send(522, `Network protocol not supported, use (${fam === 4 ? 1 : 2})`);
    }
    const [listener] = await Promise.all([this.openPassive(), this.sameHostPause()]);
    if (!listener) return;
    this.send(229, formatEpsv(listener.port));
  }

  /**
   * A client on this very machine gets its PASV/EPSV answer a moment later when curl could stall
   * on an early one (curl-stall.ts). The answer is early when our wake-up preempts curl on the
   * shared CPU, which only a client on the same host suffers; remote clients never wait. The
   * pause must give the CPU away: a pool thread sleeps while the event loop, with nothing to do,
   * blocks (util/pool-sleep.ts). Measured on loopback, curl's 400 small uploads then downloads
   * per round: 4-14% of transfers stalled without the pause; with Node's timers, 1 ms still let
   * one in 1,200 through and 2 ms (1-2 ms real) one in 10,400; on the pool, 100 and 250 µs one
   * in 2,400, 500 µs one in 12,000 and 1,000 µs none in 12,000, at 3.3 ms per file against 5.0
   * with 2 ms (bench/README.md, ninth session). The pause runs while the passive port is
   * opened, not after it.
   */
  private async sameHostPause(): Promise<void> {
    if (!passiveAnswerMayStallCurl(this.precedingVerb)) return;
    const remote = this.ctx.remoteAddress;
    const local = normalizeAddress(this.socket.localAddress);
    if (remote === local || remote === '::1' || remote.startsWith('127.')) await sleepOffLoop(SAME_HOST_PASSIVE_PAUSE_MICROS);
  }

  private port(arg: Buffer): void {
    if (this.epsvAll) return this.send(503, 'PORT not allowed after EPSV ALL.');
    const target = parsePortArg(text(arg));
    if (!target) return this.send(501, 'Illegal PORT command.');
    this.setActive(target, 4);
  }

  private eprt(arg: Buffer): void {
    if (this.epsvAll) return this.send(503, 'EPRT not allowed after EPSV ALL.');
    const parsed = parseEprtArg(text(arg));
    if (!parsed.ok) {
      return parsed.reason === 'protocol' ? this.send(522, 'Network protocol not supported, use (1,2)') : this.send(501, 'Illegal EPRT command.');
    }
    this.setActive({ host: parsed.host, port: parsed.port }, parsed.family);
  }

  private setActive(target: HostPort, family: 4 | 6): void {
    const check = checkActiveTarget(target, family, this.ctx.remoteAddress);
    if (!check.ok) {
      this.refusals.note('warn', { client: this.ctx.remoteAddress, target: `${target.host}:${target.port}` }, 'ftp active-mode target refused');
      return this.send(check.code, check.text);
    }
    this.closeData();
    this.active = target;
    this.send(200, 'PORT command successful. Consider using EPSV.');
  }

  private async abor(): Promise<void> {
    const t = this.transfer;
    if (!t) {
      this.closeData();
      return this.send(225, 'No transfer to abort.');
    }
    t.controller.abort();
    await t.finished; // the transfer command answers 426 first (RFC 959 §4.1.3)
    this.send(226, 'ABOR successful.');
  }

  // --- listings -----------------------------------------------------------------------------

  private async listCmd(arg: Buffer, verb: 'LIST' | 'NLST'): Promise<void> {
    this.restOffset = 0;
    if (!this.dataAllowed()) return;
    const target = stripListOptions(arg);
    const p = target.length ? this.path(target) : this.cwd;
    await this.sendListing(verb.toLowerCase(), p, async () => {
      const attrs = await this.session.attrs(p);
      if (attrs.kind === 'dir') {
        const entries = await this.session.list(p);
        return verb === 'LIST' ? listLines(entries) : sortEntries(entries).map((e) => e.name);
      }
      const name = nameOf(p) ?? '/';
      return verb === 'LIST' ? [lsLine(name, attrs)] : [name];
    });
  }

  private async mlsd(arg: Buffer): Promise<void> {
    this.restOffset = 0;
    if (!this.dataAllowed()) return;
    const p = arg.length ? this.path(arg) : this.cwd;
    await this.sendListing('mlsd', p, async () => {
      const attrs = await this.session.attrs(p);
      if (attrs.kind !== 'dir') {
        this.closeData();
        this.send(501, 'MLSD needs a directory; use MLST for a file.');
        return undefined;
      }
      const entries: ListEntry[] = sortEntries(await this.session.list(p));
      const writable = !attrs.noWrite;
      const lines = [mlsxLine('.', attrs, this.facts, { parentWritable: false, type: 'cdir' })];
      if (p.parts.length > 0) lines.push(mlsxLine('..', await this.session.attrs(parentOf(p)), this.facts, { parentWritable: false, type: 'pdir' }));
      for (const e of entries) lines.push(mlsxLine(e.name, e.attrs, this.facts, { parentWritable: writable }));
      return lines;
    });
  }

  /**
   * Builds a listing before the data connection is used (an error closes it and reaches the
   * client as the command's reply), then sends it. `build` returns undefined when it replied.
   */
  private async sendListing(op: string, p: VPath, build: () => Promise<string[] | undefined>): Promise<void> {
    let lines: string[] | undefined;
    try {
      lines = await build();
    } catch (err) {
      this.closeData();
      throw err;
    }
    if (!lines) return;
    const body = lines.map(listingLine).join('');
    await this.transferWith(op, p, 'Here comes the directory listing.', async (data, t) => {
      try {
        await sendText(data, body, { signal: t.controller.signal, progress: t.progress });
        return { code: 226, text: 'Directory send OK.' };
      } catch (err) {
        return this.failed(err, t);
      }
    });
  }

  // --- file transfers -----------------------------------------------------------------------

  /**
   * Takes the REST offset for a transfer (0 when `useRest` is false, as for APPE). Undefined
   * when the command was already answered: no data connection allowed, or a resume in ASCII.
   */
  private transferOffset(useRest: boolean): number | undefined {
    const offset = useRest ? this.restOffset : 0;
    this.restOffset = 0;
    if (!this.dataAllowed()) return undefined;
    if (offset > 0 && this.type === 'A') {
      this.closeData();
      this.send(504, 'Resuming is supported in binary mode only; use TYPE I.');
      return undefined;
    }
    return offset;
  }

  private async retr(arg: Buffer): Promise<void> {
    const offset = this.transferOffset(true);
    if (offset === undefined) return;
    const p = this.path(arg);
    let file: VfsFile;
    let size: number;
    try {
      file = await this.session.open(p, { read: true });
      size = (await file.stat()).size ?? 0;
    } catch (err) {
      this.closeData();
      throw err;
    }
    if (offset > size) {
      await this.session.closeFile(file).catch(() => {});
      this.closeData();
      return this.send(554, `Restart offset ${offset} is beyond the end of the file (${size} bytes).`);
    }
    const mode = this.type === 'A' ? 'ASCII' : 'BINARY';
    await this.transferWith('retr', p, `Opening ${mode} mode data connection for ${nameOf(p) ?? '/'} (${size} bytes).`, async (data, t) => {
      try {
        await sendFile(data, file, offset, { ascii: this.type === 'A', signal: t.controller.signal, progress: t.progress, memory: this.session.memory });
        return { code: 226, text: 'Transfer complete.' };
      } catch (err) {
        return this.failed(err, t);
      } finally {
        await this.session.closeFile(file).catch(() => {});
      }
    }, () => this.session.closeFile(file).catch(() => {}));
  }

  private async store(arg: Buffer, verb: 'STOR' | 'APPE'): Promise<void> {
    const offset = this.transferOffset(verb === 'STOR');
    if (offset === undefined) return;
    const p = this.path(arg);
    let file: VfsFile;
    try {
      if (verb === 'APPE') {
        file = await this.session.open(p, { write: true, create: true, append: true });
      } else if (offset > 0) {
        // REST+STOR continues a file: keep old[0, offset) and write the rest (as vsftpd does).
        file = await this.session.open(p, { write: true, create: true });
        try {
          await file.setAttrs({ size: offset });
        } catch (err) {
          await this.abandon(file);
          throw err;
        }
      } else {
        file = await this.session.open(p, { write: true, create: true, truncate: true });
      }
    } catch (err) {
      this.closeData();
      throw err;
    }
    await this.upload(verb.toLowerCase(), p, file, offset, `Ok to send data.`, 'Transfer complete.', () => this.abandon(file));
  }

  private async stou(arg: Buffer): Promise<void> {
    this.restOffset = 0;
    if (!this.dataAllowed()) return;
    const base = arg.length ? this.path(arg) : childOf(this.cwd, 'stou');
    if (base.parts.length === 0) {
      this.closeData();
      throw new VfsError('INVALID_NAME', 'STOU needs a file name.');
    }
    // Exclusive create, so two clients never get the same name; on failure the name is removed.
    let file: VfsFile | undefined;
    let p = base;
    for (let i = 0; i < 1000 && !file; i++) {
      p = i === 0 ? base : { ...base, parts: [...base.parts.slice(0, -1), `${nameOf(base)}.${i}`] };
      try {
        file = await this.session.open(p, { write: true, create: true, exclusive: true });
      } catch (err) {
        if (!isVfsError(err, 'EXISTS')) {
          this.closeData();
          throw err;
        }
      }
    }
    if (!file) {
      this.closeData();
      return this.send(553, 'Could not find a unique file name.');
    }
    const opened = file;
    const unlink = async () => {
      await this.session.remove(p).catch(() => {});
      await this.abandon(opened);
    };
    const name = nameOf(p)!;
    await this.upload('stou', p, opened, 0, `FILE: ${name}`, `Transfer complete (unique file name: ${name}).`, unlink);
  }

  /** Receives into `file` and commits; any failure commits nothing. */
  private async upload(op: string, p: VPath, file: VfsFile, offset: number, opening: string, done: string, discard: () => Promise<void>): Promise<void> {
    await this.transferWith(op, p, opening, async (data, t) => {
      try {
        await receiveFile(data, file, offset, { ascii: this.type === 'A', signal: t.controller.signal, progress: t.progress, memory: this.session.memory });
      } catch (err) {
        await discard();
        return this.failed(err, t);
      }
      if (endedWithoutCloseNotify(data)) {
        await discard();
        return { code: 426, text: 'Connection closed; transfer aborted: the TLS data connection ended without close_notify, so the upload may be cut short.' };
      }
      // A client that dies closes both connections; the data connection's end alone does not
      // prove it wanted the file. Let the control connection's close arrive first.
      await nextTurn();
      if (this.closing || this.peerEnded || t.controller.signal.aborted) {
        await discard();
        return { code: 426, text: 'Connection closed; transfer aborted.' };
      }
      try {
        await this.session.closeFile(file); // the commit: the reply waits for it
        return { code: 226, text: done };
      } catch (err) {
        await discard();
        return transferErrorReply(err);
      }
    }, discard, true);
  }
}

function text(arg: Buffer): string {
  return arg.toString('latin1').trim();
}

function decodeLossy(arg: Buffer): string {
  try {
    return utf8.decode(arg);
  } catch {
    return arg.toString('utf8');
  }
}

function normalizeV4(address: string): string | undefined {
  const m = /^(?:::ffff:)?(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return m ? m[1] : undefined;
}
