// stdin and stdout as one Duplex, for an SFTP session without an SSH layer (OpenSSH
// `Subsystem sftp …` and `sftp -D`). Our own non-blocking sockets on fds 0 and 1, because
// process.stdout blocks on Linux pipes; writes go straight to the output socket so corking it
// coalesces replies.
import { Socket } from 'node:net';
import { Duplex } from 'node:stream';

export class StdioStream extends Duplex {
  constructor(
    private readonly input: Socket,
    readonly output: Socket,
  ) {
    super({ allowHalfOpen: true });
    input.on('data', (chunk: Buffer) => {
      if (!this.push(chunk)) input.pause();
    });
    input.on('end', () => this.push(null));
    input.on('error', (err) => this.destroy(err));
    output.on('error', (err) => this.destroy(err));
  }

  /** The process's own stdin and stdout. */
  static ofProcess(): StdioStream {
    return new StdioStream(new Socket({ fd: 0, readable: true, writable: false }), new Socket({ fd: 1, readable: false, writable: true }));
  }

  override _read(): void {
    this.input.resume();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    if (this.output.write(chunk)) cb();
    else this.output.once('drain', () => cb());
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.output.end(cb);
  }
}
