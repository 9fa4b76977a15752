// Moving bytes over a data connection, with backpressure both ways so memory stays bounded
// whatever the file size or the client's speed (hardening.md §3d.15):
// - downloads read 1 MiB chunks from the vfs, one ahead of the socket, and wait for 'drain'
//   when the socket's buffer is full. Measured (bench/ftp.sh, 512 MiB, against vsftpd in the
//   same runs): 1 MiB × 2 in flight 0.73–0.78, 1 MiB × 4 0.71, 512 KiB × 4 0.65, 128 KiB × 8
//   (one store segment per read, no copy) 0.47–0.66: the vfs runs a handle's reads one after
//   another, and a 1 MiB read loads its 8 segments in parallel;
// - uploads hand each network chunk to the vfs as it is (the store copies it once, into its
//   segment), one write at a time, and pause the socket while more than 4 MiB wait (TCP then
//   slows the client).
// Bytes queued either way count against the process's transfer memory (util/memory-budget.ts).
// Bytes written are sequential, so the vfs streams them into the store as they come and the
// commit at the end costs little.
import type { Duplex } from 'node:stream';
import type { VfsFile } from '../vfs/index.js';
import type { MemoryShare } from '../util/memory-budget.js';
import { FromCrlf, toCrlf } from './ascii.js';
import { DataConnectionError } from './data.js';
import { giveBack } from '../util/lent-buffers.js';

/**
 * Bytes asked of the file per read: 896 KiB, under the 1 MiB that lafsd's launch line makes
 * glibc's mmap threshold (src/cli/main.ts), so each read's buffer comes from malloc's heap and
 * not from a fresh mapping that is faulted in page by page and unmapped again; and seven of the
 * embedded store's 128 KiB segments, so each read is one of its runs, one buffer, no join.
 * 1 MiB reads took 2.0-8.0 s per GiB of download (curl, loopback, 9 runs), these 1.4-2.7 s.
 */
const READ_CHUNK = 7 * 128 * 1024;
const READ_AHEAD = 2;
const PAUSE_ABOVE = 4 * 1024 * 1024;
const RESUME_BELOW = 1024 * 1024;
const TEXT_SLICE = 256 * 1024;

/** Counts bytes as they move (STAT during a transfer, the log line). */
export interface Progress {
  bytes: number;
}

function aborted(): DataConnectionError {
  return new DataConnectionError('transfer aborted');
}

/** Resolves on 'drain'; rejects when the socket closes or errors, or on abort. */
function drained(sock: Duplex, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const cleanup = () => {
      sock.off('drain', onDrain);
      sock.off('close', onClose);
      sock.off('error', onClose);
      signal.removeEventListener('abort', onAbort);
    };
    const onDrain = () => {
      cleanup();
      resolve();
    };
    const onClose = () => {
      cleanup();
      reject(new DataConnectionError('data connection closed by the client'));
    };
    const onAbort = () => {
      cleanup();
      reject(aborted());
    };
    if (signal.aborted) return onAbort();
    if (sock.destroyed) return onClose();
    sock.on('drain', onDrain);
    sock.on('close', onClose);
    sock.on('error', onClose);
    signal.addEventListener('abort', onAbort);
  });
}

/** Ends our side and waits until everything was handed to the kernel. */
export function finish(sock: Duplex, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const cleanup = () => {
      sock.off('finish', onFinish);
      sock.off('close', onClose);
      sock.off('error', onClose);
      signal.removeEventListener('abort', onAbort);
    };
    const onFinish = () => {
      cleanup();
      resolve();
    };
    const onClose = () => {
      cleanup();
      if (sock.writableFinished) resolve();
      else reject(new DataConnectionError('data connection closed by the client'));
    };
    const onAbort = () => {
      cleanup();
      reject(aborted());
    };
    if (signal.aborted) return onAbort();
    sock.on('finish', onFinish);
    sock.on('close', onClose);
    sock.on('error', onClose);
    signal.addEventListener('abort', onAbort);
    sock.end();
  });
}

function abortable<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(aborted());
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(aborted());
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}

/** RETR: sends the file from `offset` to its end. vfs errors reject as VfsError, socket trouble as DataConnectionError. */
export async function sendFile(
  sock: Duplex, file: VfsFile, offset: number, opts: { ascii: boolean; signal: AbortSignal; progress: Progress; memory?: MemoryShare },
): Promise<void> {
  const ahead: Promise<Buffer>[] = [];
  let next = offset;
  let atEnd = false;
  const readAhead = () => {
    // At least one read is always in flight; more only while the process has memory for them.
    while (!atEnd && (ahead.length === 0 || (ahead.length < READ_AHEAD && !opts.memory?.over))) {
      const p = file.read(next, READ_CHUNK);
      p.catch(() => {}); // read-ahead: a failure is seen when awaited, never as an unhandled rejection
      ahead.push(p);
      opts.memory?.add(READ_CHUNK);
      next += READ_CHUNK;
    }
  };
  try {
    for (;;) {
      readAhead();
      const data = await abortable(ahead.shift()!, opts.signal);
      opts.memory?.add(-READ_CHUNK);
      if (data.length < READ_CHUNK) atEnd = true;
      if (data.length === 0) break;
      const out = opts.ascii ? toCrlf(data) : data;
      if (out !== data) giveBack(data);
      opts.progress.bytes += out.length;
      if (sock.destroyed) throw new DataConnectionError('data connection closed by the client');
      // Once written (the kernel or TLS has copied it), the store may use its buffer again.
      if (!sock.write(out, () => giveBack(out))) await drained(sock, opts.signal);
      if (atEnd) break;
    }
  } finally {
    opts.memory?.add(-READ_CHUNK * ahead.length);
  }
  await finish(sock, opts.signal);
}

/** LIST/NLST/MLSD: sends text with backpressure. */
export async function sendText(sock: Duplex, text: string, opts: { signal: AbortSignal; progress: Progress }): Promise<void> {
  const bytes = Buffer.from(text, 'utf8');
  for (let pos = 0; pos < bytes.length; pos += TEXT_SLICE) {
    const slice = bytes.subarray(pos, pos + TEXT_SLICE);
    opts.progress.bytes += slice.length;
    if (sock.destroyed) throw new DataConnectionError('data connection closed by the client');
    if (!sock.write(slice)) await drained(sock, opts.signal);
  }
  await finish(sock, opts.signal);
}

/** Bytes and time a refused upload's data connection is still read (and dropped) before it is closed. */
const DRAIN_BYTES = 16 * 1024 * 1024;
const DRAIN_MS = 2000;

/** Reads and drops what the client still sends, within bounds, then closes the data connection. */
function drainThenClose(sock: Duplex): Promise<void> {
  return new Promise((resolve) => {
    let drained = 0;
    const finish = () => {
      clearTimeout(timer);
      sock.off('data', onData);
      sock.off('end', finish);
      sock.off('close', finish);
      sock.destroy();
      resolve();
    };
    const onData = (chunk: Buffer) => {
      drained += chunk.length;
      if (drained > DRAIN_BYTES) finish();
    };
    const timer = setTimeout(finish, DRAIN_MS);
    sock.on('data', onData);
    sock.on('end', finish);
    sock.on('close', finish);
    sock.on('error', () => {});
    sock.resume();
  });
}

/**
 * STOR/APPE: writes what arrives at `offset` onwards until the client ends the data connection.
 * Resolves when every byte was handed to the vfs; the caller then commits (closeFile). Rejects
 * with DataConnectionError when the connection breaks or the transfer is aborted, or with the
 * vfs error when a write fails; the caller then abandons the file.
 */
export function receiveFile(
  sock: Duplex, file: VfsFile, offset: number, opts: { ascii: boolean; signal: AbortSignal; progress: Progress; memory?: MemoryShare },
): Promise<void> {
  return new Promise((resolve, reject) => {
    const conv = opts.ascii ? new FromCrlf() : undefined;
    const queue: Buffer[] = [];
    let queued = 0;
    // What is queued counts against the process's transfer memory too (util/memory-budget.ts).
    const count = (delta: number) => {
      queued += delta;
      opts.memory?.add(delta);
    };
    const tooMuch = () => queued > PAUSE_ABOVE || (opts.memory?.over ?? false);
    const resume = () => {
      if (paused && queued < RESUME_BELOW && !opts.memory?.over) {
        paused = false;
        sock.resume();
      }
    };
    const stopWaitingForRoom = opts.memory?.onRoom(resume);
    let pos = offset;
    let paused = false;
    let writing = false;
    let ended = false;
    let done = false;

    const settle = (err?: Error, drain = false) => {
      if (done) return;
      done = true;
      stopWaitingForRoom?.();
      count(-queued);
      sock.off('data', onData);
      sock.off('end', onEnd);
      sock.off('close', onClose);
      sock.off('error', onError);
      opts.signal.removeEventListener('abort', onAbort);
      if (!err) return resolve();
      if (!drain || ended) {
        sock.destroy();
        return reject(err);
      }
      // The store refused the bytes (full disk, quota): read a little more before closing, so a
      // client that is still sending gets to read our error reply instead of a connection reset.
      void drainThenClose(sock).then(() => reject(err));
    };

    const pump = async () => {
      if (writing || done) return;
      writing = true;
      try {
        while (queue.length && !done) {
          const batch = queue.shift()!;
          count(-batch.length);
          resume();
          await file.write(pos, batch);
          pos += batch.length;
        }
        if (ended && !done) {
          const tail = conv?.flush();
          if (tail?.length) await file.write(pos, tail);
          settle();
        }
      } catch (err) {
        settle(err as Error, true);
      } finally {
        writing = false;
      }
    };

    const onData = (chunk: Buffer) => {
      opts.progress.bytes += chunk.length;
      const data = conv ? conv.push(chunk) : chunk;
      if (data.length === 0) return;
      queue.push(data);
      count(data.length);
      if (!paused && tooMuch()) {
        paused = true;
        sock.pause();
      }
      void pump();
    };
    const onEnd = () => {
      ended = true;
      void pump();
    };
    const onClose = () => {
      if (!ended) settle(new DataConnectionError('data connection lost before the end of the file'));
    };
    const onError = (err: Error) => {
      if (!ended) settle(new DataConnectionError(`data connection failed: ${err.message}`));
    };
    const onAbort = () => settle(aborted());

    if (opts.signal.aborted) return onAbort();
    // The client may have sent everything, even its TLS close_notify right behind the handshake
    // (an empty file), before we got here: then 'end' (or 'close') has been emitted already.
    if (sock.readableEnded) return onEnd();
    if (sock.destroyed) return onClose();
    sock.on('data', onData);
    sock.on('end', onEnd);
    sock.on('close', onClose);
    sock.on('error', onError);
    opts.signal.addEventListener('abort', onAbort);
    sock.resume();
  });
}
