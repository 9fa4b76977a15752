// Gathers what is written to a socket during one tick into one send, and copies the small
// writes of that tick into one buffer.
//
// ssh2 writes every SSH packet to the socket as a Buffer of its own. Corking the socket for the
// tick already sends them in one writev (node-libs.md §5.2), but a socket keeps each queued write
// as a JS object of its own until the kernel takes it: 8 MiB of unsent 52-byte keepalive replies
// were ~240,000 queued writes and 48 MiB resident on Node 20, 61 MiB on Node 24 (2026-12-07;
// the CI's keepalive-flood test grew lafsd by 98 MiB on Node 24). Copied into one buffer per
// tick, queued bytes cost what they weigh, so the input hold's 8 MiB really is 8 MiB.
import type { Socket } from 'node:net';

/**
 * Writes below this size are copied together; larger ones (file data: ssh2 cuts it into packets
 * of up to the client's 32 KiB maximum) are queued as they are, since copying them would cost
 * more than their entry.
 */
export const SMALL_WRITE_BYTES = 4096;

type WriteFn = Socket['write'];
type EndFn = Socket['end'];

/**
 * From now on, every write to `sock` in a tick leaves in one send at the end of the tick (the
 * socket is corked until then) and its writes under `smallBytes` leave as one buffer, in order
 * with the larger ones. Writes with a callback or an encoding pass through at once (after what
 * was gathered before them). `end()` sends what was gathered first. What is gathered when the
 * socket is destroyed is dropped, as its queued writes are.
 */
export function gatherWrites(sock: Socket, smallBytes = SMALL_WRITE_BYTES): void {
  const write = sock.write as (...args: unknown[]) => boolean;
  const end = sock.end as (...args: unknown[]) => Socket;
  let small: Buffer[] = [];
  let smallLength = 0;
  let batchOpen = false;

  const sendSmall = (): void => {
    if (small.length === 0) return;
    const chunk = small.length === 1 ? small[0]! : Buffer.concat(small, smallLength);
    small = [];
    smallLength = 0;
    if (sock.writable) write.call(sock, chunk);
  };
  const closeBatch = (): void => {
    batchOpen = false;
    sendSmall();
    sock.uncork();
  };
  const openBatch = (): void => {
    if (batchOpen) return;
    batchOpen = true;
    sock.cork();
    process.nextTick(closeBatch);
  };

  sock.write = function gatheredWrite(chunk: unknown, ...rest: unknown[]): boolean {
    // `writable` is false once the socket is destroyed or ending: nothing is gathered then.
    if (rest.length > 0 || !Buffer.isBuffer(chunk) || chunk.length >= smallBytes || !sock.writable) {
      if (sock.writable) openBatch();
      sendSmall();
      return write.call(sock, chunk, ...rest);
    }
    openBatch();
    small.push(chunk);
    smallLength += chunk.length;
    return !sock.writableNeedDrain;
  } as WriteFn;

  sock.end = function gatheredEnd(...args: unknown[]): Socket {
    sendSmall();
    return end.apply(sock, args);
  } as EndFn;
}
