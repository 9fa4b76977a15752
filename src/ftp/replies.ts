// Reply formatting. Every text that reaches the control or a listing connection goes through
// `encodeText`, so a file name holding CR or LF can never end a reply line early and forge the
// next one (hardening.md §3d.9):
// - CR is sent as CR NUL (RFC 2640 §3.1), LF as NUL (BSD ftpd; our codec reads both back);
// - in a 257 reply the path is quoted and embedded quotes are doubled (RFC 959 App. II);
// - lines inside a multi-line reply start with a space, so none can look like a final
//   `NNN text` line (RFC 959 §4.2).

/** CR → CR NUL, LF → NUL. */
export function encodeText(text: string): string {
  return text.replace(/\r/g, '\r\0').replace(/\n/g, '\0');
}

/** A one-line reply: `NNN text` CRLF. */
export function reply(code: number, text: string): string {
  checkCode(code);
  return `${code} ${encodeText(text)}\r\n`;
}

/**
 * A multi-line reply: `NNN-first`, then each body line with a leading space, then `NNN last`.
 * With no body and no distinct last line it degrades to a one-line reply.
 */
export function multiline(code: number, first: string, body: readonly string[], last: string): string {
  checkCode(code);
  let out = `${code}-${encodeText(first)}\r\n`;
  for (const line of body) out += ` ${encodeText(line)}\r\n`;
  return out + `${code} ${encodeText(last)}\r\n`;
}

/** RFC 959 App. II: `"` inside a quoted pathname is doubled. */
export function quotePath(path: string): string {
  return `"${path.replace(/"/g, '""')}"`;
}

/** A line of a LIST/NLST/MLSD listing on the data connection. */
export function listingLine(text: string): string {
  return `${encodeText(text)}\r\n`;
}

function checkCode(code: number): void {
  if (!Number.isInteger(code) || code < 100 || code > 599) throw new RangeError(`bad FTP reply code ${code}`);
}
