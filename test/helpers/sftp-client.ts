// A raw SFTP test client over any byte stream (an in-memory pair, an ssh2 channel, a child's
// stdio): sends requests built with the codec's client encoders, matches replies by id, and
// records every reply so tests can check that each id is answered exactly once.
import { readFileSync } from 'node:fs';
import { Duplex } from 'node:stream';
import ssh2 from 'ssh2';
import {
  decodeReply, encodeRequest, OpenFlags, SftpFramer, StatusCode, type IdRequest, type SftpAttrs, type SftpReply,
} from '../../src/sftp/index.js';

type DistributiveOmit<T, K extends keyof T> = T extends unknown ? Omit<T, K> : never;
export type RequestWithoutId = DistributiveOmit<IdRequest, 'id'>;

/**
 * Two connected streams: what one writes, the other reads. Destroying one destroys both.
 * `firstHighWaterMark`: the first end's write buffer size (ssh2's channels have 2 MiB).
 */
export function duplexPair(firstHighWaterMark = 16 * 1024): [Duplex, Duplex] {
  const a = new PairEnd(firstHighWaterMark);
  const b = new PairEnd();
  a.peer = b;
  b.peer = a;
  return [a, b];
}

class PairEnd extends Duplex {
  peer!: PairEnd;
  /** Our write waiting for the peer's reader (backpressure). */
  waiting: (() => void) | undefined;

  // Node 20's default buffer size, pinned: Node 22 raised the default to 64 KiB, which moves
  // the point where backpressure starts that tests count on.
  constructor(highWaterMark = 16 * 1024) {
    super({ allowHalfOpen: true, highWaterMark });
  }

  override _read(): void {
    const w = this.peer.waiting;
    this.peer.waiting = undefined;
    w?.();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    if (this.peer.destroyed) return cb();
    if (this.peer.push(chunk)) cb();
    else this.waiting = () => cb();
  }

  override _final(cb: (err?: Error | null) => void): void {
    if (!this.peer.destroyed) this.peer.push(null);
    cb();
  }

  override _destroy(err: Error | null, cb: (err: Error | null) => void): void {
    this.waiting?.();
    this.waiting = undefined;
    if (!this.peer.destroyed) this.peer.destroy();
    cb(err);
  }
}

export class SftpStatusError extends Error {
  constructor(readonly code: number, message: string) {
    super(`SFTP status ${code}: ${message}`);
  }
}

export interface StatusReply {
  type: 'status';
  id: number;
  code: number;
  message: string;
}

export class SftpTestClient {
  /** Every reply received, unless `recordReplies` is false (big transfers). */
  readonly replies: SftpReply[] = [];
  recordReplies = true;
  /** How many replies each id got. */
  readonly answered = new Map<number, number>();
  /** Replies the client could not decode (server bugs). */
  readonly garbage: string[] = [];
  version: Extract<SftpReply, { type: 'version' }> | undefined;
  /** Resolves when the server ends its side of the stream (or it closes). */
  readonly ended: Promise<void>;
  private readonly framer = new SftpFramer({ maxBuffered: 1 << 30 });
  private readonly waiters = new Map<number, (r: SftpReply) => void>();
  private versionWaiter: ((r: SftpReply) => void) | undefined;
  private nextId = 1;

  constructor(readonly stream: Duplex) {
    stream.on('data', (chunk: Buffer) => this.onData(chunk));
    this.ended = new Promise((resolve) => {
      stream.on('end', () => resolve());
      stream.on('close', () => resolve());
    });
    stream.on('error', () => {});
  }

  private onData(chunk: Buffer): void {
    this.framer.push(chunk);
    for (;;) {
      const r = this.framer.next();
      if (r.kind !== 'packet') {
        if (r.kind === 'fatal') this.garbage.push(r.reason);
        return;
      }
      const d = decodeReply(Buffer.from(r.payload));
      if (d.kind === 'error') {
        this.garbage.push(d.reason);
        continue;
      }
      const reply = d.reply;
      if (this.recordReplies) this.replies.push(reply);
      if (reply.type === 'version') {
        this.version = reply;
        this.versionWaiter?.(reply);
        this.versionWaiter = undefined;
        continue;
      }
      this.answered.set(reply.id, (this.answered.get(reply.id) ?? 0) + 1);
      const w = this.waiters.get(reply.id);
      if (w) {
        this.waiters.delete(reply.id);
        w(reply);
      }
    }
  }

  sendRaw(bytes: Buffer): void {
    this.stream.write(bytes);
  }

  async init(): Promise<Extract<SftpReply, { type: 'version' }>> {
    const p = new Promise<SftpReply>((resolve) => (this.versionWaiter = resolve));
    this.sendRaw(encodeRequest({ type: 'init', version: 3, extensions: [] }));
    return (await p) as Extract<SftpReply, { type: 'version' }>;
  }

  allocId(): number {
    return this.nextId++;
  }

  /** Resolves with the reply to `id` (which the caller sends itself). */
  replyTo(id: number): Promise<SftpReply> {
    return new Promise((resolve) => this.waiters.set(id, resolve));
  }

  /** Sends a request and resolves with its reply. */
  call(req: RequestWithoutId): Promise<SftpReply> {
    const id = this.allocId();
    const p = this.replyTo(id);
    this.sendRaw(encodeRequest({ ...req, id } as IdRequest));
    return p;
  }

  /** A request whose reply must be STATUS; resolves with its code. */
  async status(req: RequestWithoutId): Promise<number> {
    const r = await this.call(req);
    if (r.type !== 'status') throw new Error(`expected STATUS, got ${r.type}`);
    return r.code;
  }

  // Convenience wrappers: resolve with the useful value, reject with SftpStatusError.

  private static expect<T extends SftpReply['type']>(r: SftpReply, type: T): Extract<SftpReply, { type: T }> {
    if (r.type === type) return r as Extract<SftpReply, { type: T }>;
    if (r.type === 'status') throw new SftpStatusError(r.code, r.message);
    throw new Error(`expected ${type}, got ${r.type}`);
  }

  async open(path: string | Buffer, pflags: number, attrs: SftpAttrs = {}): Promise<Buffer> {
    const r = await this.call({ type: 'open', path: bytes(path), pflags, attrs });
    return SftpTestClient.expect(r, 'handle').handle;
  }

  async opendir(path: string | Buffer): Promise<Buffer> {
    return SftpTestClient.expect(await this.call({ type: 'opendir', path: bytes(path) }), 'handle').handle;
  }

  async read(handle: Buffer, offset: number, length: number): Promise<Buffer> {
    return SftpTestClient.expect(await this.call({ type: 'read', handle, offset, length }), 'data').data;
  }

  async write(handle: Buffer, offset: number, data: Buffer | string): Promise<void> {
    await this.ok({ type: 'write', handle, offset, data: bytes(data) });
  }

  async close(handle: Buffer): Promise<void> {
    await this.ok({ type: 'close', handle });
  }

  async stat(path: string | Buffer): Promise<SftpAttrs> {
    return SftpTestClient.expect(await this.call({ type: 'stat', path: bytes(path) }), 'attrs').attrs;
  }

  async fstat(handle: Buffer): Promise<SftpAttrs> {
    return SftpTestClient.expect(await this.call({ type: 'fstat', handle }), 'attrs').attrs;
  }

  async realpath(path: string | Buffer): Promise<string> {
    const r = SftpTestClient.expect(await this.call({ type: 'realpath', path: bytes(path) }), 'name');
    return r.entries[0]!.filename.toString('utf8');
  }

  /** Every entry of a directory: READDIR until EOF. */
  async list(path: string | Buffer): Promise<{ name: string; longname: string; attrs: SftpAttrs }[]> {
    const h = await this.opendir(path);
    const out: { name: string; longname: string; attrs: SftpAttrs }[] = [];
    for (;;) {
      const r = await this.call({ type: 'readdir', handle: h });
      if (r.type === 'status' && r.code === StatusCode.EOF) break;
      for (const e of SftpTestClient.expect(r, 'name').entries) {
        out.push({ name: e.filename.toString('utf8'), longname: e.longname.toString('utf8'), attrs: e.attrs });
      }
    }
    await this.close(h);
    return out;
  }

  /** The whole content of a file, read in `chunk`-byte requests. */
  async readFile(path: string | Buffer, chunk = 32768): Promise<Buffer> {
    const h = await this.open(path, OpenFlags.READ);
    const parts: Buffer[] = [];
    for (let off = 0; ; ) {
      const r = await this.call({ type: 'read', handle: h, offset: off, length: chunk });
      if (r.type === 'status' && r.code === StatusCode.EOF) break;
      const d = SftpTestClient.expect(r, 'data').data;
      parts.push(d);
      off += d.length;
    }
    await this.close(h);
    return Buffer.concat(parts);
  }

  async writeFile(path: string | Buffer, data: Buffer | string, pflags = OpenFlags.WRITE | OpenFlags.CREAT | OpenFlags.TRUNC): Promise<void> {
    const h = await this.open(path, pflags);
    const buf = bytes(data);
    const writes: Promise<void>[] = [];
    for (let off = 0; off < buf.length; off += 32768) writes.push(this.write(h, off, buf.subarray(off, off + 32768)));
    await Promise.all(writes);
    await this.close(h);
  }

  /** A request that must succeed with STATUS OK. */
  async ok(req: RequestWithoutId): Promise<void> {
    const r = await this.call(req);
    if (r.type !== 'status') throw new Error(`expected STATUS, got ${r.type}`);
    if (r.code !== StatusCode.OK) throw new SftpStatusError(r.code, r.message);
  }

  /** Ends our side; resolves when the server has ended its side. */
  async end(): Promise<void> {
    this.stream.end();
    await this.ended;
  }
}

export function bytes(v: string | Buffer): Buffer {
  return typeof v === 'string' ? Buffer.from(v, 'utf8') : v;
}

/**
 * An SFTP session of a server's key user over a real ssh2 connection, driven by the raw client
 * (requests one by one). The caller ends `client`.
 */
export async function keyUserSftpSession(server: { sftpPort: number; keyUser: string; keyFile: string }): Promise<{ client: ssh2.Client; c: SftpTestClient }> {
  const client = new ssh2.Client();
  await new Promise<void>((resolve, reject) => {
    client.once('ready', () => resolve()).once('error', reject);
    client.connect({ host: '127.0.0.1', port: server.sftpPort, username: server.keyUser, privateKey: readFileSync(server.keyFile) });
  });
  const c = await new Promise<SftpTestClient>((resolve, reject) => {
    client.subsys('sftp', (err, stream) => {
      if (err) return reject(err);
      const t = new SftpTestClient(stream as unknown as Duplex);
      t.init().then(() => resolve(t), reject);
    });
  }).catch((err: unknown) => {
    client.end();
    throw err;
  });
  return { client, c };
}
