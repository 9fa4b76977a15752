// Acknowledges at once what was just read from a TCP socket, through the tiny addon in
// native/tcp-quickack that `npm install` builds (issue #11). A client that keeps Nagle's
// algorithm on (paramiko, Node's ssh2) sends the tail of an SFTP WRITE larger than its SSH
// packets only once the part before it is acknowledged, and Linux delays that acknowledgement by
// up to 40 ms when the server has nothing to send back yet: paramiko's sequential 32 KiB writes
// took 44 ms each (OpenSSH's sshd: 29 ms on average, 2 in 3 stalled), 0.9 ms with it.
import type { Socket } from 'node:net';
import { addonPath, loadOptionalAddon, loadedOnce } from './native-addon.js';

/** Where `npm install` builds the addon. */
export const TCP_QUICKACK_ADDON = addonPath('tcp-quickack', 'tcp_quickack');

/** The addon's call at `path`, or null where it was not built or does not load. */
export function loadQuickAck(path: string): ((fd: number) => boolean) | null {
  return loadOptionalAddon<{ quickAck: (fd: number) => boolean }>(path, 'TCP_QUICKACK addon', ['quickAck'])?.quickAck ?? null;
}

const quickAck = loadedOnce(() => loadQuickAck(TCP_QUICKACK_ADDON));

/** Whether the addon `npm install` builds loads; false where it does not (then ACKs go when the kernel decides). */
export function quickAckAvailable(): boolean {
  return quickAck() !== null;
}

/**
 * Sends now the acknowledgement due for what `socket` just read (1.6 µs a call here); true when
 * the option was set. A no-op without the addon, off Linux, or for a socket without a file
 * descriptor of its own.
 */
export function acknowledgeNow(socket: Socket): boolean {
  const set = quickAck();
  if (set === null) return false;
  const fd = (socket as unknown as { _handle?: { fd?: unknown } })._handle?.fd;
  return typeof fd === 'number' && fd >= 0 && set(fd);
}
