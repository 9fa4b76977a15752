// Reading the recorded exchanges with a real Tahoe-LAFS 1.20 node
// (shared/reference/tahoe-webapi-samples): raw HTTP requests and responses, with chunked
// bodies de-chunked, and index.json's real caps, lengths and hashes.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface HttpMessage {
  startLine: string;
  /** Headers in order, names as sent. */
  headers: Array<[string, string]>;
  /** The body, de-chunked when Transfer-Encoding is chunked. */
  body: Buffer;
  chunked: boolean;
  /** Sizes of the chunks, when chunked. */
  chunkSizes: number[];
}

export interface SampleRequest extends HttpMessage {
  method: string;
  target: string;
}

export interface SampleResponse extends HttpMessage {
  status: number;
  reason: string;
}

export interface IndexEntry {
  n: number;
  name: string;
  what: string;
  request: { method: string; path_template: string; path: string; headers: Array<[string, string]>; body_length: number; body_sha256: string | null; body_saved: boolean; file: string };
  response: { status: number; headers: Array<[string, string]>; chunked: boolean; body_length: number; body_sha256: string | null; body_truncated_in_file: boolean; file: string };
}

export interface Sample {
  n: number;
  name: string;
  index: IndexEntry;
  request: SampleRequest;
  response: SampleResponse;
}

export interface SampleSet {
  dir: string;
  placeholders: Record<string, string>;
  samples: Sample[];
}

/**
 * The samples folder: $LAFSD_TAHOE_SAMPLES, else the copy in the repository
 * (test/fixtures/tahoe-webapi-samples, recorded from a real Tahoe-LAFS 1.20 node), so the tests
 * that replay them run everywhere, CI included.
 */
export function samplesDir(): string | undefined {
  const env = process.env.LAFSD_TAHOE_SAMPLES;
  if (env) return existsSync(env) ? env : undefined;
  // This file is at <repo>/<build>/test/helpers/fake-tahoe/ once compiled.
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const candidate = resolve(dir, 'test', 'fixtures', 'tahoe-webapi-samples');
    if (existsSync(join(candidate, 'index.json'))) return candidate;
    dir = resolve(dir, '..');
  }
  return undefined;
}

function dechunk(data: Buffer): { body: Buffer; sizes: number[] } {
  const parts: Buffer[] = [];
  const sizes: number[] = [];
  let pos = 0;
  for (;;) {
    const eol = data.indexOf('\r\n', pos);
    if (eol < 0) throw new Error('chunked body: missing chunk size line');
    const size = parseInt(data.toString('latin1', pos, eol).split(';')[0]!.trim(), 16);
    if (!Number.isInteger(size) || size < 0) throw new Error('chunked body: bad chunk size');
    pos = eol + 2;
    if (size === 0) break;
    if (pos + size > data.length) throw new Error('chunked body: truncated chunk');
    parts.push(data.subarray(pos, pos + size));
    sizes.push(size);
    pos += size;
    if (data.toString('latin1', pos, pos + 2) !== '\r\n') throw new Error('chunked body: chunk not followed by CRLF');
    pos += 2;
  }
  return { body: Buffer.concat(parts), sizes };
}

/** Splits a raw HTTP/1.1 message into start line, headers and (de-chunked) body. */
export function parseHttpMessage(raw: Buffer): HttpMessage {
  const end = raw.indexOf('\r\n\r\n');
  if (end < 0) throw new Error('no end of headers');
  const lines = raw.toString('latin1', 0, end).split('\r\n');
  const startLine = lines.shift()!;
  const headers = lines.map((l): [string, string] => {
    const i = l.indexOf(':');
    return [l.slice(0, i), l.slice(i + 1).trim()];
  });
  const rest = raw.subarray(end + 4);
  const chunked = headers.some(([k, v]) => k.toLowerCase() === 'transfer-encoding' && /chunked/i.test(v));
  if (!chunked) return { startLine, headers, body: rest, chunked, chunkSizes: [] };
  const { body, sizes } = dechunk(rest);
  return { startLine, headers, body, chunked, chunkSizes: sizes };
}

export function header(msg: HttpMessage, name: string): string | undefined {
  return msg.headers.find(([k]) => k.toLowerCase() === name.toLowerCase())?.[1];
}

export function loadSamples(dir = samplesDir()): SampleSet {
  if (!dir) throw new Error('Tahoe web-API samples not found (set LAFSD_TAHOE_SAMPLES)');
  const index = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as { placeholders: Record<string, string>; exchanges: IndexEntry[] };
  const samples = index.exchanges.map((entry): Sample => {
    const reqMsg = parseHttpMessage(readFileSync(join(dir, entry.request.file)));
    const [method, target] = reqMsg.startLine.split(' ');
    const resMsg = parseHttpMessage(readFileSync(join(dir, entry.response.file)));
    const m = /^HTTP\/1\.[01] (\d{3}) ?(.*)$/.exec(resMsg.startLine);
    if (!m) throw new Error(`${entry.response.file}: bad status line`);
    return {
      n: entry.n,
      name: entry.name,
      index: entry,
      request: { ...reqMsg, method: method!, target: target! },
      response: { ...resMsg, status: Number(m[1]), reason: m[2]! },
    };
  });
  return { dir, placeholders: index.placeholders, samples };
}

/** Replaces every real cap of the recording by its placeholder name ($ROOT, …). */
export function withPlaceholders(text: string, placeholders: Record<string, string>): string {
  let out = text;
  // Longest first, so a cap that is a prefix of another is not replaced inside it.
  for (const [name, cap] of Object.entries(placeholders).sort((a, b) => b[1].length - a[1].length)) {
    out = out.split(cap).join(name).split(encodeURIComponent(cap)).join(name);
  }
  return out;
}
