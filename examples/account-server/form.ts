// Decoding of HTML form posts, as the account service receives them: multipart/form-data
// (RFC 7578; what lafsd and Tahoe send) and application/x-www-form-urlencoded (what curl -d and
// simple scripts send). Pure functions over the request bytes.

/** The boundary parameter of a multipart/form-data Content-Type, or undefined. */
export function multipartBoundary(contentType: string | undefined): string | undefined {
  if (!contentType || !/^\s*multipart\/form-data\s*(;|$)/i.test(contentType)) return undefined;
  const m = /;\s*boundary\s*=\s*(?:"([^"]{1,70})"|([^;\s"]{1,70}))/i.exec(contentType);
  return m ? (m[1] ?? m[2]) : undefined;
}

function headerParams(value: string): Map<string, string> {
  const out = new Map<string, string>();
  const re = /;\s*([A-Za-z0-9_*-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;\s]*))/g;
  for (let m = re.exec(value); m; m = re.exec(value)) {
    out.set(m[1]!.toLowerCase(), m[2] !== undefined ? m[2].replace(/\\(.)/g, '$1') : m[3]!);
  }
  return out;
}

/**
 * Parses a multipart/form-data body into field name → UTF-8 value. Fields may come in any
 * order; a preamble and epilogue are ignored. Returns undefined for a malformed body, invalid
 * UTF-8, or a repeated field name (ambiguous for a login).
 */
export function parseMultipart(body: Buffer, boundary: string): Map<string, string> | undefined {
  const delimiter = Buffer.from(`--${boundary}`);
  const fields = new Map<string, string>();
  const decoder = new TextDecoder('utf-8', { fatal: true });
  // The first delimiter may start the body or follow a preamble line.
  let pos = body.subarray(0, delimiter.length).equals(delimiter) ? 0 : body.indexOf(Buffer.concat([Buffer.from('\r\n'), delimiter]));
  if (pos < 0) return undefined;
  if (pos > 0) pos += 2;
  for (;;) {
    pos += delimiter.length;
    if (body.subarray(pos, pos + 2).toString('latin1') === '--') return fields; // closing delimiter
    // Transport padding (spaces/tabs) may follow a delimiter before its CRLF.
    while (body[pos] === 0x20 || body[pos] === 0x09) pos++;
    if (body.subarray(pos, pos + 2).toString('latin1') !== '\r\n') return undefined;
    pos += 2;
    const headerEnd = body.indexOf('\r\n\r\n', pos);
    if (headerEnd < 0) return undefined;
    const headers = body.subarray(pos, headerEnd).toString('latin1').split('\r\n');
    const next = body.indexOf(Buffer.concat([Buffer.from('\r\n'), delimiter]), headerEnd + 4);
    if (next < 0) return undefined;
    let name: string | undefined;
    for (const h of headers) {
      const m = /^content-disposition\s*:\s*form-data\s*(;.*)?$/i.exec(h);
      if (m) name = headerParams(m[1] ?? '').get('name');
    }
    if (name === undefined) return undefined;
    let value: string;
    let fieldName: string;
    try {
      value = decoder.decode(body.subarray(headerEnd + 4, next));
      fieldName = decoder.decode(Buffer.from(name, 'latin1'));
    } catch {
      return undefined;
    }
    if (fields.has(fieldName)) return undefined;
    fields.set(fieldName, value);
    pos = next + 2;
  }
}

/** Parses an application/x-www-form-urlencoded body; undefined on a repeated field name. */
export function parseUrlEncoded(body: Buffer): Map<string, string> | undefined {
  const fields = new Map<string, string>();
  for (const [k, v] of new URLSearchParams(body.toString('utf8'))) {
    if (fields.has(k)) return undefined;
    fields.set(k, v);
  }
  return fields;
}

/** Decodes a form body by its Content-Type; undefined when the type or the body is unusable. */
export function parseForm(contentType: string | undefined, body: Buffer): Map<string, string> | undefined {
  const boundary = multipartBoundary(contentType);
  if (boundary) return parseMultipart(body, boundary);
  if (contentType && /^\s*application\/x-www-form-urlencoded\s*(;|$)/i.test(contentType)) return parseUrlEncoded(body);
  return undefined;
}
