// Server side: decodes one client packet payload (type byte first, as SftpFramer returns it)
// into a typed request. Layouts are from draft-ietf-secsh-filexfer-02 §3–§8; every request
// except INIT starts with `uint32 request-id` after the type byte.
import type { SftpAttrs } from './attrs.js';
import { readAttrs } from './attrs.js';
import { PacketType } from './constants.js';
import { decodeExtended, type ExtendedRequest } from './extensions.js';
import { Reader, WireError } from './wire.js';

export type { ExtendedRequest } from './extensions.js';

// Paths, names and handles stay raw bytes: UTF-8 checking and normalisation belong to the layer
// above, which must see invalid UTF-8 intact to answer it properly. All Buffers in a decoded
// request are views into the payload; copy any you keep after the request is answered if the
// payload's chunk should not stay alive.

export interface InitRequest {
  type: 'init';
  version: number;
  /** Extension pairs a client may append to INIT (OpenSSH sends none). */
  extensions: [string, Buffer][];
}
export interface OpenRequest { type: 'open'; id: number; path: Buffer; pflags: number; attrs: SftpAttrs }
export interface CloseRequest { type: 'close'; id: number; handle: Buffer }
/** `length` is the client's uint32 as sent: clamping to MAX_READ is the session's job. */
export interface ReadRequest { type: 'read'; id: number; handle: Buffer; offset: number; length: number }
/**
 * `data` may be followed by `more`: the rest of the data when the packet arrived in pieces
 * (SftpFramer), in order and uncopied. The data is `data` then every part of `more`.
 */
export interface WriteRequest { type: 'write'; id: number; handle: Buffer; offset: number; data: Buffer; more?: Buffer[] }
export interface PathRequest {
  type: 'lstat' | 'stat' | 'opendir' | 'remove' | 'rmdir' | 'realpath' | 'readlink';
  id: number;
  path: Buffer;
}
export interface HandleRequest { type: 'fstat' | 'readdir'; id: number; handle: Buffer }
export interface SetstatRequest { type: 'setstat'; id: number; path: Buffer; attrs: SftpAttrs }
export interface FsetstatRequest { type: 'fsetstat'; id: number; handle: Buffer; attrs: SftpAttrs }
export interface MkdirRequest { type: 'mkdir'; id: number; path: Buffer; attrs: SftpAttrs }
export interface RenameRequest { type: 'rename'; id: number; oldPath: Buffer; newPath: Buffer }
/**
 * Field names follow OpenSSH's wire order (target first, then the link), which reverses the
 * draft's order; OpenSSH's PROTOCOL §3.1 documents the swap and every deployed client follows it.
 */
export interface SymlinkRequest { type: 'symlink'; id: number; targetPath: Buffer; linkPath: Buffer }

/** Every request that carries a request id. */
export type IdRequest =
  | OpenRequest
  | CloseRequest
  | ReadRequest
  | WriteRequest
  | PathRequest
  | HandleRequest
  | SetstatRequest
  | FsetstatRequest
  | MkdirRequest
  | RenameRequest
  | SymlinkRequest
  | ExtendedRequest;

export type SftpRequest = InitRequest | IdRequest;
export type SftpRequestType = SftpRequest['type'];

export type DecodeResult =
  | { kind: 'request'; request: SftpRequest }
  /**
   * A known request type whose fields did not parse exactly (truncated, trailing bytes, a
   * uint64 above 2^53-1). Reply FX_BAD_MESSAGE to `id`. `extension` is set for EXTENDED requests
   * whose name was read.
   */
  | { kind: 'bad-message'; id: number; packetType: number; extension?: string; reason: string }
  /** A packet type we do not serve, with a readable id. Reply FX_OP_UNSUPPORTED to `id`. */
  | { kind: 'unsupported'; id: number; packetType: number }
  /**
   * No request id could be read (empty payload, fewer than 4 bytes after the type byte, or a
   * malformed INIT): there is nobody to reply to. The session disconnects.
   */
  | { kind: 'fatal'; packetType: number | undefined; reason: string };

const PATH_TYPES: Partial<Record<number, PathRequest['type']>> = {
  [PacketType.LSTAT]: 'lstat',
  [PacketType.STAT]: 'stat',
  [PacketType.OPENDIR]: 'opendir',
  [PacketType.REMOVE]: 'remove',
  [PacketType.RMDIR]: 'rmdir',
  [PacketType.REALPATH]: 'realpath',
  [PacketType.READLINK]: 'readlink',
};

/**
 * Decodes one packet payload. Never throws: every input gives a DecodeResult. `more` continues
 * the payload of a WRITE that arrived in pieces (SftpFramer); its data is not copied.
 */
export function decodeRequest(payload: Buffer, more?: readonly Buffer[]): DecodeResult {
  if (more?.length) return decodeWriteInPieces(payload, more);
  if (payload.length === 0) return { kind: 'fatal', packetType: undefined, reason: 'empty packet' };
  const type = payload[0]!;
  if (type === PacketType.INIT) return decodeInit(payload);
  if (payload.length < 5) {
    return { kind: 'fatal', packetType: type, reason: 'packet too short to hold a request id' };
  }
  const r = new Reader(payload, 1);
  const id = r.u32();
  let extension: string | undefined;
  try {
    let request: IdRequest;
    if (type === PacketType.EXTENDED) {
      //   uint32 id, string extended-request, ... request-specific data
      extension = r.text();
      request = decodeExtended(id, extension, r);
    } else {
      const req = decodeStandard(type, id, r);
      if (req === undefined) return { kind: 'unsupported', id, packetType: type };
      request = req;
    }
    // Bytes after the last field are ignored, as OpenSSH's sftp-server does: clients depend on
    // it (rclone's pkg/sftp sends WRITEs whose data length is smaller than the bytes it sends).
    return { kind: 'request', request };
  } catch (err) {
    if (!(err instanceof WireError)) throw err; // a codec bug, not bad input
    const bad: DecodeResult = { kind: 'bad-message', id, packetType: type, reason: err.message };
    if (extension !== undefined) bad.extension = extension;
    return bad;
  }
}

/** A WRITE whose data continues in `more`: the header is all in `payload`. */
function decodeWriteInPieces(payload: Buffer, more: readonly Buffer[]): DecodeResult {
  const r = new Reader(payload, 1);
  const id = r.u32();
  try {
    if (payload[0] !== PacketType.WRITE) throw new WireError('only a WRITE may come in pieces');
    const handle = r.string();
    const offset = r.u64();
    let want = r.u32();
    const first = payload.subarray(payload.length - r.remaining);
    const data = first.subarray(0, want);
    want -= data.length;
    const rest: Buffer[] = [];
    for (const part of more) {
      if (want === 0) break; // bytes after the data are ignored, as for a WRITE in one piece
      const piece = part.subarray(0, want);
      rest.push(piece);
      want -= piece.length;
    }
    if (want > 0) throw new WireError('truncated packet');
    const request: WriteRequest = { type: 'write', id, handle, offset, data };
    if (rest.length) request.more = rest;
    return { kind: 'request', request };
  } catch (err) {
    if (!(err instanceof WireError)) throw err;
    return { kind: 'bad-message', id, packetType: PacketType.WRITE, reason: err.message };
  }
}

//   byte   SSH_FXP_INIT
//   uint32 version
//   (string extension-name, string extension-data)*   until the end of the packet
function decodeInit(payload: Buffer): DecodeResult {
  const r = new Reader(payload, 1);
  try {
    const version = r.u32();
    const extensions: [string, Buffer][] = [];
    while (r.remaining > 0) extensions.push([r.text(), r.string()]);
    return { kind: 'request', request: { type: 'init', version, extensions } };
  } catch (err) {
    if (!(err instanceof WireError)) throw err;
    return { kind: 'fatal', packetType: PacketType.INIT, reason: `malformed INIT: ${err.message}` };
  }
}

/** Fields after the id of every non-extended request; undefined for types we do not know. */
function decodeStandard(type: number, id: number, r: Reader): IdRequest | undefined {
  const pathType = PATH_TYPES[type];
  //   uint32 id, string path
  if (pathType !== undefined) return { type: pathType, id, path: r.string() };
  switch (type) {
    //   uint32 id, string filename, uint32 pflags, ATTRS attrs
    case PacketType.OPEN: {
      const path = r.string();
      const pflags = r.u32();
      return { type: 'open', id, path, pflags, attrs: readAttrs(r) };
    }
    //   uint32 id, string handle
    case PacketType.CLOSE:
      return { type: 'close', id, handle: r.string() };
    case PacketType.FSTAT:
      return { type: 'fstat', id, handle: r.string() };
    case PacketType.READDIR:
      return { type: 'readdir', id, handle: r.string() };
    //   uint32 id, string handle, uint64 offset, uint32 len
    case PacketType.READ: {
      const handle = r.string();
      const offset = r.u64();
      return { type: 'read', id, handle, offset, length: r.u32() };
    }
    //   uint32 id, string handle, uint64 offset, string data
    case PacketType.WRITE: {
      const handle = r.string();
      const offset = r.u64();
      return { type: 'write', id, handle, offset, data: r.string() };
    }
    //   uint32 id, string path, ATTRS attrs
    case PacketType.SETSTAT: {
      const path = r.string();
      return { type: 'setstat', id, path, attrs: readAttrs(r) };
    }
    case PacketType.MKDIR: {
      const path = r.string();
      return { type: 'mkdir', id, path, attrs: readAttrs(r) };
    }
    //   uint32 id, string handle, ATTRS attrs
    case PacketType.FSETSTAT: {
      const handle = r.string();
      return { type: 'fsetstat', id, handle, attrs: readAttrs(r) };
    }
    //   uint32 id, string oldpath, string newpath
    case PacketType.RENAME: {
      const oldPath = r.string();
      return { type: 'rename', id, oldPath, newPath: r.string() };
    }
    //   uint32 id, string targetpath, string linkpath   (OpenSSH order; the draft says link first)
    case PacketType.SYMLINK: {
      const targetPath = r.string();
      return { type: 'symlink', id, targetPath, linkPath: r.string() };
    }
    default:
      return undefined;
  }
}
