// The per-segment work of uploads, off the event loop (issue #11): hashing the plaintext for the
// convergent key, sealing each segment with AES-256-GCM and writing it to the upload's
// temporary file. The event loop keeps reading SSH/FTP data meanwhile. Messages of one upload
// are handled in the order sent (one worker per upload), which the running hash needs.
// Protocol: see sealer.ts, the only sender.
import { createCipheriv, createHash, type Hash } from 'node:crypto';
import { closeSync, fdatasync, fsyncSync, openSync, rmSync, writeSync, writevSync } from 'node:fs';
import { parentPort } from 'node:worker_threads';
import type { SealReply, SealRequest } from './sealer.js';
import { segmentNonce, segmentOffset } from './layout.js';
import { scavenge } from '../../util/scavenge.js';

/**
 * Bytes written between background flushes. The file must be on disk when the client closes it;
 * starting the flush as the bytes arrive (an fdatasync on the thread pool, while this thread
 * goes on writing) leaves little for the final fsync, so closing a 1 GiB file stays fast.
 */
const FLUSH_EVERY = 32 * 1024 * 1024;

interface Upload {
  path: string;
  key: Buffer;
  hash: Hash;
  fd?: number;
  unflushed: number;
  /** Background flushes not finished; the descriptor is closed only when they are. */
  flushing: number;
  closeWhenFlushed: boolean;
  /** The first failure; later segments are dropped and the error is repeated. */
  error?: { code: string | undefined; message: string };
}

/**
 * Segments sealed between two collections of this thread's young generation. Each seal leaves a
 * dead 128 KiB ciphertext Buffer (Node's Cipher cannot encrypt into a buffer of ours), and this
 * thread makes almost no JS objects, so V8 alone let ~34 MiB of them wait: a 1 GiB SFTP upload
 * peaked at 155 MiB RSS, with 34 MiB in this thread's malloc arena (smaps). Every 16 segments (2
 * MiB): 121-126 MiB, the arena gone. A scavenge here costs ~40 µs.
 *
 * It runs while the newest ciphertext is alive, so the dead ones are freed below it and the next
 * segments reuse them. Collected with nothing alive above them, they were the top of the arena,
 * which glibc hands back to the kernel at once, and the next segments faulted the pages in again:
 * in a worker sealing 1 GiB (micro-benchmark, 2 runs each), 150,000-165,000 page faults and
 * 2,070-2,120 ms of CPU that way, 2,200-2,900 faults and 1,590-1,600 ms this way, 10,000-23,000
 * and 1,590-1,600 ms with no collection at all (8 SFTP clients uploading at once were 15% slower).
 */
const SEGMENTS_PER_SCAVENGE = 16;
let sealedSinceScavenge = 0;

const uploads = new Map<number, Upload>();
const port = parentPort!;

function send(reply: SealReply, transfer: ArrayBuffer[] = []): void {
  port.postMessage(reply, transfer);
}

function failure(err: unknown): { code: string | undefined; message: string } {
  const e = err as NodeJS.ErrnoException;
  return { code: typeof e.code === 'string' ? e.code : undefined, message: e.message ?? String(err) };
}

function segment(u: Upload, index: number, data: Uint8Array): void {
  u.hash.update(data);
  const cipher = createCipheriv('aes-256-gcm', u.key, segmentNonce(index));
  const ciphertext = cipher.update(data);
  cipher.final(); // GCM: no bytes held back
  if (++sealedSinceScavenge === SEGMENTS_PER_SCAVENGE) {
    sealedSinceScavenge = 0;
    scavenge(); // `ciphertext` alive: see SEGMENTS_PER_SCAVENGE
  }
  u.fd ??= openSync(u.path, 'wx', 0o600);
  u.unflushed += writeAll(u.fd, [ciphertext, cipher.getAuthTag()], segmentOffset(index));
  if (u.unflushed >= FLUSH_EVERY) {
    u.unflushed = 0;
    u.flushing++;
    const fd = u.fd;
    // A failure here shows up again in the final fsync, which is the one that counts.
    fdatasync(fd, () => {
      u.flushing--;
      if (u.flushing === 0 && u.closeWhenFlushed) closeSync(fd);
    });
  }
}

/**
 * Writes `parts` one after the other at `position` with one writev, without joining them first:
 * a Buffer.concat of each sealed segment doubled the worker's cost of a segment (a fresh 128 KiB
 * buffer per segment; 1,150 vs 500 ms per 512 MiB sealed and written to tmpfs, bench of
 * 2026-12-04). A short write (rare: a full disk) is finished by plain writes, or throws.
 */
function writeAll(fd: number, parts: Uint8Array[], position: number): number {
  const total = parts.reduce((n, p) => n + p.length, 0);
  const done = writevSync(fd, parts, position);
  if (done < total) {
    const rest = Buffer.concat(parts).subarray(done);
    for (let at = 0; at < rest.length; ) at += writeSync(fd, rest, at, rest.length - at, position + done + at);
  }
  return total;
}

function close(u: Upload): void {
  if (u.fd === undefined) return;
  const fd = u.fd;
  u.fd = undefined;
  if (u.flushing > 0) u.closeWhenFlushed = true;
  else closeSync(fd);
}

port.on('message', (m: SealRequest) => {
  switch (m.op) {
    case 'begin':
      uploads.set(m.id, { path: m.path, key: Buffer.from(m.key), hash: createHash('sha256'), unflushed: 0, flushing: 0, closeWhenFlushed: false });
      return;
    case 'segment': {
      const u = uploads.get(m.id)!;
      const data = new Uint8Array(m.buffer, 0, m.length);
      if (!u.error) {
        try {
          segment(u, m.index, data);
        } catch (err) {
          u.error = failure(err);
        }
      }
      // The buffer goes back to the sender's pool either way.
      send({ op: 'segment-done', id: m.id, buffer: m.buffer, ...(u.error ? { error: u.error } : {}) }, [m.buffer]);
      return;
    }
    case 'digest': {
      const u = uploads.get(m.id)!;
      send(u.error ? { op: 'digest', id: m.id, error: u.error } : { op: 'digest', id: m.id, digest: u.hash.digest() });
      return;
    }
    case 'seal': {
      // The header goes in last, then the file is made durable: only a complete object is published.
      const u = uploads.get(m.id)!;
      try {
        if (u.error) throw Object.assign(new Error(u.error.message), { code: u.error.code });
        u.fd ??= openSync(u.path, 'wx', 0o600);
        writeAll(u.fd, [m.header], 0);
        fsyncSync(u.fd);
        close(u);
        uploads.delete(m.id);
        send({ op: 'sealed', id: m.id });
      } catch (err) {
        send({ op: 'sealed', id: m.id, error: failure(err) });
      }
      return;
    }
    case 'abort': {
      const u = uploads.get(m.id);
      uploads.delete(m.id);
      if (u) {
        try {
          close(u);
        } catch {
          // nothing left to do with a descriptor that will not close
        }
        rmSync(u.path, { force: true });
      }
      send({ op: 'aborted', id: m.id });
      return;
    }
  }
});
