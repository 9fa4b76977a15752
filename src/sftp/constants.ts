// SFTP version 3 numbers (draft-ietf-secsh-filexfer-02, OpenSSH's sftp.h) and the size limits
// this server enforces. Numbers only; no behaviour.

/** The only protocol version we speak, as Tahoe's frontend and OpenSSH's sftp-server do. */
export const SFTP_VERSION = 3;

/** Packet types (the byte after the uint32 length). */
export const PacketType = {
  INIT: 1,
  VERSION: 2,
  OPEN: 3,
  CLOSE: 4,
  READ: 5,
  WRITE: 6,
  LSTAT: 7,
  FSTAT: 8,
  SETSTAT: 9,
  FSETSTAT: 10,
  OPENDIR: 11,
  READDIR: 12,
  REMOVE: 13,
  MKDIR: 14,
  RMDIR: 15,
  REALPATH: 16,
  STAT: 17,
  RENAME: 18,
  READLINK: 19,
  SYMLINK: 20,
  STATUS: 101,
  HANDLE: 102,
  DATA: 103,
  NAME: 104,
  ATTRS: 105,
  EXTENDED: 200,
  EXTENDED_REPLY: 201,
} as const;
export type PacketTypeValue = (typeof PacketType)[keyof typeof PacketType];

/** Status codes carried by FXP_STATUS. v3 defines 0–8; later drafts' codes are not sent to v3 clients. */
export const StatusCode = {
  OK: 0,
  EOF: 1,
  NO_SUCH_FILE: 2,
  PERMISSION_DENIED: 3,
  FAILURE: 4,
  BAD_MESSAGE: 5,
  NO_CONNECTION: 6,
  CONNECTION_LOST: 7,
  OP_UNSUPPORTED: 8,
} as const;
export type StatusCodeValue = (typeof StatusCode)[keyof typeof StatusCode];

/** OPEN pflags. */
export const OpenFlags = {
  READ: 0x01,
  WRITE: 0x02,
  APPEND: 0x04,
  CREAT: 0x08,
  TRUNC: 0x10,
  EXCL: 0x20,
} as const;

/** ATTRS flags. Bits not listed here are ignored on decode, as OpenSSH's decode_attrib does. */
export const AttrFlags = {
  SIZE: 0x00000001,
  UIDGID: 0x00000002,
  PERMISSIONS: 0x00000004,
  ACMODTIME: 0x00000008,
  EXTENDED: 0x80000000,
} as const;

/** statvfs f_flag bits (OpenSSH PROTOCOL §4.4). */
export const StatvfsFlags = {
  ST_RDONLY: 0x1,
  ST_NOSUID: 0x2,
} as const;

/**
 * Largest packet payload (the bytes after the uint32 length field) we accept or send. Same as
 * OpenSSH's SFTP_MAX_MSG_LENGTH: the OpenSSH client drops anything larger, and ssh2's inbound
 * packet limit is the same number.
 */
export const MAX_PACKET = 256 * 1024;

/**
 * Largest READ reply payload we send (255 KiB). 256 KiB of data plus the 9-byte DATA header would
 * exceed MAX_PACKET and the OpenSSH 9.2 client kills the session ("Received message too long").
 */
export const MAX_READ = 261120;

/** Largest WRITE data we advertise in limits@openssh.com, as sftp-server does. */
export const MAX_WRITE = MAX_PACKET - 1024;
