// THE table from vfs errors to FTP replies (RFC 959 §4.2 codes). vfs messages are written for
// clients and never contain caps, so they are shown as they are.
//
// A store that cannot be reached is 451 ("local error in processing"), never 450: curl (and
// rclone, as "directory not found") read a 450 to LIST/NLST as "no files", so a curl-based sync
// would see an outage as an empty directory and exit 0. Every client tried fails on a 451 with
// the message shown: curl exit 19 (RETR/LIST) or 18 (STOR), lftp "max-retries exceeded (451 …)",
// wget exit 4, ftplib error_temp, rclone exit 1, basic-ftp FTPError 451. 421 is not used: it
// promises that the connection closes (a session works again as soon as the node is back), and
// curl reports it as "(28) Timeout was reached".
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
  TOO_MANY_OPEN_FILES: 450, // transient: try again later (RETR/STOR only: listings open no files)
  UNSUPPORTED: 504,
  UNAVAILABLE: 451, // the store cannot be reached right now (see above: not 450)
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
