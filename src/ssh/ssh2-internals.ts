// Every place where we reach past ssh2's public API lives here, so an ssh2 upgrade has one file
// to re-check. Each helper checks the shape it expects and degrades to "not done" otherwise.
import { createRequire } from 'node:module';
import type { Writable } from 'node:stream';
import type { Connection } from 'ssh2';
import type { WindowWire } from './window-pool.js';

const require = createRequire(import.meta.url);

interface KexInitCtor {
  new (lists: object): object;
}

interface ProtocolInternals {
  _offer?: { lists?: unknown };
  _strictMode?: boolean;
}

/**
 * A KEXINIT offer built from exactly these lists. ssh2's Server always appends `ssh-rsa`
 * (SHA-1 signatures) for an RSA host key, whatever `algorithms.serverHostKey` says; swapping
 * the per-connection offer is the only way to keep it out of the list.
 */
export function buildOffer(algos: {
  kex: string[];
  serverHostKey: string[];
  cipher: string[];
  hmac: string[];
  compress: string[];
}): object {
  const { KexInit } = require('ssh2/lib/protocol/kex.js') as { KexInit: KexInitCtor };
  const dir = { cipher: algos.cipher, mac: algos.hmac, compress: algos.compress, lang: [] as string[] };
  return new KexInit({
    // The strict-kex marker (Terrapin countermeasure) that ssh2's Server would add itself.
    kex: [...algos.kex, 'kex-strict-s-v00@openssh.com'],
    serverHostKey: algos.serverHostKey,
    cs: dir,
    sc: { ...dir },
  });
}

/**
 * Install `offer` on a connection whose KEXINIT has not been sent yet. ssh2 emits the server
 * 'connection' event synchronously just before it sends its KEXINIT, so that is the place.
 */
export function replaceOffer(client: Connection, offer: object): boolean {
  const proto = (client as unknown as { _protocol?: ProtocolInternals })._protocol;
  if (!proto || typeof proto._offer !== 'object' || proto._offer === null || !('lists' in proto._offer)) return false;
  proto._offer = offer as ProtocolInternals['_offer'];
  return true;
}

/** Whether strict key exchange (kex-strict-*-v00@openssh.com) is in force; undefined = unknown. */
export function strictKexEnabled(client: Connection): boolean | undefined {
  const proto = (client as unknown as { _protocol?: ProtocolInternals })._protocol;
  return typeof proto?._strictMode === 'boolean' ? proto._strictMode : undefined;
}

/** Holds back the SSH window a channel grants its client (a ChannelWindow of window-pool.ts). */
export interface WindowGate {
  /** Grant no more window: the client may still send what it was granted. */
  hold(): void;
  /** Grant window again. */
  release(): void;
}

interface ChannelInternals {
  push(chunk: unknown): boolean;
  _read(n: number): void;
  _waitChanDrain?: unknown;
  incoming?: { window?: unknown };
  outgoing?: { id?: unknown; state?: unknown };
  _client?: { _protocol?: { channelWindowAdjust?: unknown } };
}

interface SessionInternals {
  _chanInfo?: { incoming?: { window?: unknown } };
}

interface ConfirmingProtocol {
  channelOpenConfirm?: (this: unknown, remote: number, local: number, window: number, packetSize: number) => unknown;
}

/**
 * Accepts a session channel announcing `window` instead of ssh2's fixed 2 MiB (ssh2 takes the
 * window from a constant when it confirms the open). Returns the session and the window the
 * client was actually given: ssh2's own when its internals do not look as expected.
 */
export function acceptSessionWithWindow<T>(client: Connection, accept: () => T | undefined, window: number): { session: T | undefined; window: number } {
  const proto = (client as unknown as { _protocol?: ConfirmingProtocol })._protocol;
  const original = proto?.channelOpenConfirm;
  if (!proto || typeof original !== 'function') return { session: accept(), window: SSH2_CHANNEL_WINDOW };
  const own = Object.prototype.hasOwnProperty.call(proto, 'channelOpenConfirm');
  let confirmed = false;
  proto.channelOpenConfirm = function (remote, local, _window, packetSize) {
    confirmed = true;
    return original.call(this, remote, local, window, packetSize);
  };
  let session: T | undefined;
  try {
    session = accept();
  } finally {
    if (own) proto.channelOpenConfirm = original;
    else delete proto.channelOpenConfirm;
  }
  // ssh2 counts the channel's window in the session's _chanInfo, which its channel later shares.
  const incoming = (session as SessionInternals | undefined)?._chanInfo?.incoming;
  if (!confirmed || !incoming || typeof incoming.window !== 'number') return { session, window: SSH2_CHANNEL_WINDOW };
  incoming.window = window;
  return { session, window };
}

/**
 * Bytes past its window a channel may receive before its peer is disconnected: OpenSSH's grace,
 * a tenth of its 2 MiB session window (channels.c channel_input_data, "peer ignored channel
 * window"), for clients that overrun by a packet.
 */
export const WINDOW_OVERRUN_GRACE = Math.floor((2 * 1024 * 1024) / 10);

type DataHandler = (this: unknown, p: unknown, recipient: number, data: Buffer) => unknown;

/**
 * Disconnects a peer that sends channel data past the window it was granted, as OpenSSH does.
 * ssh2 only drops a packet that arrives when the window is exactly 0, and takes every packet once
 * one has made it negative: a client that ignored its window sent 64 MiB and grew lafsd by
 * 135-178 MiB of packet garbage before the session's input bound cut it off, on a quiet machine.
 * The check runs before ssh2's own handler; past WINDOW_OVERRUN_GRACE bytes of excess on one
 * channel, the connection gets DISCONNECT (protocol error), nothing more of it is handled, and
 * `onViolation` runs once. Returns false when ssh2's internals do not look as expected.
 */
export function enforceChannelWindows(client: Connection, onViolation: (channel: number, excess: number) => void): boolean {
  const c = client as unknown as {
    _protocol?: { _handlers?: { CHANNEL_DATA?: unknown }; disconnect?: unknown };
    _chanMgr?: { get?: unknown };
  };
  const handlers = c._protocol?._handlers;
  const get = c._chanMgr?.get;
  const disconnect = c._protocol?.disconnect;
  if (!handlers || typeof handlers.CHANNEL_DATA !== 'function' || typeof get !== 'function' || typeof disconnect !== 'function') return false;
  const original = handlers.CHANNEL_DATA as DataHandler;
  const chanMgr = c._chanMgr!;
  const excess = new Map<number, number>();
  let violated = false;
  handlers.CHANNEL_DATA = function (this: unknown, p: unknown, recipient: number, data: Buffer) {
    if (violated) return;
    // A session's data goes to the channel of its subsystem once there is one (as in ssh2).
    const found = (get as (id: number) => unknown).call(chanMgr, recipient) as { incoming?: { window?: unknown }; _channel?: { incoming?: { window?: unknown } } } | undefined;
    const window = (found?.incoming ?? found?._channel?.incoming)?.window;
    if (typeof window === 'number' && data.length > window) {
      const total = (excess.get(recipient) ?? 0) + data.length - Math.max(0, window);
      excess.set(recipient, total);
      if (total > WINDOW_OVERRUN_GRACE) {
        violated = true;
        (disconnect as (reason: number) => void).call(c._protocol, 2 /* SSH_DISCONNECT_PROTOCOL_ERROR */);
        onViolation(recipient, total);
        return;
      }
    }
    return original.call(this, p, recipient, data);
  } as DataHandler;
  return true;
}

/** ssh2's window for a channel it opens (lib/Channel.js MAX_WINDOW). */
const SSH2_CHANNEL_WINDOW = 2 * 1024 * 1024;

/**
 * Takes the window adjusts of a channel's input away from ssh2, which tops every channel up
 * to 2 MiB, and hands them to the caller: `onData` runs after each chunk (ssh2 has already
 * subtracted it from the window), and `grant` sends an adjust. The stream keeps flowing, so
 * the reader copies each chunk as it arrives and the window alone holds the client back (a
 * paused stream made ssh2 keep up to 2 MiB per channel as views into socket reads, promoted
 * before they died: most of the 8-client peak of issue #11). Returns undefined when the
 * channel does not look as ssh2 1.x makes it; ssh2 then keeps its own adjusts.
 */
export function takeOverChannelWindow(channel: unknown, onData: () => void): WindowWire | undefined {
  const c = channel as ChannelInternals;
  const protocol = c._client?._protocol;
  if (
    typeof c.push !== 'function' ||
    typeof c._read !== 'function' ||
    typeof c._waitChanDrain !== 'boolean' ||
    typeof c.incoming?.window !== 'number' ||
    typeof c.outgoing?.id !== 'number' ||
    typeof protocol?.channelWindowAdjust !== 'function'
  ) {
    return undefined;
  }
  const incoming = c.incoming as { window: number };
  const outgoing = c.outgoing as { id: number; state?: unknown };
  const adjust = protocol.channelWindowAdjust as (this: unknown, id: number, bytes: number) => void;
  const push = c.push.bind(c);
  // The stream's own buffer is over its mark: nobody reads what arrives (the reader stopped or
  // went away), so no more window until the stream asks for more, as ssh2 itself would do.
  let backlogged = false;
  // ssh2 adjusts the window after a push() that returns true, and from _read() after one that
  // returned false; answering false and keeping _read() for ourselves leaves every adjust to
  // us. The chunk itself is delivered (emitted at once to a flowing reader) either way.
  c.push = (chunk) => {
    const wantsMore = push(chunk);
    if (chunk !== null) {
      backlogged = !wantsMore;
      onData();
    }
    return false;
  };
  c._read = () => {
    if (!backlogged) return;
    backlogged = false;
    onData();
  };
  return {
    backlogged: () => backlogged,
    window: () => incoming.window,
    grant: (bytes) => {
      if (bytes <= 0 || outgoing.state === 'closed') return;
      incoming.window += bytes;
      adjust.call(protocol, outgoing.id, bytes);
    },
  };
}

type WriteFn = (this: unknown, chunk: Buffer, encoding: BufferEncoding, callback: (err?: Error | null) => void) => void;

/** Channel writes waiting for their connection's socket to drain, by socket. */
const waitingForDrain = new WeakMap<Writable, (() => void)[]>();

/**
 * Holds a channel's output while its connection's socket has more than `limit` bytes it could
 * not send yet. ssh2 writes channel data to the socket whenever the client's SSH window allows
 * and never looks at the socket's backpressure: a client that granted a 4 GiB window and stopped
 * reading its TCP socket made lafsd buffer every reply it asked for (1.2 GiB in 15 s, found on
 * 2026-12-05). A held write does not complete, so the channel's own buffer fills, and the SFTP
 * session, which counts that buffer in its bounds, stops reading requests as it does when the
 * window is closed. Returns false when the channel does not look as ssh2 1.x makes it.
 */
export function holdOutputWhileSocketBacklogged(channel: unknown, socket: Writable, limit: number): boolean {
  const c = channel as { _write?: unknown };
  if (typeof c._write !== 'function') return false;
  const write = c._write as WriteFn;
  c._write = function (this: unknown, chunk: Buffer, encoding: BufferEncoding, callback: (err?: Error | null) => void): void {
    if (socket.writableLength <= limit || socket.destroyed) return write.call(this, chunk, encoding, callback);
    let waiting = waitingForDrain.get(socket);
    if (!waiting) {
      const queue: (() => void)[] = [];
      waiting = queue;
      waitingForDrain.set(socket, queue);
      // 'drain' comes once the socket's buffer is empty: a write over `limit` returned false.
      socket.once('drain', () => {
        waitingForDrain.delete(socket);
        for (const resume of queue) resume();
      });
    }
    waiting.push(() => write.call(this, chunk, encoding, callback));
  } as WriteFn;
  return true;
}
