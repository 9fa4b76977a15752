// Public API of the sans-IO SFTP v3 codec. The session (elsewhere) feeds channel bytes to
// SftpFramer, passes each payload to decodeRequest, and writes what the reply encoders return.
export {
  AttrFlags, MAX_PACKET, MAX_READ, MAX_WRITE, OpenFlags, PacketType, SFTP_VERSION, StatusCode, StatvfsFlags,
} from './constants.js';
export type { PacketTypeValue, StatusCodeValue } from './constants.js';
export { attrsSize, encodeAttrs } from './attrs.js';
export type { SftpAttrs } from './attrs.js';
export { DEFAULT_MAX_BUFFERED, SftpFramer } from './framer.js';
export type { FrameResult, FramerOptions } from './framer.js';
export { decodeRequest } from './requests.js';
export type {
  CloseRequest, DecodeResult, FsetstatRequest, HandleRequest, IdRequest, InitRequest, MkdirRequest,
  OpenRequest, PathRequest, ReadRequest, RenameRequest, SetstatRequest, SftpRequest, SftpRequestType,
  SymlinkRequest, WriteRequest,
} from './requests.js';
export { ExtensionName, OPENSSH_EXTENSION_VERSIONS } from './extensions.js';
export type {
  CopyDataRequest, ExpandPathRequest, ExtendedRequest, FstatvfsRequest, FsyncRequest, HardlinkRequest,
  HomeDirectoryRequest, LimitsRequest, PosixRenameRequest, StatvfsRequest, UnknownExtendedRequest,
} from './extensions.js';
export {
  DATA_HEADER_SIZE, STATVFS_FIELDS, encodeAttrsReply, encodeData, encodeDataHeader, encodeDataParts,
  encodeExtendedReply, encodeHandle, encodeLimitsData, encodeLimitsReply, encodeName, encodeStatus,
  encodeStatvfsData, encodeStatvfsReply, encodeVersion, nameEntriesThatFit, nameEntrySize,
} from './replies.js';
export type { LimitsInfo, NameEntry, StatvfsInfo } from './replies.js';
// Client side (tests, benches, raw test clients; never used by the server).
export {
  decodeLimitsData, decodeReply, decodeStatvfsData, encodePacket, encodeRequest, stringBytes, u32Bytes,
  u64Bytes,
} from './client-codec.js';
export type {
  DecodedLimits, DecodedNameEntry, DecodedStatvfs, ReplyDecodeResult, SftpReply,
} from './client-codec.js';
