// SFTP v3 file attributes (draft-ietf-secsh-filexfer-02 §5).
import { AttrFlags } from './constants.js';
import { Reader, Writer, stringSize } from './wire.js';

/**
 * Attributes as they travel in v3. Absent fields are not on the wire. `atime` and `mtime` share
 * one flag (ACMODTIME) and so do `uid` and `gid` (UIDGID): the decoder sets both of a pair.
 */
export interface SftpAttrs {
  size?: number;
  uid?: number;
  gid?: number;
  permissions?: number;
  atime?: number;
  mtime?: number;
  extended?: [string, Buffer][];
}

function flagsOf(a: SftpAttrs): number {
  let flags = 0;
  if (a.size !== undefined) flags |= AttrFlags.SIZE;
  if (a.uid !== undefined || a.gid !== undefined) flags |= AttrFlags.UIDGID;
  if (a.permissions !== undefined) flags |= AttrFlags.PERMISSIONS;
  if (a.atime !== undefined || a.mtime !== undefined) flags |= AttrFlags.ACMODTIME;
  if (a.extended !== undefined) flags |= AttrFlags.EXTENDED;
  // `>>> 0` because EXTENDED is the sign bit in 32-bit arithmetic.
  return flags >>> 0;
}

/** Encoded size of `attrs` in bytes. */
export function attrsSize(a: SftpAttrs): number {
  let n = 4;
  if (a.size !== undefined) n += 8;
  if (a.uid !== undefined || a.gid !== undefined) n += 8;
  if (a.permissions !== undefined) n += 4;
  if (a.atime !== undefined || a.mtime !== undefined) n += 8;
  if (a.extended !== undefined) {
    n += 4;
    for (const [name, data] of a.extended) n += 4 + Buffer.byteLength(name, 'utf8') + stringSize(data);
  }
  return n;
}

//   uint32   flags
//   uint64   size           present only if flag SIZE
//   uint32   uid            present only if flag UIDGID
//   uint32   gid            present only if flag UIDGID
//   uint32   permissions    present only if flag PERMISSIONS
//   uint32   atime          present only if flag ACMODTIME
//   uint32   mtime          present only if flag ACMODTIME
//   uint32   extended_count present only if flag EXTENDED
//   string   extended_type  } extended_count times
//   string   extended_data  }
/**
 * Writes `attrs` into `w`. Half a pair is completed rather than refused: a missing uid/gid is
 * written as 0, a missing atime as mtime and vice versa (Tahoe shows one time for both).
 * Values outside uint32 (or a size outside 0..2^53-1) throw RangeError: a caller bug.
 */
export function writeAttrs(w: Writer, a: SftpAttrs): void {
  w.u32(flagsOf(a));
  if (a.size !== undefined) w.u64(a.size);
  if (a.uid !== undefined || a.gid !== undefined) w.u32(a.uid ?? 0).u32(a.gid ?? 0);
  if (a.permissions !== undefined) w.u32(a.permissions);
  if (a.atime !== undefined || a.mtime !== undefined) {
    w.u32((a.atime ?? a.mtime)!).u32((a.mtime ?? a.atime)!);
  }
  if (a.extended !== undefined) {
    w.u32(a.extended.length);
    for (const [name, data] of a.extended) w.string(Buffer.from(name, 'utf8')).string(data);
  }
}

/** Encodes `attrs` on its own (e.g. inside an extension payload). */
export function encodeAttrs(a: SftpAttrs): Buffer {
  const w = new Writer(attrsSize(a));
  writeAttrs(w, a);
  return w.finish();
}

/**
 * Reads attrs (layout above). Throws WireError on truncation or a size above 2^53-1; the
 * request decoder turns that into a bad-message result. Extension names are decoded as UTF-8;
 * their data stays raw and is a view into the packet.
 */
export function readAttrs(r: Reader): SftpAttrs {
  const flags = r.u32();
  const a: SftpAttrs = {};
  if (flags & AttrFlags.SIZE) a.size = r.u64();
  if (flags & AttrFlags.UIDGID) {
    a.uid = r.u32();
    a.gid = r.u32();
  }
  if (flags & AttrFlags.PERMISSIONS) a.permissions = r.u32();
  if (flags & AttrFlags.ACMODTIME) {
    a.atime = r.u32();
    a.mtime = r.u32();
  }
  if (flags & AttrFlags.EXTENDED) {
    const count = r.u32();
    const ext: [string, Buffer][] = [];
    // A hostile count costs nothing: each pair needs at least 8 bytes, so the loop stops at the
    // first short read.
    for (let i = 0; i < count; i++) ext.push([r.text(), r.string()]);
    a.extended = ext;
  }
  return a;
}
