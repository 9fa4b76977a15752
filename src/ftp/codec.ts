// The control-connection line codec: bytes in, command lines out. Pure, no sockets, so it can
// be fuzzed by feeding bytes in any chunking.
//
// - A line ends at LF; one CR before it is dropped (RFC 959 says CRLF, some clients send LF).
// - A line longer than MAX_LINE bytes is an error the session answers with 500 and a close:
//   without the cap a client could grow our buffer forever (hardening.md §3d.6).
// - Telnet commands are removed (RFC 959 runs the control connection over Telnet): clients send
//   IAC IP IAC DM before ABOR, and the DM byte may have been taken out of the stream as urgent
//   data, leaving a lone IAC. IAC IAC is a literal 0xFF. UTF-8 text never contains 0xFF.
// - RFC 2640 §3.1: a CR inside a pathname is sent as CR NUL; we turn CR NUL back into CR. A NUL
//   on its own stands for LF (BSD ftpd's convention, mirrored by our replies), so every name the
//   vfs accepts can be typed. NUL itself is never a valid name character, so this is unambiguous.

/** Longest accepted command line in bytes, terminator included. */
export const MAX_LINE = 8192;

const LF = 0x0a;
const CR = 0x0d;
const NUL = 0x00;
const IAC = 0xff;
const WILL = 0xfb; // WILL, WONT, DO, DONT (0xfb-0xfe) carry an option byte
const SE = 0xf0; // 0xf0-0xfe: Telnet commands

export type LineResult = { line: Buffer } | 'overflow' | undefined;

/** Pull-based reader: the session takes one line at a time, so pipelined commands run in order. */
export class LineReader {
  private buf: Buffer = Buffer.alloc(0);

  constructor(private readonly maxLine = MAX_LINE) {}

  push(chunk: Buffer): void {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
  }

  /** Bytes received and not taken yet. */
  get buffered(): number {
    return this.buf.length;
  }

  /** The next complete line (decoded), 'overflow' when it is too long, undefined when none yet. */
  next(): LineResult {
    return this.take(true);
  }

  /** Like next() but leaves the line in place. */
  peek(): LineResult {
    return this.take(false);
  }

  /** Everything not taken yet, as raw bytes (AUTH TLS hands them to the TLS layer). */
  takeRest(): Buffer {
    const rest = this.buf;
    this.buf = Buffer.alloc(0);
    return rest;
  }

  private take(consume: boolean): LineResult {
    const limit = Math.min(this.buf.length, this.maxLine);
    const lf = this.buf.subarray(0, limit).indexOf(LF);
    if (lf < 0) return this.buf.length >= this.maxLine ? 'overflow' : undefined;
    const raw = this.buf.subarray(0, lf);
    if (consume) this.buf = this.buf.subarray(lf + 1);
    return { line: decodeLine(raw) };
  }
}

/** One raw line (without its LF) → the command bytes: CR dropped, Telnet removed, CR NUL → CR. */
export function decodeLine(raw: Buffer): Buffer {
  const end = raw.length > 0 && raw[raw.length - 1] === CR ? raw.length - 1 : raw.length;
  const out = Buffer.allocUnsafe(end);
  let n = 0;
  for (let i = 0; i < end; i++) {
    const b = raw[i]!;
    if (b === IAC) {
      const next = raw[i + 1];
      if (next === IAC && i + 1 < end) {
        out[n++] = IAC;
        i++;
      } else if (next !== undefined && next >= SE && i + 1 < end) {
        i += next >= WILL ? 2 : 1; // skip the command (and its option byte)
      }
      // A lone IAC (its command byte went out of band) is dropped by itself.
      continue;
    }
    if (b === CR && raw[i + 1] === NUL && i + 1 < end) {
      out[n++] = CR;
      i++;
      continue;
    }
    out[n++] = b === NUL ? LF : b;
  }
  return out.subarray(0, n);
}

export interface Command {
  /** Upper-case verb, e.g. `RETR`. Empty when the line holds no verb. */
  verb: string;
  /** Everything after the first space, as bytes (paths are decoded by the vfs, strictly). */
  arg: Buffer;
  /** True when the line had a space after the verb (an empty argument is still an argument). */
  hasArg: boolean;
}

/** Splits a decoded line into verb and argument. Leading blanks and non-ASCII bytes (Telnet leftovers) are skipped. */
export function parseCommand(line: Buffer): Command {
  let start = 0;
  while (start < line.length && (line[start]! <= 0x20 || line[start]! >= 0x7f)) start++;
  const space = line.indexOf(0x20, start);
  const verbEnd = space < 0 ? line.length : space;
  const verbBytes = line.subarray(start, verbEnd);
  // Verbs are 3-4 letters (RFC 959); allow up to 8 so unknown ones still get a tidy 502.
  const ok = verbBytes.length > 0 && verbBytes.length <= 8 && verbBytes.every((b) => isLetter(b));
  const verb = ok ? verbBytes.toString('latin1').toUpperCase() : '';
  return { verb, arg: space < 0 ? Buffer.alloc(0) : line.subarray(space + 1), hasArg: space >= 0 };
}

function isLetter(b: number): boolean {
  return (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a);
}
