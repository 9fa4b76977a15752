// The ONE table from vfs errors to SFTP v3 status codes (tahoe-frontends.md §3.3). Every error
// reply of the session goes through errorStatus(), so a code is mapped in exactly one place.
import { isVfsError, type VfsErrorCode } from '../vfs/index.js';
import { StatusCode, type StatusCodeValue } from './constants.js';

export const STATUS_OF_VFS_ERROR: Readonly<Record<VfsErrorCode, StatusCodeValue>> = Object.freeze({
  NO_SUCH_FILE: StatusCode.NO_SUCH_FILE,
  PERMISSION_DENIED: StatusCode.PERMISSION_DENIED,
  // As OpenSSH and Tahoe do: v3 has no "file exists" code, and gvfs maps FAILURE to EEXIST here.
  EXISTS: StatusCode.FAILURE,
  // A non-replacing RENAME onto a taken name: sshfs relies on PERMISSION_DENIED (Tahoe does this).
  TARGET_EXISTS: StatusCode.PERMISSION_DENIED,
  // Tahoe answers wrong-type operations (rm of a dir, rmdir of a file, open of a dir) this way.
  IS_A_DIRECTORY: StatusCode.PERMISSION_DENIED,
  NOT_A_DIRECTORY: StatusCode.PERMISSION_DENIED,
  UNKNOWN_NODE: StatusCode.PERMISSION_DENIED,
  NOT_EMPTY: StatusCode.FAILURE,
  // Undecodable paths: Tahoe answers NO_SUCH_FILE "path could not be decoded as UTF-8".
  INVALID_NAME: StatusCode.NO_SUCH_FILE,
  INVALID_ARGUMENT: StatusCode.BAD_MESSAGE,
  // Tahoe: operations on a closed file object are BAD_MESSAGE.
  CLOSED: StatusCode.BAD_MESSAGE,
  TOO_MANY_OPEN_FILES: StatusCode.FAILURE,
  UNSUPPORTED: StatusCode.OP_UNSUPPORTED,
  UNAVAILABLE: StatusCode.FAILURE,
  // v3 has no codes for these (v5's NO_SPACE_ON_FILESYSTEM and QUOTA_EXCEEDED are unknown to
  // OpenSSH): FAILURE, as sftp-server answers ENOSPC, with a message that says which.
  NO_SPACE: StatusCode.FAILURE,
  QUOTA_EXCEEDED: StatusCode.FAILURE,
  FILE_TOO_LARGE: StatusCode.FAILURE,
  FAILURE: StatusCode.FAILURE,
});

export interface ErrorStatus {
  code: StatusCodeValue;
  message: string;
  /** The vfs code, or undefined for an unexpected exception (a bug: logged louder). */
  vfsCode: VfsErrorCode | undefined;
}

/**
 * The STATUS for anything a request handler threw. VfsError messages are written for clients
 * (no caps); anything else is a bug whose text must not reach the client, so it gets a fixed one.
 */
export function errorStatus(err: unknown): ErrorStatus {
  if (isVfsError(err)) return { code: STATUS_OF_VFS_ERROR[err.code] ?? StatusCode.FAILURE, message: err.message, vfsCode: err.code };
  return { code: StatusCode.FAILURE, message: 'internal error', vfsCode: undefined };
}
