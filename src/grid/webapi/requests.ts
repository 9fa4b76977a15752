// The requests the web-API backend sends, as pure data: one builder per operation, so the exact
// method, path, query and body of each can be unit-tested against the recorded Tahoe exchanges.
//
// Every request addresses an object by its cap alone (`/uri/$CAP`), never by a path below a
// cap: Tahoe creates missing intermediate directories for most PUT/POST paths, so a path with a
// typo would silently create directories. Children are named with `name=`/`from_name=` instead.
import type { Metadata, ReplaceMode } from '../types.js';

export type Method = 'GET' | 'HEAD' | 'PUT' | 'POST' | 'DELETE';

export interface WebRequest {
  method: Method;
  /** Path and query, relative to the node's base URL, e.g. `/uri/URI%3ADIR2%3A…?t=json`. */
  path: string;
  headers: Record<string, string>;
  /** Small in-memory bodies (JSON); streamed bodies are passed separately. */
  body?: string;
}

/** One entry of a `t=set_children` body (the same shape Tahoe's mkdir-with-children takes). */
export interface ChildSpec {
  type: 'filenode' | 'dirnode' | 'unknown';
  rwUri?: string;
  roUri?: string;
  /** Omitted: Tahoe keeps the existing link's user metadata. Given: replaces every non-`tahoe` key. */
  metadata?: Metadata;
}

/** `/uri/$CAP`, the cap %-encoded as one path segment (`:` → `%3A`), as Tahoe's own redirects do. */
export function capPath(cap: string): string {
  return `/uri/${encodeURIComponent(cap)}`;
}

/**
 * A query string. Values are %-encoded with encodeURIComponent: Twisted decodes arguments with
 * unquote_plus, so a literal `+` must travel as %2B and a space as %20 (never `+`).
 */
export function queryString(params: ReadonlyArray<readonly [string, string]>): string {
  if (params.length === 0) return '';
  return '?' + params.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&');
}

/** Tahoe's `replace=` values: true/false, or `only-files` (t=set_children and t=relink accept it). */
export function replaceArg(replace: ReplaceMode): string {
  return replace === 'only-files' ? 'only-files' : replace ? 'true' : 'false';
}

function req(method: Method, path: string, params: Array<readonly [string, string]> = [], extra: Partial<WebRequest> = {}): WebRequest {
  return { method, path: path + queryString(params), headers: { ...(extra.headers ?? {}) }, ...(extra.body !== undefined ? { body: extra.body } : {}) };
}

/** `GET /?t=json`: the welcome page as JSON (used to check that a URL is a Tahoe node). */
export function welcomeRequest(): WebRequest {
  return req('GET', '/', [['t', 'json']]);
}

/** `GET /uri/$CAP?t=json`: node info; for a directory, its children with metadata. */
export function jsonRequest(cap: string): WebRequest {
  return req('GET', capPath(cap), [['t', 'json']]);
}

/**
 * `GET /uri/$CAP` with `Range: bytes=first-last` (inclusive). Callers clamp `last` to the known
 * size and never send a range on an empty file: Tahoe answers 416 for any range there, and it
 * ignores an open range that starts past the end (200 with the whole file).
 */
export function rangeRequest(cap: string, first: number, last: number): WebRequest {
  if (!(Number.isSafeInteger(first) && Number.isSafeInteger(last) && first >= 0 && last >= first)) {
    throw new RangeError(`bad byte range ${first}-${last}`);
  }
  return req('GET', capPath(cap), [], { headers: { range: `bytes=${first}-${last}` } });
}

/** `GET /uri/$CAP`: the whole file (the source of a mutable file's new content). */
export function downloadRequest(cap: string): WebRequest {
  return req('GET', capPath(cap));
}

/** `POST /uri?t=mkdir`: a new unlinked mutable directory; the body of the answer is its write cap. */
export function mkdirUnlinkedRequest(): WebRequest {
  return req('POST', '/uri', [['t', 'mkdir']]);
}

/**
 * `POST /uri/$DIRCAP?t=mkdir&name=N&replace=…`: a new directory linked under N. `replace` is
 * always sent: Tahoe's default (true) would silently replace an existing child. Tahoe parses
 * this replace= as a plain boolean, so 'only-files' cannot be used here.
 */
export function mkdirChildRequest(dirCap: string, name: string, replace: boolean): WebRequest {
  return req('POST', capPath(dirCap), [['t', 'mkdir'], ['name', name], ['replace', replaceArg(replace)]]);
}

/** The JSON body of t=set_children: `{name: [type, {ro_uri, rw_uri?, metadata?}]}`. */
export function childrenJson(children: ReadonlyArray<readonly [string, ChildSpec]>): string {
  const out: Record<string, [string, Record<string, unknown>]> = {};
  for (const [name, spec] of children) {
    const props: Record<string, unknown> = {};
    if (spec.roUri !== undefined) props.ro_uri = spec.roUri;
    if (spec.rwUri !== undefined) props.rw_uri = spec.rwUri;
    if (spec.metadata !== undefined) props.metadata = spec.metadata;
    out[name] = [spec.type, props];
  }
  return JSON.stringify(out);
}

/**
 * `POST /uri/$DIRCAP?t=set_children&replace=…` with a JSON body: links existing caps, with or
 * without new metadata, in one directory update. (The web-API docs say `overwrite=`; the code
 * reads `replace=`.)
 */
export function setChildrenRequest(dirCap: string, children: ReadonlyArray<readonly [string, ChildSpec]>, replace: ReplaceMode): WebRequest {
  return req('POST', capPath(dirCap), [['t', 'set_children'], ['replace', replaceArg(replace)]], {
    headers: { 'content-type': 'application/json' },
    body: childrenJson(children),
  });
}

/** `POST /uri/$DIRCAP?t=unlink&name=N` (works for unknown nodes too, unlike DELETE). */
export function unlinkRequest(dirCap: string, name: string): WebRequest {
  return req('POST', capPath(dirCap), [['t', 'unlink'], ['name', name]]);
}

/** `POST /uri/$FROMDIR?t=relink&from_name=A&to_dir=$TODIR&to_name=B&replace=…`: a move. */
export function relinkRequest(fromDirCap: string, fromName: string, toDirCap: string, toName: string, replace: ReplaceMode): WebRequest {
  return req('POST', capPath(fromDirCap), [
    ['t', 'relink'],
    ['from_name', fromName],
    ['to_dir', toDirCap],
    ['to_name', toName],
    ['replace', replaceArg(replace)],
  ]);
}

/** `PUT /uri?format=…`: an unlinked upload (CHK immutable, or a new SDMF/MDMF mutable file). */
export function uploadRequest(format: 'CHK' | 'SDMF' | 'MDMF'): WebRequest {
  return req('PUT', '/uri', [['format', format]]);
}

/** `PUT /uri/$WRITECAP`: publishes the body as the new version of a mutable file. */
export function overwriteRequest(writeCap: string): WebRequest {
  return req('PUT', capPath(writeCap));
}
