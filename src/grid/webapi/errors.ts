// Tahoe's error answers → GridError. Tahoe sends its message as text/plain for errors it knows
// (with a status code), a Twisted HTML ErrorPage for failures while walking a path, and a 500
// traceback (HTML unless the request says `Accept: text/plain`) for everything else, including
// writes into read-only directories. Clients get a short plain-text message: never HTML, never
// a cap (a cap in a message would hand out authority to whoever reads logs or error replies).
import { GridError, type GridErrorCode } from '../errors.js';

const MAX_MESSAGE = 300;

// `URI:` caps (also %-encoded and with Tahoe's `ro.`/`imm.` prefixes) and the bare
// key:fingerprint pairs that follow the kind, in case a message quotes a cap without its prefix.
const CAP_PATTERNS: RegExp[] = [
  /(?:ro\.|imm\.)?URI(?::|%3A)[^\s"'<>&,;)\]}]*/gi,
  /\b[a-z2-7]{26}(?::|%3A)[a-z2-7]{52}\b/gi,
];

/** Removes anything that looks like a cap from a text that may reach clients or logs. */
export function scrubCaps(text: string): string {
  let out = text;
  for (const re of CAP_PATTERNS) out = out.replace(re, '[cap]');
  return out;
}

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: ' ', '#39': "'" };

function decodeEntities(text: string): string {
  return text.replace(/&(#x[0-9a-f]+|#\d+|[a-z]+\d*);/gi, (all, name: string) => {
    const lower = name.toLowerCase();
    if (lower.startsWith('#x')) return String.fromCodePoint(parseInt(lower.slice(2), 16) || 0x3f);
    if (lower.startsWith('#') && lower !== '#39') return String.fromCodePoint(Number(lower.slice(1)) || 0x3f);
    return ENTITIES[lower] ?? all;
  });
}

const TAG = /<\/?[a-z!?][^>]*>/gi;

function stripTags(html: string): string {
  const text = html.replace(/<(style|script|head)\b[\s\S]*?<\/\1\s*>/gi, ' ').replace(/<[^>]*>/g, ' ');
  // Entities may spell out more markup (&lt;b&gt;): it must not come back as tags either.
  return decodeEntities(text).replace(TAG, ' ');
}

function squash(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}

/** Python's dotted exception name → its last part (`allmydata.mutable.common.NotWriteableError` → `NotWriteableError`). */
function shortException(name: string): string {
  return name.slice(name.lastIndexOf('.') + 1);
}

/**
 * The readable message of an HTML error body: the exception of a Twisted traceback page
 * (`<div class="error"><span>CLASS</span>: <span>MSG</span>`), or the title and text of an
 * ErrorPage (`<h1>Error</h1><p>No such child: x</p>`), or else the page's text.
 */
export function htmlMessage(html: string): string {
  // Parts stripped one by one can spell a tag across their join ("<A" + ": " + ">"), so the
  // message is stripped once more as a whole.
  return squash(htmlParts(html).replace(TAG, ' '));
}

function htmlParts(html: string): string {
  const exc = /<div class="error">\s*<span>([^<]*)<\/span>\s*:\s*<span>([\s\S]*?)<\/span>/i.exec(html);
  if (exc) {
    const msg = squash(stripTags(exc[2]!));
    const name = shortException(squash(decodeEntities(exc[1]!)));
    return msg ? `${name}: ${msg}` : name;
  }
  const h1 = /<h1>([\s\S]*?)<\/h1>/i.exec(html);
  const p = /<p>([\s\S]*?)<\/p>/i.exec(html);
  if (h1 || p) {
    const title = h1 ? squash(stripTags(h1[1]!)) : '';
    const detail = p ? squash(stripTags(p[1]!)) : '';
    if (!title || title === 'Error') return detail || title;
    if (!detail || detail === 'no details') return title;
    return `${title}: ${detail}`;
  }
  return squash(stripTags(html));
}

/** The last line of a Python traceback (`pkg.mod.SomeError: message`), shortened. */
function tracebackMessage(text: string): string | undefined {
  if (!/^Traceback \(most recent call last\)/m.test(text)) return undefined;
  const lines = text.split(/\r?\n/).map((l) => l.trimEnd()).filter((l) => l && !/^\s/.test(l) && !l.startsWith('Traceback') && !/^---/.test(l));
  const last = lines[lines.length - 1];
  if (!last) return undefined;
  const m = /^([\w.]+)(?::\s*(.*))?$/.exec(last);
  if (!m) return last;
  return m[2] ? `${shortException(m[1]!)}: ${m[2]}` : shortException(m[1]!);
}

function looksLikeHtml(contentType: string, text: string): boolean {
  return /html/i.test(contentType) || /^\s*(<!DOCTYPE|<html)/i.test(text);
}

/** Tahoe's message in an error body, as one short plain-text line without caps. */
export function errorText(contentType: string | undefined, body: Buffer | string): string {
  const text = typeof body === 'string' ? body : body.toString('utf8');
  const type = contentType ?? '';
  let msg: string;
  if (looksLikeHtml(type, text)) {
    msg = htmlMessage(text);
  } else {
    msg = tracebackMessage(text) ?? text;
    if (/json/i.test(type) || /^\s*\{/.test(msg)) {
      try {
        const parsed = JSON.parse(msg) as unknown;
        if (parsed && typeof parsed === 'object' && typeof (parsed as { error?: unknown }).error === 'string') {
          msg = (parsed as { error: string }).error;
        }
      } catch {
        // not JSON after all: keep the text
      }
    }
    // Long explanations (NoSharesError) put the gist in the first paragraph.
    msg = msg.split(/\r?\n\s*\r?\n/)[0]!;
  }
  msg = squash(scrubCaps(msg));
  if (msg.length > MAX_MESSAGE) msg = msg.slice(0, MAX_MESSAGE - 1) + '…';
  return msg;
}

/** Which GridError a Tahoe status and message mean. */
export function errorCode(status: number, message: string): GridErrorCode {
  if (/NotWriteableError/.test(message)) return 'NOT_WRITABLE';
  switch (status) {
    case 404:
      return 'NOT_FOUND';
    case 409:
      return 'EXISTS';
    case 410:
      return 'UNAVAILABLE'; // NoSharesError / NotEnoughSharesError / UnrecoverableFileError
    case 413:
      return 'UNSUPPORTED'; // FileTooLargeError
    case 501:
      return 'UNSUPPORTED';
    case 403:
      return 'UNAVAILABLE'; // the node's blacklist refuses this object
    case 400:
      if (/^Files have no children named|to_dir is not a directory/.test(message)) return 'NOT_A_DIRECTORY';
      if (/^PUT to a directory/.test(message)) return 'IS_A_DIRECTORY';
      if (/read-only cap|invoked on an immutable cap/.test(message)) return 'NOT_WRITABLE';
      return 'INVALID';
    case 500:
      if (/ChildOfWrongTypeError/.test(message)) return 'NOT_A_DIRECTORY';
      return 'UNAVAILABLE';
  }
  if (status >= 500) return 'UNAVAILABLE';
  if (status >= 400) return 'INVALID';
  return 'UNAVAILABLE'; // a redirect or an unexpected success status: not an answer we can use
}

/** A GridError that is the node's own answer (it got the request and said no), with its status. */
export class NodeAnswerError extends GridError {
  constructor(
    code: ConstructorParameters<typeof GridError>[0],
    message: string,
    readonly status: number,
  ) {
    super(code, message);
  }
}

/** The GridError for a non-success answer of the node. */
export function errorFromResponse(status: number, contentType: string | undefined, body: Buffer | string): GridError {
  const text = errorText(contentType, body);
  const code = errorCode(status, text);
  const message = text || `the Tahoe-LAFS node answered HTTP ${status}`;
  return new NodeAnswerError(code, message, status);
}

/**
 * A directory update the node failed in a way worth another try: Tahoe's
 * UncoordinatedWriteError (another writer changed the directory meanwhile, and Tahoe's own
 * retries gave up), or the KeyError traceback Tahoe 1.20 answers some of those races with
 * (seen with two client nodes updating one directory at once). Other failures are reported.
 */
export function isWriteConflict(err: unknown): boolean {
  return err instanceof NodeAnswerError && err.status === 500 && /^(UncoordinatedWriteError|KeyError)\b/.test(err.message);
}
