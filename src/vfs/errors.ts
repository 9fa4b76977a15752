// The vfs error vocabulary: what went wrong, in protocol-neutral terms. Each protocol adapter
// maps these codes in ONE table (SFTP status codes, FTP reply codes). Messages are for humans,
// reach clients verbatim, and never contain caps.
import { isGridError, type GridErrorCode } from '../grid/index.js';

export type VfsErrorCode =
  | 'NO_SUCH_FILE'
  | 'PERMISSION_DENIED' // read-only cap, no-write link, read-only session
  | 'EXISTS' // create/mkdir/link onto a taken name
  | 'TARGET_EXISTS' // a non-replacing rename onto a taken name (SFTP reports it as permission denied)
  | 'NOT_A_DIRECTORY'
  | 'IS_A_DIRECTORY'
  | 'NOT_EMPTY'
  | 'UNKNOWN_NODE' // the path names a cap of a kind we cannot use (kept, listed, removable)
  | 'INVALID_NAME' // undecodable, NUL, too long
  | 'INVALID_ARGUMENT' // bad flags, bad sizes, moving a directory into itself
  | 'CLOSED' // handle already closed
  | 'TOO_MANY_OPEN_FILES'
  | 'UNSUPPORTED'
  | 'UNAVAILABLE' // the storage backend cannot be reached right now
  | 'NO_SPACE' // the store's disk is full
  | 'QUOTA_EXCEEDED' // the account's quota (bytes or files) would be exceeded
  | 'FILE_TOO_LARGE' // beyond the server's largest file size
  | 'FAILURE'; // anything else, with its reason in the message

export class VfsError extends Error {
  readonly code: VfsErrorCode;
  constructor(code: VfsErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'VfsError';
    this.code = code;
  }
}

export function isVfsError(err: unknown, code?: VfsErrorCode): err is VfsError {
  return err instanceof VfsError && (code === undefined || err.code === code);
}

const FROM_GRID: Record<GridErrorCode, VfsErrorCode> = {
  NOT_FOUND: 'NO_SUCH_FILE',
  EXISTS: 'EXISTS',
  NOT_WRITABLE: 'PERMISSION_DENIED',
  NOT_A_DIRECTORY: 'NOT_A_DIRECTORY',
  IS_A_DIRECTORY: 'IS_A_DIRECTORY',
  NOT_EMPTY: 'NOT_EMPTY',
  CORRUPT: 'FAILURE',
  UNAVAILABLE: 'UNAVAILABLE',
  NO_SPACE: 'NO_SPACE',
  INVALID: 'INVALID_ARGUMENT',
  UNSUPPORTED: 'UNSUPPORTED',
};

/** Any error from below becomes a VfsError; unexpected ones keep a generic message. */
export function toVfsError(err: unknown): VfsError {
  if (err instanceof VfsError) return err;
  if (isGridError(err)) return new VfsError(FROM_GRID[err.code], err.message, { cause: err });
  // The vfs's own temporary files (out-of-order writes) live on a disk that can fill up too.
  if (isDiskFull(err)) return new VfsError('NO_SPACE', 'no space left for temporary files on the server', { cause: err });
  return new VfsError('FAILURE', 'internal error', { cause: err });
}

function isDiskFull(err: unknown): boolean {
  const code = (err as { code?: unknown } | undefined)?.code;
  return code === 'ENOSPC' || code === 'EDQUOT';
}
