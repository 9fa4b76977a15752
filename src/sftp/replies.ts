// Server side: encoders for every packet the server sends. Each returns the complete packet,
// uint32 length prefix included, ready to write to the channel. A packet whose payload would
// exceed MAX_PACKET throws RangeError (a caller bug: the OpenSSH client would kill the session),
// except STATUS, whose message is shortened instead so error paths cannot fail.
import { attrsSize, writeAttrs, type SftpAttrs } from './attrs.js';
import { MAX_PACKET, PacketType, SFTP_VERSION } from './constants.js';
import { Writer, stringSize } from './wire.js';

/** Starts a packet of `1 + bodySize` payload bytes: writes the length and the type byte. */
function begin(type: number, bodySize: number): Writer {
  const payload = 1 + bodySize;
  if (payload > MAX_PACKET) {
    throw new RangeError(`SFTP packet type ${type} of ${payload} bytes exceeds ${MAX_PACKET}`);
  }
  return new Writer(4 + payload).u32(payload).u8(type);
}

function bytesOf(v: string | Uint8Array): Uint8Array {
  return typeof v === 'string' ? Buffer.from(v, 'utf8') : v;
}

//   uint32 length, byte SSH_FXP_VERSION, uint32 version,
//   (string extension-name, string extension-data)*
/** VERSION with our extension list, e.g. [['posix-rename@openssh.com', '1'], …]. */
export function encodeVersion(
  extensions: readonly (readonly [string, string | Uint8Array])[] = [],
  version: number = SFTP_VERSION,
): Buffer {
  const pairs = extensions.map(([n, d]) => [bytesOf(n), bytesOf(d)] as const);
  let size = 4;
  for (const [n, d] of pairs) size += stringSize(n) + stringSize(d);
  const w = begin(PacketType.VERSION, size).u32(version);
  for (const [n, d] of pairs) w.string(n).string(d);
  return w.finish();
}

//   uint32 length, byte SSH_FXP_STATUS, uint32 id, uint32 error/status code,
//   string error message (ISO-10646 UTF-8), string language tag
/**
 * STATUS. A message too long for one packet is cut at a UTF-8 character boundary (the session
 * may echo client-supplied names, and an error reply must never fail to encode).
 */
export function encodeStatus(id: number, code: number, message = '', language = ''): Buffer {
  const lang = Buffer.from(language, 'utf8');
  let msg = Buffer.from(message, 'utf8');
  const room = MAX_PACKET - (1 + 4 + 4 + 4 + stringSize(lang));
  if (msg.length > room) {
    let end = Math.max(room, 0);
    while (end > 0 && (msg[end]! & 0xc0) === 0x80) end--; // don't split a multi-byte character
    msg = msg.subarray(0, end);
  }
  return begin(PacketType.STATUS, 4 + 4 + stringSize(msg) + stringSize(lang))
    .u32(id)
    .u32(code)
    .string(msg)
    .string(lang)
    .finish();
}

//   uint32 length, byte SSH_FXP_HANDLE, uint32 id, string handle
export function encodeHandle(id: number, handle: Uint8Array): Buffer {
  return begin(PacketType.HANDLE, 4 + stringSize(handle)).u32(id).string(handle).finish();
}

//   uint32 length, byte SSH_FXP_DATA, uint32 id, string data
/** Size of a DATA packet's header: length, type, id, data length. */
export const DATA_HEADER_SIZE = 13;

/** The 13 bytes that precede `length` bytes of data in a DATA packet. */
export function encodeDataHeader(id: number, length: number): Buffer {
  const payload = 1 + 4 + 4 + length;
  if (payload > MAX_PACKET) {
    throw new RangeError(`SFTP DATA packet of ${payload} bytes exceeds ${MAX_PACKET}`);
  }
  return new Writer(DATA_HEADER_SIZE).u32(payload).u8(PacketType.DATA).u32(id).u32(length).finish();
}

/**
 * DATA without copying the payload: write `header` then `data` to the channel (two writes, or
 * one writev). This is the form for READ replies: a 255 KiB payload is never duplicated. Under
 * a corked socket the two writes coalesce. `data` must not change until it has been written.
 */
export function encodeDataParts(id: number, data: Uint8Array): [header: Buffer, data: Uint8Array] {
  return [encodeDataHeader(id, data.length), data];
}

/** DATA as one buffer (copies `data`); for small payloads and tests. */
export function encodeData(id: number, data: Uint8Array): Buffer {
  const header = encodeDataHeader(id, data.length);
  const out = Buffer.allocUnsafe(header.length + data.length);
  header.copy(out, 0);
  out.set(data, header.length);
  return out;
}

/** One NAME entry. For REALPATH-style replies, longname is empty and attrs is {}. */
export interface NameEntry {
  filename: Uint8Array;
  longname: Uint8Array;
  attrs: SftpAttrs;
}

/** Encoded size of one NAME entry. */
export function nameEntrySize(e: NameEntry): number {
  return stringSize(e.filename) + stringSize(e.longname) + attrsSize(e.attrs);
}

const NAME_PAYLOAD_OVERHEAD = 1 + 4 + 4; // type, id, count

/**
 * How many entries from `entries[start]` on fit in one NAME packet whose payload is at most
 * `maxPacket` bytes. 0 means even the first one does not fit (or none are left). A READDIR
 * handler sends that many now and keeps the rest for the next READDIR.
 */
export function nameEntriesThatFit(
  entries: readonly NameEntry[],
  start = 0,
  maxPacket: number = MAX_PACKET,
): number {
  let size = NAME_PAYLOAD_OVERHEAD;
  let i = start;
  for (; i < entries.length; i++) {
    size += nameEntrySize(entries[i]!);
    if (size > maxPacket) break;
  }
  return i - start;
}

//   uint32 length, byte SSH_FXP_NAME, uint32 id, uint32 count,
//   repeated count times: string filename, string longname, ATTRS attrs
/** NAME. Throws RangeError if the entries do not fit one packet: split with nameEntriesThatFit. */
export function encodeName(id: number, entries: readonly NameEntry[]): Buffer {
  let size = 4 + 4;
  for (const e of entries) size += nameEntrySize(e);
  const w = begin(PacketType.NAME, size).u32(id).u32(entries.length);
  for (const e of entries) {
    w.string(e.filename).string(e.longname);
    writeAttrs(w, e.attrs);
  }
  return w.finish();
}

//   uint32 length, byte SSH_FXP_ATTRS, uint32 id, ATTRS attrs
export function encodeAttrsReply(id: number, attrs: SftpAttrs): Buffer {
  const w = begin(PacketType.ATTRS, 4 + attrsSize(attrs)).u32(id);
  writeAttrs(w, attrs);
  return w.finish();
}

//   uint32 length, byte SSH_FXP_EXTENDED_REPLY, uint32 id, ... extension-specific data
export function encodeExtendedReply(id: number, data: Uint8Array): Buffer {
  return begin(PacketType.EXTENDED_REPLY, 4 + data.length).u32(id).bytes(data).finish();
}

/** statvfs@openssh.com / fstatvfs@openssh.com reply fields (struct statvfs). */
export interface StatvfsInfo {
  bsize: number | bigint;
  frsize: number | bigint;
  blocks: number | bigint;
  bfree: number | bigint;
  bavail: number | bigint;
  files: number | bigint;
  ffree: number | bigint;
  favail: number | bigint;
  fsid: number | bigint;
  /** StatvfsFlags bits. */
  flag: number | bigint;
  namemax: number | bigint;
}

/** The order of the eleven uint64 fields on the wire (OpenSSH PROTOCOL §4.4). */
export const STATVFS_FIELDS = [
  'bsize', 'frsize', 'blocks', 'bfree', 'bavail', 'files', 'ffree', 'favail', 'fsid', 'flag', 'namemax',
] as const satisfies readonly (keyof StatvfsInfo)[];

//   uint64 f_bsize, f_frsize, f_blocks, f_bfree, f_bavail, f_files, f_ffree, f_favail,
//          f_fsid, f_flag, f_namemax
/** The 88-byte statvfs reply data. */
export function encodeStatvfsData(s: StatvfsInfo): Buffer {
  const w = new Writer(8 * STATVFS_FIELDS.length);
  for (const f of STATVFS_FIELDS) w.u64(s[f]);
  return w.finish();
}

export function encodeStatvfsReply(id: number, s: StatvfsInfo): Buffer {
  return encodeExtendedReply(id, encodeStatvfsData(s));
}

/** limits@openssh.com reply fields. 0 for max-open-handles means "no limit". */
export interface LimitsInfo {
  maxPacketLength: number | bigint;
  maxReadLength: number | bigint;
  maxWriteLength: number | bigint;
  maxOpenHandles: number | bigint;
}

//   uint64 max-packet-length, uint64 max-read-length, uint64 max-write-length,
//   uint64 max-open-handles
/** The 32-byte limits reply data. */
export function encodeLimitsData(l: LimitsInfo): Buffer {
  return new Writer(32)
    .u64(l.maxPacketLength)
    .u64(l.maxReadLength)
    .u64(l.maxWriteLength)
    .u64(l.maxOpenHandles)
    .finish();
}

export function encodeLimitsReply(id: number, l: LimitsInfo): Buffer {
  return encodeExtendedReply(id, encodeLimitsData(l));
}
