// THE table from vfs errors to FTP replies (RFC 959 §4.2 codes). vfs messages are written for
// clients and never contain caps, so they are shown as they are.
import { isVfsError, type VfsErrorCode } from '../vfs/index.js';

export interface ErrorReply {
  code: number;
  text: string;
}

const TABLE: Record<VfsErrorCode, number> = {
  NO_SUCH_FILE: 550,
  PERMISSION_DENIED: 550,
  EXISTS: 550,
  TARGET_EXISTS: 550,
  NOT_A_DIRECTORY: 550,
  IS_A_DIRECTORY: 550,
  NOT_EMPTY: 550,
  UNKNOWN_NODE: 550,
  INVALID_NAME: 553, // "file name not allowed"
  INVALID_ARGUMENT: 550,
  CLOSED: 451,
  TOO_MANY_OPEN_FILES: 450, // transient: try again later
  UNSUPPORTED: 504,
  UNAVAILABLE: 450, // the store cannot be reached right now
  NO_SPACE: 452, // "insufficient storage space"
  QUOTA_EXCEEDED: 552, // "exceeded storage allocation"
  FILE_TOO_LARGE: 552,
  FAILURE: 451, // local error in processing
};

/**
 * Reply codes allowed once a transfer has started (RFC 959 §5.4, after 150), plus 452: RFC 959
 * lists it among STOR's replies, and a full disk is usually found only while writing.
 */
const AFTER_150 = new Set([426, 451, 452, 552]);

/** The reply for a failed command that has not opened a data connection. */
export function errorReply(err: unknown): ErrorReply {
  if (isVfsError(err)) return { code: TABLE[err.code], text: err.message };
  return { code: 451, text: 'Local error in processing' };
}

/** The reply for a transfer that failed after 150: only the AFTER_150 codes are allowed there. */
export function transferErrorReply(err: unknown): ErrorReply {
  const r = errorReply(err);
  return AFTER_150.has(r.code) ? r : { code: 451, text: r.text };
}
