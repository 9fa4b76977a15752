// One SFTP v3 session over a byte stream (the `sftp` subsystem channel, or stdin/stdout): frames
// and decodes requests, calls the vfs, encodes replies. Filesystem policy lives in the vfs; this
// module only translates, orders and bounds.
//
// Guarantees:
// - every request id gets exactly one reply: a handler's result, its error through the one
//   status table (status-map.ts), FX_FAILURE for a bug, FX_OP_UNSUPPORTED for what we do not
//   serve. A packet without a readable id (or that cannot be framed) ends the session instead.
// - requests are dispatched without waiting for earlier replies (clients keep 64 READs/WRITEs in
//   flight); the vfs keeps the operations of one write handle in order, a CLOSE waits for the
//   requests before it on its handle, and path requests are ordered by PathOrder.
// - bounded work: above maxOutstanding requests or maxPendingBytes (reply bytes the channel has
//   not taken yet, READs in flight, and the buffers queued WRITEs hold) we stop reading the
//   stream, so the SSH window closes; reading resumes below half of both. The same bytes count
//   against the process-wide transfer budget (util/memory-budget.ts): when the process is over
//   it, the sessions holding more than their part stop reading too, until it has room again.
// - when the stream ends or closes, requests already received still finish (a CLOSE received
//   commits), then the vfs session is closed (files never closed commit nothing) and our side
//   of the stream is ended, so `sftp -b` does not wait forever.
//
// Behaviour choices beyond Tahoe (documented for clients):
// - A closed or unknown handle is FX_FAILURE "invalid handle"; the handle is forgotten as soon as
//   its CLOSE arrives, so a second CLOSE is "invalid handle" too (Twisted sent no reply at all).
// - Requests before INIT get FX_FAILURE; a second INIT is ignored (it carries no id to answer).
// - OPEN attrs are ignored (Tahoe): `put` sends the local mode, and a read-only local file must
//   not produce a no-write link. `put -p` sets it afterwards with FSETSTAT.
import type { Logger } from '../util/logger.js';
import { releaseWhenIdle } from '../util/idle-collection.js';
import { SlabArena, SlabPool } from '../util/slab-arena.js';
import type { Duplex } from 'node:stream';
import {
  formatPath, lsLine, parsePath, redactedPath, DEFAULT_MAX_OPEN_FILES, VfsError,
  type OpenFlags as VfsOpenFlags, type SetAttrs, type VfsAttrs, type VfsSession, type VPath,
} from '../vfs/index.js';
import type { SftpAttrs } from './attrs.js';
import { MAX_PACKET, MAX_READ, MAX_WRITE, OpenFlags, PacketType, StatusCode, StatvfsFlags } from './constants.js';
import { ExtensionName, OPENSSH_EXTENSION_VERSIONS } from './extensions.js';
import { SftpFramer } from './framer.js';
import { HandleTable, idle, track, type DirHandle, type FileHandle, type SftpHandle } from './handles.js';
import { PathOrder } from './ordering.js';
import { ReplySequence } from './reply-order.js';
import { ReplyOutput, type CorkStrategy, type Reply } from './output.js';
import {
  encodeAttrsReply, encodeDataParts, encodeHandle, encodeLimitsReply, encodeName, encodeStatus,
  encodeStatvfsReply, encodeVersion, nameEntriesThatFit, type NameEntry, type StatvfsInfo,
} from './replies.js';
import { decodeRequest, type IdRequest } from './requests.js';
import type { ExtendedRequest } from './extensions.js';
import { errorStatus } from './status-map.js';

/** How the session logs (the shared logging surface). */
export type SftpLogger = Logger;

export interface SftpSessionOptions {
  logger?: SftpLogger;
  /** Fields added to every log line (connection id, user); never caps. */
  logFields?: Record<string, unknown>;
  /** Cork/uncork the socket under the stream (SshSessionInfo.cork/uncork); calls are paired. */
  cork?: () => void;
  uncork?: () => void;
  /** How replies are coalesced (output.ts); 'idle' unless measuring. */
  corkStrategy?: CorkStrategy;
  /** Requests dispatched and not yet answered before we stop reading. Default 256. */
  maxOutstanding?: number;
  /** Reply bytes not yet taken by the stream, READs in flight and the buffers queued WRITEs hold. Default 2 MiB. */
  maxPendingBytes?: number;
  /** Open handles (files and directories); advertised in limits@openssh.com. Default: the vfs default. */
  maxOpenHandles?: number;
  /** Framer bound on buffered input; default the framer's. */
  maxBufferedInput?: number;
  /**
   * Ends our side of the stream once every reply has been handed to it, instead of
   * `stream.end()`; `exitStatus` is 0, or 255 after a protocol error (as OpenSSH's sftp-server
   * exits). The SSH layer sends exit-status here before EOF and CLOSE, as sshd does: clients
   * such as scp and restic treat a channel closed without one as a failure.
   */
  end?: (exitStatus: number) => void;
  /**
   * Stops and restarts the client's sending without pausing the stream (SshSessionInfo's
   * windowGate), so every chunk can be copied as it arrives. Without it the stream is paused.
   */
  inputGate?: InputGate;
}

/** Flow control of the input that leaves the stream flowing (an SSH channel's window). */
export interface InputGate {
  hold(): void;
  release(): void;
}

/** Idle input slabs kept for all sessions of the process (util/slab-arena.ts), let go when it is idle. */
const inputSlabs = new SlabPool(32 * 1024 * 1024);
releaseWhenIdle(inputSlabs);

export interface SftpSession {
  /** Settles once the session is over: requests finished, vfs closed, our side of the stream ended. */
  readonly done: Promise<void>;
  /** Ends the session from our side (server shutdown): nothing more is read; requests in flight finish. */
  close(): Promise<void>;
  /** Requests dispatched and not answered yet. */
  readonly outstanding: number;
  /** Handles currently open. */
  readonly openHandles: number;
}

export const DEFAULT_MAX_OUTSTANDING = 256;
/**
 * 2 MiB: the SSH window of both OpenSSH's client and ssh2, so a session holds about what one
 * window lets through, and more buffered gains nothing. Measured, interleaved A/B of 3 x 512 MiB
 * OpenSSH `get`s (three rounds) and `put`s (two), against 8 MiB: peak RSS 166-201 MiB against
 * 210-229 for downloads and 158-159 against 166-200 for uploads, at the same or better speed
 * (1.07-1.24 s against 1.20-1.49 s per download, 1.14-1.33 against 1.22-1.42 per upload). 4 MiB
 * was no better than 8 in RSS.
 */
export const DEFAULT_MAX_PENDING_BYTES = 2 * 1024 * 1024;

/** The extensions we advertise in VERSION, with OpenSSH's version strings. */
export const ADVERTISED_EXTENSIONS: readonly string[] = [
  ExtensionName.POSIX_RENAME,
  ExtensionName.STATVFS,
  ExtensionName.FSTATVFS,
  ExtensionName.FSYNC,
  ExtensionName.HARDLINK,
  ExtensionName.LIMITS,
  ExtensionName.COPY_DATA,
  ExtensionName.HOME_DIRECTORY,
  ExtensionName.EXPAND_PATH,
];

/** statvfs figures that a virtual filesystem has no real value for (Tahoe sends constants too). */
const STATVFS_BLOCK = 4096;
const STATVFS_FILES = 200_000_000;
const STATVFS_FREE_FILES = 100_000_000;
const STATVFS_FSID = 0x1af5;
const NAME_MAX = 255;
/** Entries converted per READDIR before fitting them into one NAME packet. */
const READDIR_BATCH = 1000;

const OK_MESSAGE = '';

/** Runs an SFTP session on `stream` for the logged-in `vfs`. Never throws; see SftpSession. */
export function runSftpSession(stream: Duplex, vfs: VfsSession, options: SftpSessionOptions = {}): SftpSession {
  return new Session(stream, vfs, options);
}

class Session implements SftpSession {
  readonly done: Promise<void>;
  private resolveDone!: () => void;
  private readonly framer: SftpFramer;
  private readonly out: ReplyOutput;
  private readonly handles: HandleTable;
  private readonly order = new PathOrder();
  private readonly maxOutstanding: number;
  private readonly maxPendingBytes: number;
  private readonly log: SftpLogger | undefined;
  private readonly fields: Record<string, unknown>;
  private readonly endStream: ((exitStatus: number) => void) | undefined;

  private initialized = false;
  outstanding = 0;
  /** READ lengths of requests in flight. */
  private payloadBytes = 0;
  /**
   * The buffers WRITE payloads of requests in flight are views into (input slabs, or a copy of
   * a packet that spanned slabs), each counted once, whole: a queued WRITE keeps its whole
   * buffer from being reused, which is far more than its payload for tiny writes.
   */
  private readonly heldBuffers = new Map<ArrayBufferLike, number>();
  private heldBufferBytes = 0;
  /** Replies ready but waiting for an earlier reply of their handle. */
  private heldReplyBytes = 0;
  /** pendingBytes() as last reported to the session's memory share. */
  private reportedBytes = 0;
  /** Unsubscribes from the budget's "back under budget" signal. */
  private readonly stopWaitingForRoom: () => void;
  private pumping = false;
  /** We stopped reading the stream because of the bounds. */
  private inputPaused = false;
  /** The end of the session waits for the last reply to leave the stream (allRepliesHandedOver). */
  private onReplySent: (() => void) | undefined;
  /** The framer holds no complete packet we have not handled. */
  private drained = true;
  /** No more input: the stream ended or closed. */
  private inputEnded = false;
  /** No more requests will be handled: fatal framing error or close() from our side. */
  private stopped = false;
  /** The session stopped because the client broke the protocol. */
  private brokeProtocol = false;
  private finishing = false;
  /** Copies of the input as it arrives (the stream's own chunks die young). */
  private readonly arena = new SlabArena(inputSlabs);
  /** Input chunks the framer let go of while a packet was being handled. */
  private readonly dropped: Buffer[] = [];
  private readonly inputGate: InputGate | undefined;

  constructor(
    private readonly stream: Duplex,
    private readonly vfs: VfsSession,
    options: SftpSessionOptions,
  ) {
    this.done = new Promise((resolve) => (this.resolveDone = resolve));
    this.framer = new SftpFramer({
      ...(options.maxBufferedInput !== undefined ? { maxBuffered: options.maxBufferedInput } : {}),
      onDrop: (chunk) => this.dropped.push(chunk),
    });
    this.inputGate = options.inputGate;
    this.handles = new HandleTable(options.maxOpenHandles ?? DEFAULT_MAX_OPEN_FILES);
    this.maxOutstanding = options.maxOutstanding ?? DEFAULT_MAX_OUTSTANDING;
    this.maxPendingBytes = options.maxPendingBytes ?? DEFAULT_MAX_PENDING_BYTES;
    this.log = options.logger;
    this.fields = options.logFields ?? {};
    this.endStream = options.end;
    this.out = new ReplyOutput(stream, {
      cork: options.cork,
      uncork: options.uncork,
      strategy: options.corkStrategy,
      idle: () => this.outstanding === 0,
      sent: () => this.replySent(),
    });
    stream.on('data', (chunk: Buffer) => this.onData(chunk));
    // EOF: the client sent everything but still reads our replies (sftp -b does this).
    stream.on('end', () => this.onInputEnd());
    // Closed: nobody reads replies any more, so long work it started stops (vfs cancel()) and
    // READs still unread fail at once. The rest of what the client sent is still handled, as
    // sftp-server handles what it read before its input's EOF: a CLOSE it sent commits.
    stream.on('close', () => {
      this.vfs.cancel();
      this.onInputEnd();
    });
    stream.on('error', (err: Error) => this.log?.debug({ ...this.fields, err: err.message }, 'sftp stream error'));
    // Other sessions gave memory back: a session held back by the process's budget may go on.
    this.stopWaitingForRoom = vfs.memory.onRoom(() => this.maybeResume());
  }

  /**
   * Nothing written to the stream can reach the client any more. ssh2 closes a dropped
   * connection's channel streams without destroying them, and what they held stays in
   * writableLength: those bytes no longer count (output.ts).
   */
  private get streamGone(): boolean {
    return this.out.streamGone;
  }

  get openHandles(): number {
    return this.handles.size;
  }

  close(): Promise<void> {
    this.stopped = true;
    this.maybeFinish();
    return this.done;
  }

  // --- input ------------------------------------------------------------------------------

  private onData(chunk: Buffer): void {
    if (this.stopped || this.inputEnded) return;
    this.framer.push(this.arena.copy(chunk));
    this.releaseDropped();
    this.drained = false;
    this.pumpSafely();
  }

  /** pump(), but a bug of ours ends this session instead of taking the process down. */
  private pumpSafely(): void {
    try {
      this.pump();
    } catch (err) {
      this.log?.error({ ...this.fields, err: describe(err) }, 'sftp session failed');
      this.protocolError('internal error');
      this.maybeFinish();
    }
  }

  /**
   * No more input ('end', then 'close'). Each looks whether the session can end: at 'end' of a
   * dropped connection the closed stream's bytes still count against the bounds, at 'close'
   * they no longer do (this.out heard 'close' first).
   */
  private onInputEnd(): void {
    this.inputEnded = true;
    this.maybeFinish();
  }

  /** Handles buffered packets until none is left or the bounds are reached. */
  private pump(): void {
    if (this.pumping) return;
    this.pumping = true;
    this.out.beginBatch();
    try {
      while (!this.stopped && !this.overBounds()) {
        const r = this.framer.next();
        if (r.kind === 'need-more') {
          this.drained = true;
          break;
        }
        if (r.kind === 'fatal') {
          this.protocolError(r.reason);
          break;
        }
        this.handlePacket(r.payload, r.more);
        this.releaseDropped();
      }
    } finally {
      this.releaseDropped();
      this.out.endBatch();
      this.pumping = false;
    }
    if (!this.drained && !this.stopped && this.overBounds()) {
      if (!this.inputPaused) {
        this.inputPaused = true;
        if (this.inputGate) this.inputGate.hold();
        else this.stream.pause();
      }
    } else if (this.inputPaused) {
      this.inputPaused = false;
      if (this.inputGate) this.inputGate.release();
      else this.stream.resume();
    }
    this.maybeFinish();
  }

  /**
   * Payloads in flight, replies held for order and reply bytes the channel has not taken yet;
   * reported to the process-wide budget each time they are counted.
   */
  private pendingBytes(): number {
    const n = this.payloadBytes + this.heldBufferBytes + this.heldReplyBytes + (this.streamGone ? 0 : this.stream.writableLength);
    const delta = n - this.reportedBytes;
    // Recorded before add(): getting back under budget wakes waiting sessions, this one too,
    // and its resume counts again; reported after, that delta was counted twice.
    this.reportedBytes = n;
    this.vfs.memory.add(delta);
    return n;
  }

  private overBounds(): boolean {
    return this.outstanding >= this.maxOutstanding || this.pendingBytes() >= this.maxPendingBytes || this.vfs.memory.over;
  }

  private belowHalf(): boolean {
    return this.outstanding < this.maxOutstanding / 2 && this.pendingBytes() < this.maxPendingBytes / 2 && !this.vfs.memory.over;
  }

  private maybeResume(): void {
    if (!this.pumping && !this.drained && this.belowHalf()) this.pumpSafely();
  }

  private protocolError(reason: string): void {
    // Requests decoded before the bad packet are still answered (as sftp-server does); then the
    // session ends. At info: an operator wants to know why a client was cut off.
    this.log?.info({ ...this.fields, reason }, 'sftp protocol error: ending the session after the replies owed');
    this.stopped = true;
    this.brokeProtocol = true;
  }

  /** Gives the arena back the chunks the framer is done with (after the packet that used them). */
  private releaseDropped(): void {
    for (const chunk of this.dropped) this.arena.release(chunk);
    this.dropped.length = 0;
  }

  private handlePacket(payload: Buffer, more?: Buffer[]): void {
    // Only a WRITE's data may refer to the input slabs after this call (write() holds them);
    // any other request gets its own copy, small, so nothing it keeps sees a slab reused.
    if (payload[0] !== PacketType.WRITE && this.arena.owns(payload)) payload = Buffer.from(payload);
    let decoded: ReturnType<typeof decodeRequest>;
    try {
      decoded = decodeRequest(payload, more);
    } catch (err) {
      // A codec bug: we cannot know whom to answer, so the session cannot go on.
      this.log?.error({ ...this.fields, err: describe(err) }, 'sftp decoder failed');
      this.protocolError('decoder failure');
      return;
    }
    switch (decoded.kind) {
      case 'fatal':
        this.protocolError(decoded.reason);
        return;
      case 'bad-message': {
        const what = decoded.extension !== undefined ? `${decoded.extension} request` : `packet type ${decoded.packetType}`;
        this.statusNow(decoded.id, StatusCode.BAD_MESSAGE, `could not parse ${what}: ${decoded.reason}`);
        return;
      }
      case 'unsupported':
        this.statusNow(decoded.id, StatusCode.OP_UNSUPPORTED, `don't understand packet type ${decoded.packetType}`);
        return;
      case 'request': {
        const req = decoded.request;
        if (req.type === 'init') {
          if (this.initialized) {
            this.log?.debug({ ...this.fields }, 'sftp: second INIT ignored');
            return;
          }
          this.initialized = true;
          this.out.write(this.version());
          return;
        }
        if (!this.initialized) {
          this.statusNow(req.id, StatusCode.FAILURE, 'SSH_FXP_INIT must come first');
          return;
        }
        this.run(req.id, req.type, (log) => this.dispatch(req, log), this.replySequenceOf(req));
      }
    }
  }

  private version(): Buffer {
    return encodeVersion(ADVERTISED_EXTENSIONS.map((name) => [name, OPENSSH_EXTENSION_VERSIONS[name]!] as const));
  }

  // --- replies ----------------------------------------------------------------------------

  /** The handle whose replies this request's reply must follow (reply-order.ts), if any. */
  private replySequenceOf(req: IdRequest): ReplySequence | undefined {
    const wire = 'handle' in req ? req.handle : req.type === 'copy-data' ? req.writeHandle : undefined;
    return wire ? this.handles.get(wire)?.replies : undefined;
  }

  /**
   * Runs one request: exactly one reply, whatever `work` does. With `sequence`, the reply waits
   * for the replies of the requests that reached that handle before it.
   */
  private run(id: number, op: string, work: (log: RequestLog) => Reply | Promise<Reply>, sequence?: ReplySequence): void {
    this.outstanding++;
    const slot = sequence?.reserve();
    const deliver = (reply: Reply): void => {
      if (!sequence) return this.send(reply);
      // A reply held for an earlier one still counts against the session's byte bound.
      const size = replySize(reply);
      this.heldReplyBytes += size;
      sequence.complete(slot!, () => {
        this.heldReplyBytes -= size;
        this.send(reply);
      });
    };
    const log: RequestLog = { paths: [] };
    let result: Reply | Promise<Reply>;
    try {
      result = work(log);
    } catch (err) {
      deliver(this.failure(id, op, err, log));
      return;
    }
    if (result instanceof Promise) {
      result.then(deliver, (err: unknown) => deliver(this.failure(id, op, err, log)));
    } else {
      deliver(result);
    }
  }

  private send(reply: Reply): void {
    this.outstanding--;
    try {
      this.out.write(reply);
    } catch (err) {
      this.log?.warn({ ...this.fields, err: describe(err) }, 'sftp: a reply could not be written');
    }
    this.afterReply();
  }

  /** The STATUS reply for a request that failed (logged here). */
  private failure(id: number, op: string, err: unknown, log: RequestLog): Buffer {
    const s = errorStatus(err);
    if (this.log) {
      const paths = log.paths.map(redactedPath);
      if (s.vfsCode === undefined) this.log.warn({ ...this.fields, op, id, paths, err: describe(err) }, 'sftp request failed unexpectedly');
      else this.log.debug({ ...this.fields, op, id, paths, code: s.vfsCode, status: s.code, msg: redactCaps(s.message) }, 'sftp request failed');
    }
    try {
      return encodeStatus(id, s.code, s.message);
    } catch {
      return encodeStatus(id, StatusCode.FAILURE, 'internal error');
    }
  }

  /** A reply decided before dispatch (decode errors, pre-INIT requests). */
  private statusNow(id: number, code: number, message: string): void {
    this.outstanding++;
    this.send(encodeStatus(id, code, message));
  }

  /**
   * A reply left the stream's buffer. Its bytes no longer count: the budget's count is brought
   * up to date (other sessions may be waiting for room), and a session paused on them resumes.
   * Without this, a session paused with only buffered replies left waited for a 'drain' that
   * ssh2 never emits below its 2 MiB buffer, and its downloads stalled for good.
   */
  private replySent(): void {
    this.onReplySent?.();
    this.recount();
  }

  private afterReply(): void {
    this.recount();
    this.maybeFinish();
  }

  /** Resumes a paused session if it is back under its bounds, else keeps the budget's count current. */
  private recount(): void {
    if (this.inputPaused) this.maybeResume();
    else this.pendingBytes();
  }

  private maybeFinish(): void {
    if (this.finishing || this.outstanding > 0) return;
    if (!this.stopped) {
      if (!this.inputEnded) return;
      if (!this.drained) {
        // Input ended with complete packets still buffered (we were paused): they were sent,
        // so they are answered (a CLOSE among them commits) before the session ends.
        if (!this.pumping && !this.overBounds()) this.pumpSafely();
        return;
      }
    }
    this.finishing = true;
    void this.finish();
  }

  /**
   * Resolves once the stream holds no reply we wrote (or is gone), so an exit status follows
   * them. Checked as each reply leaves (replySent): ssh2 emits no 'drain' below 2 MiB buffered.
   */
  private allRepliesHandedOver(): Promise<void> {
    const s = this.stream;
    if (this.streamGone || s.writableLength === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const check = (): void => {
        if (!this.streamGone && s.writableLength > 0) return;
        this.onReplySent = undefined;
        s.off('close', check);
        resolve();
      };
      this.onReplySent = check;
      s.on('close', check);
    });
  }

  private async finish(): Promise<void> {
    this.stopWaitingForRoom();
    try {
      // Files never closed commit nothing; a CLOSE already received has finished by now.
      await this.vfs.close();
    } catch (err) {
      this.log?.warn({ ...this.fields, err: describe(err) }, 'sftp: closing the vfs session failed');
    }
    this.handles.clear();
    this.out.flush();
    await this.allRepliesHandedOver();
    if (!this.streamGone && !this.stream.writableEnded) {
      const status = this.brokeProtocol ? 255 : 0;
      if (this.endStream) this.endStream(status);
      else this.stream.end();
    }
    // Keep draining (and dropping) input so a peer still sending cannot block on a full window.
    if (!this.inputEnded) {
      this.inputGate?.release();
      this.stream.resume();
    }
    this.arena.dispose();
    this.resolveDone();
  }

  // --- dispatch ---------------------------------------------------------------------------

  private dispatch(req: IdRequest, log: RequestLog): Reply | Promise<Reply> {
    const P = (raw: Buffer): VPath => at(log, raw);
    const id = req.id;
    switch (req.type) {
      case 'open':
        return this.open(id, P(req.path), req.pflags);
      case 'close':
        return this.closeHandle(id, req.handle);
      case 'read':
        return this.read(id, req.handle, req.offset, req.length);
      case 'write':
        return this.write(id, req.handle, req.offset, req.more ? [req.data, ...req.more] : [req.data]);
      case 'lstat':
      case 'stat': {
        const path = P(req.path);
        return this.order.look([path], async () => attrsReply(id, await this.vfs.attrs(path)));
      }
      case 'fstat': {
        const h = this.handle(req.handle);
        if (h.kind === 'dir') return this.order.look([h.path], async () => attrsReply(id, await this.vfs.attrs(h.path)));
        return track(h, h.file.stat()).then((a) => attrsReply(id, a));
      }
      case 'setstat': {
        const path = P(req.path);
        const attrs = toSetAttrs(req.attrs);
        return this.order.change([path], async () => ok(id, await this.vfs.setAttrs(path, attrs)));
      }
      case 'fsetstat': {
        const h = this.handle(req.handle);
        const attrs = toSetAttrs(req.attrs);
        if (h.kind === 'dir') return this.order.change([h.path], async () => ok(id, await this.vfs.setAttrs(h.path, attrs)));
        return track(h, h.file.setAttrs(attrs)).then(() => ok(id));
      }
      case 'opendir':
        return this.opendir(id, P(req.path));
      case 'readdir':
        return this.readdir(id, this.dirHandle(req.handle));
      case 'remove': {
        const path = P(req.path);
        return this.order.change([path], async () => ok(id, await this.vfs.remove(path)));
      }
      case 'rmdir': {
        const path = P(req.path);
        return this.order.change([path], async () => ok(id, await this.vfs.rmdir(path)));
      }
      case 'mkdir': {
        const path = P(req.path);
        const perms = req.attrs.permissions;
        return this.order.change([path], async () => ok(id, await this.vfs.mkdir(path, perms)));
      }
      case 'realpath':
        // Canonical form only: no existence check (Tahoe), and a cap only if the client sent one.
        return nameReply(id, formatPath(P(req.path)));
      case 'rename': {
        const from = P(req.oldPath);
        const to = P(req.newPath);
        return this.order.change([from, to], async () => ok(id, await this.vfs.rename(from, to, 'no-replace')));
      }
      case 'readlink':
      case 'symlink':
        return encodeStatus(id, StatusCode.OP_UNSUPPORTED, 'symbolic links are not supported');
      default:
        return this.extended(req, log);
    }
  }

  private extended(req: ExtendedRequest, log: RequestLog): Reply | Promise<Reply> {
    const P = (raw: Buffer): VPath => at(log, raw);
    const id = req.id;
    switch (req.type) {
      case 'posix-rename': {
        const from = P(req.oldPath);
        const to = P(req.newPath);
        return this.order.change([from, to], async () => ok(id, await this.vfs.rename(from, to, 'posix')));
      }
      case 'hardlink': {
        const from = P(req.oldPath);
        const to = P(req.newPath);
        return this.order.change([from, to], async () => ok(id, await this.vfs.hardlink(from, to)));
      }
      case 'statvfs': {
        const path = P(req.path);
        return this.order.look([path], async () => {
          await this.vfs.attrs(path); // statvfs(2) of a missing path fails
          return encodeStatvfsReply(id, await this.statvfs());
        });
      }
      case 'fstatvfs': {
        this.handle(req.handle);
        return this.statvfs().then((s) => encodeStatvfsReply(id, s));
      }
      case 'fsync': {
        const h = this.fileHandle(req.handle);
        // A writer's fsync commits: a change of the namespace, ordered like CLOSE.
        if (h.file.writable) return this.order.change([h.path], () => track(h, h.file.sync())).then(() => ok(id));
        return track(h, h.file.sync()).then(() => ok(id));
      }
      case 'limits':
        return encodeLimitsReply(id, {
          // OpenSSH's sftp-server reports SFTP_MAX_MSG_LENGTH (the payload limit, length field
          // not counted), and its client sizes requests from the read/write figures.
          maxPacketLength: MAX_PACKET,
          maxReadLength: MAX_READ,
          maxWriteLength: MAX_WRITE,
          maxOpenHandles: this.handles.max,
        });
      case 'copy-data':
        return this.copyData(req);
      case 'home-directory':
        // Every account sees its own root as its home; other accounts' homes are not visible.
        return nameReply(id, '/');
      case 'expand-path':
        return nameReply(id, formatPath(P(expandTilde(req.path))));
      case 'extended-unknown':
        return encodeStatus(id, StatusCode.OP_UNSUPPORTED, `unsupported extension ${printable(req.name)}`);
    }
  }

  // --- handles ----------------------------------------------------------------------------

  private handle(wire: Buffer): SftpHandle {
    const h = this.handles.get(wire);
    if (!h) throw new VfsError('FAILURE', 'invalid handle');
    return h;
  }

  private fileHandle(wire: Buffer): FileHandle {
    const h = this.handle(wire);
    if (h.kind !== 'file') throw new VfsError('FAILURE', 'not a file handle');
    return h;
  }

  private dirHandle(wire: Buffer): DirHandle {
    const h = this.handle(wire);
    if (h.kind !== 'dir') throw new VfsError('FAILURE', 'not a directory handle');
    return h;
  }

  private checkRoom(): void {
    if (this.handles.full) throw new VfsError('TOO_MANY_OPEN_FILES', 'too many open handles');
  }

  private open(id: number, path: VPath, pflags: number): Promise<Reply> {
    const flags = toOpenFlags(pflags);
    // Opens that may create, truncate or register a writer change the namespace.
    const changes = Boolean(flags.write || flags.create || flags.truncate || flags.exclusive);
    const opening = async (): Promise<Reply> => {
      this.checkRoom();
      const file = await this.vfs.open(path, flags);
      if (this.handles.full) {
        // Filled up while we were opening: undo without committing anything.
        await file.abandon().catch(() => {});
        await this.vfs.closeFile(file).catch(() => {});
        this.checkRoom();
      }
      return encodeHandle(id, this.handles.add({ kind: 'file', file, path }));
    };
    return changes ? this.order.change([path], opening) : this.order.look([path], opening);
  }

  private closeHandle(id: number, wire: Buffer): Reply | Promise<Reply> {
    const h = this.handles.take(wire);
    if (!h) throw new VfsError('FAILURE', 'invalid handle');
    if (h.kind === 'dir') {
      h.release();
      return ok(id);
    }
    const closing = async (): Promise<Reply> => {
      await idle(h); // reads still in flight on this handle finish first
      await this.vfs.closeFile(h.file);
      return ok(id);
    };
    // A writer's close commits (links the new file): a change, ordered with path requests.
    return h.file.writable ? this.order.change([h.path], closing) : closing();
  }

  private read(id: number, wire: Buffer, offset: number, length: number): Promise<Reply> {
    const h = this.fileHandle(wire);
    // Bytes for nobody: a client gone with thousands of READs unread would have them all read.
    if (this.streamGone) return Promise.reject(new VfsError('CLOSED', 'the client is gone'));
    const len = Math.min(length, MAX_READ);
    this.payloadBytes += len;
    return track(h, h.file.read(offset, len)).then(
      (data) => {
        this.payloadBytes -= len;
        // Tahoe (Twisted's _cbRead): an empty result is EOF, even for a zero-length read.
        return data.length === 0 ? encodeStatus(id, StatusCode.EOF, 'end of file') : encodeDataParts(id, data);
      },
      (err: unknown) => {
        this.payloadBytes -= len;
        throw err;
      },
    );
  }

  /** WRITE: `pieces` are the data, in order (more than one when the packet came in pieces). */
  private write(id: number, wire: Buffer, offset: number, pieces: readonly Buffer[]): Promise<Reply> {
    const h = this.fileHandle(wire);
    const written = h.file.write(offset, pieces.length === 1 ? pieces[0]! : pieces);
    this.holdBuffers(pieces);
    return track(h, written)
      .finally(() => this.releaseBuffers(pieces))
      .then(() => ok(id));
  }

  /** Pins the buffers under `pieces` until releaseBuffers: counted once each, whole, and kept from reuse. */
  private holdBuffers(pieces: readonly Buffer[]): void {
    for (const piece of pieces) {
      this.arena.hold(piece);
      const { buffer } = piece;
      const n = this.heldBuffers.get(buffer) ?? 0;
      if (n === 0) this.heldBufferBytes += buffer.byteLength;
      this.heldBuffers.set(buffer, n + 1);
    }
  }

  private releaseBuffers(pieces: readonly Buffer[]): void {
    for (const piece of pieces) {
      this.arena.release(piece);
      const { buffer } = piece;
      const n = this.heldBuffers.get(buffer)!;
      if (n > 1) {
        this.heldBuffers.set(buffer, n - 1);
      } else {
        this.heldBuffers.delete(buffer);
        this.heldBufferBytes -= buffer.byteLength;
      }
    }
  }

  private opendir(id: number, path: VPath): Promise<Reply> {
    return this.order.look([path], async () => {
      this.checkRoom();
      const { entries, release } = await this.vfs.openListing(path);
      try {
        this.checkRoom();
        return encodeHandle(id, this.handles.add({ kind: 'dir', path, entries, next: 0, release }));
      } catch (err) {
        release();
        throw err;
      }
    });
  }

  private readdir(id: number, h: DirHandle): Reply {
    if (h.next >= h.entries.length) return encodeStatus(id, StatusCode.EOF, 'no more entries');
    const now = Date.now() / 1000;
    const batch: NameEntry[] = h.entries.slice(h.next, h.next + READDIR_BATCH).map((e) => ({
      filename: Buffer.from(e.name, 'utf8'),
      longname: Buffer.from(lsLine(e.name, e.attrs, now), 'utf8'),
      attrs: toSftpAttrs(e.attrs),
    }));
    const n = Math.max(1, nameEntriesThatFit(batch));
    h.next += n;
    return encodeName(id, batch.slice(0, n));
  }

  private async copyData(req: Extract<ExtendedRequest, { type: 'copy-data' }>): Promise<Reply> {
    const src = this.fileHandle(req.readHandle);
    const dst = this.fileHandle(req.writeHandle);
    const copying = this.vfs.copyData(src.file, req.readOffset, req.readLength, dst.file, req.writeOffset);
    await track(src, track(dst, copying));
    return ok(req.id);
  }

  private async statvfs(): Promise<StatvfsInfo> {
    const u = await this.vfs.diskUsage();
    const blocks = (n: number) => Math.max(0, Math.floor(n / STATVFS_BLOCK));
    return {
      bsize: STATVFS_BLOCK,
      frsize: STATVFS_BLOCK,
      blocks: blocks(u.totalBytes),
      bfree: blocks(Math.max(u.totalBytes - u.usedBytes, u.availableBytes)),
      bavail: blocks(u.availableBytes),
      files: STATVFS_FILES,
      ffree: STATVFS_FREE_FILES,
      favail: STATVFS_FREE_FILES,
      fsid: STATVFS_FSID,
      flag: StatvfsFlags.ST_NOSUID,
      namemax: NAME_MAX,
    };
  }
}

// --- translation helpers ---------------------------------------------------------------------

/** What an error log line may say about a request: its canonical paths (shown with caps redacted). */
interface RequestLog {
  paths: VPath[];
}

/** Canonicalises a client path at the edge, remembering it for the log line. */
function at(log: RequestLog, raw: Buffer): VPath {
  const path = parsePath(raw);
  log.paths.push(path);
  return path;
}

function replySize(reply: Reply): number {
  return Buffer.isBuffer(reply) ? reply.length : reply[0].length + reply[1].length;
}

function ok(id: number, _done?: void): Buffer {
  return encodeStatus(id, StatusCode.OK, OK_MESSAGE);
}

function nameReply(id: number, path: string): Buffer {
  return encodeName(id, [{ filename: Buffer.from(path, 'utf8'), longname: Buffer.alloc(0), attrs: {} }]);
}

function attrsReply(id: number, attrs: VfsAttrs): Buffer {
  return encodeAttrsReply(id, toSftpAttrs(attrs));
}

const U32_MAX = 0xffffffff;

/** What Tahoe sends: size if known, the full mode, one time for atime and mtime; no uid/gid. */
export function toSftpAttrs(a: VfsAttrs): SftpAttrs {
  const out: SftpAttrs = { permissions: a.mode };
  if (a.size !== undefined) out.size = a.size;
  if (a.mtime !== undefined) {
    const t = Math.min(Math.max(0, Math.floor(a.mtime)), U32_MAX);
    out.atime = t;
    out.mtime = t;
  }
  return out;
}

/** SETSTAT attributes the vfs understands; uid/gid and extended attributes are ignored. */
export function toSetAttrs(a: SftpAttrs): SetAttrs {
  const out: SetAttrs = {};
  if (a.size !== undefined) out.size = a.size;
  if (a.permissions !== undefined) out.permissions = a.permissions;
  if (a.mtime !== undefined) out.mtime = a.mtime;
  if (a.atime !== undefined) out.atime = a.atime;
  return out;
}

export function toOpenFlags(pflags: number): VfsOpenFlags {
  return {
    read: (pflags & OpenFlags.READ) !== 0,
    write: (pflags & OpenFlags.WRITE) !== 0,
    append: (pflags & OpenFlags.APPEND) !== 0,
    create: (pflags & OpenFlags.CREAT) !== 0,
    truncate: (pflags & OpenFlags.TRUNC) !== 0,
    exclusive: (pflags & OpenFlags.EXCL) !== 0,
  };
}

/**
 * expand-path@openssh.com: `~` and `~user` (any user: each account's home is its own root) become
 * `/`; the rest is canonicalised like REALPATH.
 */
function expandTilde(raw: Buffer): Buffer {
  if (raw[0] !== 0x7e /* ~ */) return raw;
  const slash = raw.indexOf(0x2f /* / */);
  return slash < 0 ? Buffer.from('/') : raw.subarray(slash);
}

function printable(s: string): string {
  const clean = s.replace(/[^\x20-\x7e]/g, '?');
  return clean.length > 64 ? `${clean.slice(0, 64)}…` : clean;
}

/** Caps must never reach logs, whatever carried them. */
function redactCaps(s: string): string {
  return s.replace(/URI:[^\s'"/]*/g, '[cap]');
}

function describe(err: unknown): string {
  if (err instanceof Error) return redactCaps(`${err.name}: ${err.message}`);
  return redactCaps(String(err));
}

