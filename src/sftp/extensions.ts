// SSH_FXP_EXTENDED requests we recognise (OpenSSH PROTOCOL §4, draft-ietf-secsh-filexfer-extensions
// for copy-data and home-directory). Their data must be consumed exactly: Tahoe's
// test_extendedRequest expects FX_BAD_MESSAGE for posix-rename with missing or extra bytes.
import { Reader } from './wire.js';

/** Extension names as they appear on the wire. */
export const ExtensionName = {
  POSIX_RENAME: 'posix-rename@openssh.com',
  STATVFS: 'statvfs@openssh.com',
  FSTATVFS: 'fstatvfs@openssh.com',
  FSYNC: 'fsync@openssh.com',
  HARDLINK: 'hardlink@openssh.com',
  LIMITS: 'limits@openssh.com',
  COPY_DATA: 'copy-data',
  HOME_DIRECTORY: 'home-directory',
  EXPAND_PATH: 'expand-path@openssh.com',
} as const;

/** The version strings OpenSSH's sftp-server advertises in VERSION for each extension. */
export const OPENSSH_EXTENSION_VERSIONS: Readonly<Record<string, string>> = {
  [ExtensionName.POSIX_RENAME]: '1',
  [ExtensionName.STATVFS]: '2',
  [ExtensionName.FSTATVFS]: '2',
  [ExtensionName.HARDLINK]: '1',
  [ExtensionName.FSYNC]: '1',
  [ExtensionName.LIMITS]: '1',
  [ExtensionName.EXPAND_PATH]: '1',
  [ExtensionName.COPY_DATA]: '1',
  [ExtensionName.HOME_DIRECTORY]: '1',
};

/** posix-rename@openssh.com: rename that replaces the target. Reply STATUS. */
export interface PosixRenameRequest { type: 'posix-rename'; id: number; oldPath: Buffer; newPath: Buffer }
/** statvfs@openssh.com. Reply EXTENDED_REPLY with the statvfs payload. */
export interface StatvfsRequest { type: 'statvfs'; id: number; path: Buffer }
/** fstatvfs@openssh.com. Reply as statvfs. */
export interface FstatvfsRequest { type: 'fstatvfs'; id: number; handle: Buffer }
/** fsync@openssh.com. Reply STATUS. */
export interface FsyncRequest { type: 'fsync'; id: number; handle: Buffer }
/** hardlink@openssh.com. Reply STATUS. */
export interface HardlinkRequest { type: 'hardlink'; id: number; oldPath: Buffer; newPath: Buffer }
/** limits@openssh.com. Reply EXTENDED_REPLY with the limits payload. */
export interface LimitsRequest { type: 'limits'; id: number }
/** copy-data: copy a byte range between two open handles. `readLength` 0 means to EOF. Reply STATUS. */
export interface CopyDataRequest {
  type: 'copy-data';
  id: number;
  readHandle: Buffer;
  readOffset: number;
  readLength: number;
  writeHandle: Buffer;
  writeOffset: number;
}
/** home-directory: the home of `username`. Reply NAME with one entry. */
export interface HomeDirectoryRequest { type: 'home-directory'; id: number; username: Buffer }
/** expand-path@openssh.com: realpath that also expands `~`. Reply NAME with one entry. */
export interface ExpandPathRequest { type: 'expand-path'; id: number; path: Buffer }
/** Any other extension; `data` is everything after the name. Reply FX_OP_UNSUPPORTED. */
export interface UnknownExtendedRequest { type: 'extended-unknown'; id: number; name: string; data: Buffer }

export type ExtendedRequest =
  | PosixRenameRequest
  | StatvfsRequest
  | FstatvfsRequest
  | FsyncRequest
  | HardlinkRequest
  | LimitsRequest
  | CopyDataRequest
  | HomeDirectoryRequest
  | ExpandPathRequest
  | UnknownExtendedRequest;

/**
 * Reads the data of extension `name` from `r` (positioned after the name). Throws WireError on
 * a short read; the caller checks nothing is left over.
 */
export function decodeExtended(id: number, name: string, r: Reader): ExtendedRequest {
  switch (name) {
    //   string oldpath, string newpath
    case ExtensionName.POSIX_RENAME: {
      const oldPath = r.string();
      return { type: 'posix-rename', id, oldPath, newPath: r.string() };
    }
    case ExtensionName.HARDLINK: {
      const oldPath = r.string();
      return { type: 'hardlink', id, oldPath, newPath: r.string() };
    }
    //   string path
    case ExtensionName.STATVFS:
      return { type: 'statvfs', id, path: r.string() };
    case ExtensionName.EXPAND_PATH:
      return { type: 'expand-path', id, path: r.string() };
    //   string handle
    case ExtensionName.FSTATVFS:
      return { type: 'fstatvfs', id, handle: r.string() };
    case ExtensionName.FSYNC:
      return { type: 'fsync', id, handle: r.string() };
    //   (no data)
    case ExtensionName.LIMITS:
      return { type: 'limits', id };
    //   string read-from-handle, uint64 read-from-offset, uint64 read-data-length,
    //   string write-to-handle, uint64 write-to-offset
    case ExtensionName.COPY_DATA: {
      const readHandle = r.string();
      const readOffset = r.u64();
      const readLength = r.u64();
      const writeHandle = r.string();
      const writeOffset = r.u64();
      return { type: 'copy-data', id, readHandle, readOffset, readLength, writeHandle, writeOffset };
    }
    //   string username
    case ExtensionName.HOME_DIRECTORY:
      return { type: 'home-directory', id, username: r.string() };
    default:
      return { type: 'extended-unknown', id, name, data: r.rest() };
  }
}
