// TYPE A (RFC 959 §3.1.1.1): the data connection carries NVT-ASCII, whose end of line is CRLF,
// and files here end lines with LF. Downloads turn every LF into CRLF; uploads turn every CRLF
// into LF. Those two are exact inverses, so any file survives a TYPE A round trip byte for byte
// (a CR already in front of an LF goes out as CR CR LF and comes back as CR LF). TYPE I, the
// default here, sends bytes unchanged.

const CR = 0x0d;
const LF = 0x0a;

/** LF → CRLF (downloads). Stateless. */
export function toCrlf(data: Buffer): Buffer {
  let lfs = 0;
  for (let i = data.indexOf(LF); i >= 0; i = data.indexOf(LF, i + 1)) lfs++;
  if (lfs === 0) return data;
  const out = Buffer.allocUnsafe(data.length + lfs);
  let o = 0;
  let from = 0;
  for (let i = data.indexOf(LF); i >= 0; i = data.indexOf(LF, i + 1)) {
    o += data.copy(out, o, from, i);
    out[o++] = CR;
    out[o++] = LF;
    from = i + 1;
  }
  data.copy(out, o, from);
  return out;
}

/** CRLF → LF (uploads). Keeps a CR at the end of a chunk until it sees what follows. */
export class FromCrlf {
  private heldCr = false;

  push(chunk: Buffer): Buffer {
    const data = this.heldCr ? Buffer.concat([Buffer.from([CR]), chunk]) : chunk;
    this.heldCr = data.length > 0 && data[data.length - 1] === CR;
    const end = this.heldCr ? data.length - 1 : data.length;
    const out = Buffer.allocUnsafe(end);
    let o = 0;
    let from = 0;
    for (let i = data.indexOf(CR); i >= 0 && i < end; i = data.indexOf(CR, i + 1)) {
      if (data[i + 1] !== LF) continue;
      o += data.copy(out, o, from, i); // drop this CR
      from = i + 1;
    }
    o += data.copy(out, o, from, end);
    return out.subarray(0, o);
  }

  /** The end of the upload: a CR still held is a plain CR. */
  flush(): Buffer {
    const out = this.heldCr ? Buffer.from([CR]) : Buffer.alloc(0);
    this.heldCr = false;
    return out;
  }
}
