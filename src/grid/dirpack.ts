// Tahoe's serialisation of immutable directories (dirnode._pack_normalized_children): the bytes
// inside a URI:DIR2-LIT cap or a URI:DIR2-CHK file. Each child is a netstring holding four
// netstrings: UTF-8 name, read cap, encrypted write cap (always empty in immutable
// directories), JSON metadata. Children are sorted by name.
import { netstring } from '../caps/index.js';
import { GridError } from './errors.js';
import type { Metadata } from './types.js';

export interface PackedChild {
  name: string;
  readCap: string;
  metadata: Metadata;
}

/** Reads one netstring at `pos`; returns its payload and the position after it. */
function readNetstring(buf: Buffer, pos: number): { data: Buffer; next: number } {
  const colon = buf.indexOf(0x3a, pos);
  if (colon < 0 || colon - pos > 12 || colon === pos) throw new GridError('CORRUPT', 'malformed directory: bad netstring length');
  const lenText = buf.toString('latin1', pos, colon);
  if (!/^\d+$/.test(lenText)) throw new GridError('CORRUPT', 'malformed directory: bad netstring length');
  const len = Number(lenText);
  const end = colon + 1 + len;
  if (end >= buf.length) throw new GridError('CORRUPT', 'malformed directory: truncated netstring');
  if (buf[end] !== 0x2c) throw new GridError('CORRUPT', 'malformed directory: netstring not terminated');
  return { data: buf.subarray(colon + 1, end), next: end + 1 };
}

export function unpackChildren(buf: Buffer): PackedChild[] {
  const children: PackedChild[] = [];
  let pos = 0;
  while (pos < buf.length) {
    const entry = readNetstring(buf, pos);
    pos = entry.next;
    const name = readNetstring(entry.data, 0);
    const ro = readNetstring(entry.data, name.next);
    const rw = readNetstring(entry.data, ro.next);
    const md = readNetstring(entry.data, rw.next);
    if (md.next !== entry.data.length) throw new GridError('CORRUPT', 'malformed directory: trailing bytes in entry');
    let metadata: Metadata;
    try {
      const parsed: unknown = JSON.parse(md.data.toString('utf8'));
      metadata = parsed && typeof parsed === 'object' && !Array.isArray(parsed) ? (parsed as Metadata) : {};
    } catch {
      throw new GridError('CORRUPT', 'malformed directory: metadata is not JSON');
    }
    children.push({ name: name.data.toString('utf8').normalize('NFC'), readCap: ro.data.toString('utf8'), metadata });
  }
  return children;
}

/** Python's json.dumps default formatting (", " and ": "), so packed bytes match Tahoe's. */
function pythonJson(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    if (typeof value === 'string') return JSON.stringify(value).replace(/[\u007f-\uffff]/g, (c) => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0'));
    if (typeof value === 'number' && Number.isInteger(value) === false) return String(value);
    return JSON.stringify(value) ?? 'null';
  }
  if (Array.isArray(value)) return '[' + value.map(pythonJson).join(', ') + ']';
  return '{' + Object.entries(value).map(([k, v]) => pythonJson(k) + ': ' + pythonJson(v)).join(', ') + '}';
}

export function packChildren(children: PackedChild[]): Buffer {
  const sorted = [...children].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return Buffer.concat(
    sorted.map((c) =>
      netstring(
        Buffer.concat([
          netstring(Buffer.from(c.name, 'utf8')),
          netstring(Buffer.from(c.readCap, 'utf8')),
          netstring(Buffer.alloc(0)),
          netstring(Buffer.from(pythonJson(c.metadata), 'utf8')),
        ]),
      ),
    ),
  );
}
