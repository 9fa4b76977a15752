// Which PASV/EPSV answers a client on the same host must get a moment late (issue #11).
//
// curl before 8.4 (7.88 in Debian 12) sleeps a full second when the answer to its PASV or EPSV is
// already there at its first look, right after sending the command, and that command is the
// first of a transfer's DO phase: its multi loop then moves from DO to DOING_MORE without
// running it, with no socket to wait on, and polls out its one-second timeout (fixed by curl
// commit 6dd6654f, "multi: set CURLM_CALL_MULTI_PERFORM after switch to DOING_MORE", in 8.4.0).
// Whatever curl sends first in that phase (CWD, TYPE, MDTM, SIZE, PRET) moves the PASV/EPSV to
// a later step, where an early answer does no harm. So a PASV/EPSV that follows one of those
// commands is answered at once; any other (after a transfer, after login, after anything else)
// waits. curl 7.88 on loopback, rounds of 400 small downloads with no pause at all: ~20 stalls
// in each of the last three rounds from one folder, none in 1,600 downloads with a CWD before
// each EPSV (bench/README.md, thirteenth session).

/** Commands a client sends while preparing a transfer, before asking for its data connection. */
const PREPARING_A_TRANSFER: ReadonlySet<string> = new Set(['CWD', 'XCWD', 'CDUP', 'XCUP', 'TYPE', 'MODE', 'STRU', 'MDTM', 'SIZE', 'PRET']);

/**
 * Whether a PASV/EPSV after `preceding` (the verb of the command before it on the same control
 * connection, upper case; undefined if none) could be the one curl stalls on when answered
 * before it looks.
 */
export function passiveAnswerMayStallCurl(preceding: string | undefined): boolean {
  return preceding === undefined || !PREPARING_A_TRANSFER.has(preceding);
}
