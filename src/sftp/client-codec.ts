// Client side of the codec: request encoders and reply decoders, the mirror image of
// requests.ts and replies.ts. The server never uses this module. It exists for our own tests
// (round trips, fuzzing), benches, and raw test clients that send hand-made or malformed packets
// to the real server, so it lives in src/ where all of them can import it.
//
// It is written independently of the server encoders (field lists concatenated, not size-first)
// so a round trip through both sides checks one against the other. Only ATTRS is shared.
import { encodeAttrs, readAttrs, type SftpAttrs } from './attrs.js';
import { PacketType } from './constants.js';
import { ExtensionName } from './extensions.js';
import type { SftpRequest } from './requests.js';
import { Reader, WireError, stringBytes, u32Bytes, u64Bytes } from './wire.js';

export { stringBytes, u32Bytes, u64Bytes } from './wire.js';

/**
 * A packet with any type and body, length prefix included. No checks at all, so tests can build
 * truncated, oversized or otherwise malformed packets from the field builders.
 */
export function encodePacket(type: number, ...body: Uint8Array[]): Buffer {
  const bodyLen = body.reduce((n, b) => n + b.length, 0);
  return Buffer.concat([u32Bytes(1 + bodyLen), Buffer.of(type), ...body]);
}

const PATH_PACKET_TYPES = {
  lstat: PacketType.LSTAT,
  stat: PacketType.STAT,
  opendir: PacketType.OPENDIR,
  remove: PacketType.REMOVE,
  rmdir: PacketType.RMDIR,
  realpath: PacketType.REALPATH,
  readlink: PacketType.READLINK,
} as const;

/** Encodes any request, length prefix included; the inverse of decodeRequest. */
export function encodeRequest(req: SftpRequest): Buffer {
  const s = stringBytes;
  const ext = (id: number, name: string, ...data: Uint8Array[]): Buffer =>
    encodePacket(PacketType.EXTENDED, u32Bytes(id), s(name), ...data);
  switch (req.type) {
    case 'init':
      return encodePacket(
        PacketType.INIT,
        u32Bytes(req.version),
        ...req.extensions.flatMap(([n, d]) => [s(n), s(d)]),
      );
    case 'open':
      return encodePacket(PacketType.OPEN, u32Bytes(req.id), s(req.path), u32Bytes(req.pflags), encodeAttrs(req.attrs));
    case 'close':
      return encodePacket(PacketType.CLOSE, u32Bytes(req.id), s(req.handle));
    case 'read':
      return encodePacket(PacketType.READ, u32Bytes(req.id), s(req.handle), u64Bytes(req.offset), u32Bytes(req.length));
    case 'write':
      return encodePacket(PacketType.WRITE, u32Bytes(req.id), s(req.handle), u64Bytes(req.offset), s(req.data));
    case 'lstat':
    case 'stat':
    case 'opendir':
    case 'remove':
    case 'rmdir':
    case 'realpath':
    case 'readlink':
      return encodePacket(PATH_PACKET_TYPES[req.type], u32Bytes(req.id), s(req.path));
    case 'fstat':
      return encodePacket(PacketType.FSTAT, u32Bytes(req.id), s(req.handle));
    case 'readdir':
      return encodePacket(PacketType.READDIR, u32Bytes(req.id), s(req.handle));
    case 'setstat':
      return encodePacket(PacketType.SETSTAT, u32Bytes(req.id), s(req.path), encodeAttrs(req.attrs));
    case 'fsetstat':
      return encodePacket(PacketType.FSETSTAT, u32Bytes(req.id), s(req.handle), encodeAttrs(req.attrs));
    case 'mkdir':
      return encodePacket(PacketType.MKDIR, u32Bytes(req.id), s(req.path), encodeAttrs(req.attrs));
    case 'rename':
      return encodePacket(PacketType.RENAME, u32Bytes(req.id), s(req.oldPath), s(req.newPath));
    case 'symlink':
      return encodePacket(PacketType.SYMLINK, u32Bytes(req.id), s(req.targetPath), s(req.linkPath));
    case 'posix-rename':
      return ext(req.id, ExtensionName.POSIX_RENAME, s(req.oldPath), s(req.newPath));
    case 'hardlink':
      return ext(req.id, ExtensionName.HARDLINK, s(req.oldPath), s(req.newPath));
    case 'statvfs':
      return ext(req.id, ExtensionName.STATVFS, s(req.path));
    case 'fstatvfs':
      return ext(req.id, ExtensionName.FSTATVFS, s(req.handle));
    case 'fsync':
      return ext(req.id, ExtensionName.FSYNC, s(req.handle));
    case 'limits':
      return ext(req.id, ExtensionName.LIMITS);
    case 'copy-data':
      return ext(
        req.id,
        ExtensionName.COPY_DATA,
        s(req.readHandle),
        u64Bytes(req.readOffset),
        u64Bytes(req.readLength),
        s(req.writeHandle),
        u64Bytes(req.writeOffset),
      );
    case 'home-directory':
      return ext(req.id, ExtensionName.HOME_DIRECTORY, s(req.username));
    case 'expand-path':
      return ext(req.id, ExtensionName.EXPAND_PATH, s(req.path));
    case 'extended-unknown':
      return ext(req.id, req.name, req.data);
  }
}

export interface DecodedNameEntry {
  filename: Buffer;
  longname: Buffer;
  attrs: SftpAttrs;
}

export type SftpReply =
  | { type: 'version'; version: number; extensions: [string, Buffer][] }
  | { type: 'status'; id: number; code: number; message: string; language: string }
  | { type: 'handle'; id: number; handle: Buffer }
  | { type: 'data'; id: number; data: Buffer }
  | { type: 'name'; id: number; entries: DecodedNameEntry[] }
  | { type: 'attrs'; id: number; attrs: SftpAttrs }
  /** `data` is extension-specific: see decodeStatvfsData and decodeLimitsData. */
  | { type: 'extended-reply'; id: number; data: Buffer };

export type ReplyDecodeResult =
  | { kind: 'reply'; reply: SftpReply }
  | { kind: 'error'; packetType: number | undefined; reason: string };

/**
 * Decodes one server packet payload (type byte first, no length prefix). Strict: truncation or
 * trailing bytes are errors, since this decoder exists to catch server bugs. Never throws.
 */
export function decodeReply(payload: Buffer): ReplyDecodeResult {
  if (payload.length === 0) return { kind: 'error', packetType: undefined, reason: 'empty packet' };
  const type = payload[0]!;
  const r = new Reader(payload, 1);
  try {
    const reply = decodeReplyFields(type, r);
    if (reply === undefined) return { kind: 'error', packetType: type, reason: `unknown packet type ${type}` };
    r.end();
    return { kind: 'reply', reply };
  } catch (err) {
    if (!(err instanceof WireError)) throw err;
    return { kind: 'error', packetType: type, reason: err.message };
  }
}

function decodeReplyFields(type: number, r: Reader): SftpReply | undefined {
  switch (type) {
    //   uint32 version, (string name, string data)*
    case PacketType.VERSION: {
      const version = r.u32();
      const extensions: [string, Buffer][] = [];
      while (r.remaining > 0) extensions.push([r.text(), r.string()]);
      return { type: 'version', version, extensions };
    }
    //   uint32 id, uint32 code, string message, string language
    case PacketType.STATUS: {
      const id = r.u32();
      const code = r.u32();
      const message = r.text();
      return { type: 'status', id, code, message, language: r.text() };
    }
    //   uint32 id, string handle
    case PacketType.HANDLE: {
      const id = r.u32();
      return { type: 'handle', id, handle: r.string() };
    }
    //   uint32 id, string data
    case PacketType.DATA: {
      const id = r.u32();
      return { type: 'data', id, data: r.string() };
    }
    //   uint32 id, uint32 count, count × (string filename, string longname, ATTRS attrs)
    case PacketType.NAME: {
      const id = r.u32();
      const count = r.u32();
      const entries: DecodedNameEntry[] = [];
      for (let i = 0; i < count; i++) {
        const filename = r.string();
        const longname = r.string();
        entries.push({ filename, longname, attrs: readAttrs(r) });
      }
      return { type: 'name', id, entries };
    }
    //   uint32 id, ATTRS attrs
    case PacketType.ATTRS: {
      const id = r.u32();
      return { type: 'attrs', id, attrs: readAttrs(r) };
    }
    //   uint32 id, extension-specific data
    case PacketType.EXTENDED_REPLY: {
      const id = r.u32();
      return { type: 'extended-reply', id, data: r.rest() };
    }
    default:
      return undefined;
  }
}

export interface DecodedStatvfs {
  bsize: bigint;
  frsize: bigint;
  blocks: bigint;
  bfree: bigint;
  bavail: bigint;
  files: bigint;
  ffree: bigint;
  favail: bigint;
  fsid: bigint;
  flag: bigint;
  namemax: bigint;
}

/** Decodes the statvfs EXTENDED_REPLY data (exactly 88 bytes), or undefined. */
export function decodeStatvfsData(data: Buffer): DecodedStatvfs | undefined {
  if (data.length !== 88) return undefined;
  const r = new Reader(data);
  return {
    bsize: r.u64big(),
    frsize: r.u64big(),
    blocks: r.u64big(),
    bfree: r.u64big(),
    bavail: r.u64big(),
    files: r.u64big(),
    ffree: r.u64big(),
    favail: r.u64big(),
    fsid: r.u64big(),
    flag: r.u64big(),
    namemax: r.u64big(),
  };
}

export interface DecodedLimits {
  maxPacketLength: bigint;
  maxReadLength: bigint;
  maxWriteLength: bigint;
  maxOpenHandles: bigint;
}

/** Decodes the limits@openssh.com EXTENDED_REPLY data (exactly 32 bytes), or undefined. */
export function decodeLimitsData(data: Buffer): DecodedLimits | undefined {
  if (data.length !== 32) return undefined;
  const r = new Reader(data);
  return {
    maxPacketLength: r.u64big(),
    maxReadLength: r.u64big(),
    maxWriteLength: r.u64big(),
    maxOpenHandles: r.u64big(),
  };
}
