// Every place where we reach past ssh2's public API lives here, so an ssh2 upgrade has one file
// to re-check. Each helper checks the shape it expects and degrades to "not done" otherwise.
import { createRequire } from 'node:module';
import type { Writable } from 'node:stream';
import type { Connection } from 'ssh2';

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

/** Holds back the SSH window a channel grants its client (see gateChannelWindow). */
export interface WindowGate {
  /** Grant no more window: the client may still send what it was granted (≤ 2 MiB). */
  hold(): void;
  /** Grant window again as ssh2 would (its threshold: half of its 2 MiB window used). */
  release(): void;
}

interface ChannelInternals {
  push(chunk: unknown): boolean;
  _read(n: number): void;
  _waitChanDrain?: unknown;
  incoming?: { window?: unknown };
}

/**
 * Flow control of a channel's input without pausing it. ssh2 tops up the client's window
 * (CHANNEL_WINDOW_ADJUST) when a push() into the channel returns true, and otherwise from the
 * channel's _read() once the reader wants more. Pausing the stream stops both, but then ssh2
 * keeps the data the client already had the right to send (up to its 2 MiB window) in the
 * channel's buffer, as views into socket reads that live long enough to be promoted and freed
 * only by a mark-compact (issue #11: most of the 8-client peak). With this gate the stream keeps
 * flowing, so the reader can copy every chunk at once, and the window is what stops the client.
 * Returns undefined when the channel does not look as ssh2 1.x makes it; the caller then pauses.
 */
export function gateChannelWindow(channel: unknown): WindowGate | undefined {
  const c = channel as ChannelInternals;
  if (typeof c.push !== 'function' || typeof c._read !== 'function' || typeof c._waitChanDrain !== 'boolean' || typeof c.incoming?.window !== 'number') return undefined;
  const push = c.push.bind(c);
  const read = c._read.bind(c);
  let held = false;
  let readWanted = false;
  // push() false makes ssh2 set _waitChanDrain and skip its window adjust; the chunk itself is
  // delivered (emitted at once to a flowing reader) either way.
  c.push = (chunk) => push(chunk) && !held;
  // Node's Readable asks for more after each chunk; ssh2 answers with a window adjust.
  c._read = (n) => {
    if (held) readWanted = true;
    else read(n);
  };
  return {
    hold: () => {
      held = true;
    },
    release: () => {
      if (!held) return;
      held = false;
      // What ssh2 skipped while held: its _read() adjusts the window if a push was refused.
      if (readWanted || c._waitChanDrain === true) {
        readWanted = false;
        read(0);
      }
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
