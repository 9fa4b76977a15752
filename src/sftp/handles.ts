// The session's open handles: opaque random 16-byte strings mapped to an open file or a
// directory snapshot. Random (not counters) so a client cannot guess another handle of its own
// session by arithmetic, and a handle reused after close is never valid again.
import { randomBytesPooled } from '../util/random.js';
import type { ListEntry, VfsFile, VPath } from '../vfs/index.js';
import { ReplySequence } from './reply-order.js';

export const HANDLE_LENGTH = 16;

interface Busy {
  /** Requests on this handle that have been dispatched and not answered yet. */
  inFlight: number;
  /** Resolvers waiting for inFlight to reach 0 (a CLOSE waits for the reads before it). */
  idleWaiters: (() => void)[];
  /** Replies of this handle's requests leave in arrival order (reply-order.ts). */
  replies: ReplySequence;
}

export interface FileHandle extends Busy {
  kind: 'file';
  file: VfsFile;
  /** The path it was opened at (requests on it are ordered with path requests; ordering.ts). */
  path: VPath;
}

export interface DirHandle extends Busy {
  kind: 'dir';
  path: VPath;
  /** The listing taken at OPENDIR; READDIR hands it out from `next` on. */
  entries: ListEntry[];
  next: number;
  /** Gives the listing's entries back to the session's bound (listing-budget.ts) at CLOSE. */
  release: () => void;
}

export type SftpHandle = FileHandle | DirHandle;

export class HandleTable {
  private readonly map = new Map<string, SftpHandle>();

  constructor(readonly max: number) {}

  get size(): number {
    return this.map.size;
  }

  get full(): boolean {
    return this.map.size >= this.max;
  }

  /** Registers `h` and returns its wire handle. The caller checked `full`. */
  add(h: Omit<FileHandle, keyof Busy> | Omit<DirHandle, keyof Busy>): Buffer {
    let id: Buffer;
    do id = randomBytesPooled(HANDLE_LENGTH);
    while (this.map.has(id.toString('hex')));
    this.map.set(id.toString('hex'), { ...h, inFlight: 0, idleWaiters: [], replies: new ReplySequence() } as SftpHandle);
    return id;
  }

  get(wire: Buffer): SftpHandle | undefined {
    if (wire.length !== HANDLE_LENGTH) return undefined;
    return this.map.get(wire.toString('hex'));
  }

  /** Removes and returns the handle (CLOSE): later requests with it are "invalid handle". */
  take(wire: Buffer): SftpHandle | undefined {
    const h = this.get(wire);
    if (h) this.map.delete(wire.toString('hex'));
    return h;
  }

  /** Removes every handle (session end); the vfs closes the files themselves. */
  clear(): void {
    this.map.clear();
  }
}

/** Runs `fn` counted as in flight on `h`, so idle(h) can wait for it. */
export function track<T>(h: SftpHandle, p: Promise<T>): Promise<T> {
  h.inFlight++;
  const done = () => {
    if (--h.inFlight === 0) for (const w of h.idleWaiters.splice(0)) w();
  };
  p.then(done, done);
  return p;
}

/** Resolves once no request on `h` is in flight. */
export function idle(h: SftpHandle): Promise<void> {
  if (h.inFlight === 0) return Promise.resolve();
  return new Promise((resolve) => h.idleWaiters.push(resolve));
}
