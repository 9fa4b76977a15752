// How a Tahoe-LAFS 1.20 node (TwistedWeb 22.4) shapes its answers, as recorded in
// shared/reference/tahoe-webapi-samples: operation results are chunked text/html, t=json is
// text/plain with a Content-Length, known errors are text/plain;charset=utf-8, failures while
// walking a path are Twisted ErrorPages (always HTML), and any other exception is a 500 whose
// body is an HTML traceback unless the Accept header asks for neither */*, text/* nor text/html.
import type { IncomingMessage, ServerResponse } from 'node:http';

/** An error the node reports with a status code (Tahoe's WebError and humanized exceptions). */
export class CodedError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

/** A failure while walking a path: rendered as a Twisted ErrorPage (HTML whatever Accept says). */
export class PageError extends Error {
  constructor(readonly status: number, readonly brief: string, readonly detail: string) {
    super(`${brief}: ${detail}`);
  }
}

/** Any other exception: a 500 traceback. */
export class ExceptionError extends Error {
  constructor(readonly pythonClass: string, message = '') {
    super(message);
  }
}

export const notWriteable = () => new ExceptionError('allmydata.mutable.common.NotWriteableError');
export const assertionError = () => new ExceptionError('builtins.AssertionError');
export const existingChild = () => new CodedError(409, 'There was already a child by that name, and you asked me to not replace it.');
export const noSuchChild = (name: string) => new CodedError(404, `No such child: ${name}`);
export const noShares = () =>
  new CodedError(
    410,
    'NoSharesError: no shares could be found. Zero shares usually indicates a corrupt URI, or that no servers were connected, ' +
      'but it might also indicate severe corruption. You should perform a filecheck on this object to learn more.\n\n' +
      'The full error message is:\nno shares (need 2). Last failure: None',
  );
export const unrecoverable = () =>
  new CodedError(
    410,
    'UnrecoverableFileError: the directory (or mutable file) could not be retrieved, because there were insufficient good ' +
      'shares. This might indicate that no servers were connected, insufficient servers were connected, the URI was corrupt, ' +
      'or that shares have been lost due to server departure, hard drive failure, or disk corruption. You should perform a ' +
      'filecheck on this object to learn more.',
  );

const SAFE_HEADERS: Array<[string, string]> = [
  ['X-Frame-Options', 'DENY'],
  ['Referrer-Policy', 'no-referrer'],
  ['Server', 'TwistedWeb/22.4.0'],
];

export function baseHeaders(res: ServerResponse): void {
  for (const [k, v] of SAFE_HEADERS) res.setHeader(k, v);
  res.setHeader('Date', new Date().toUTCString());
}

/** A body with Content-Length (t=json, t=uri, coded errors, downloads). */
export function sendFixed(res: ServerResponse, status: number, contentType: string, body: Buffer | string, extra: Record<string, string> = {}): void {
  const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  res.statusCode = status;
  baseHeaders(res);
  res.setHeader('Content-Type', contentType);
  for (const [k, v] of Object.entries(extra)) res.setHeader(k, v);
  res.setHeader('Content-Length', String(bytes.length));
  res.end(res.req.method === 'HEAD' ? undefined : bytes);
}

/** A chunked body, the way Twisted sends a string a render method returned (text/html). */
export function sendChunked(res: ServerResponse, status: number, contentType: string, pieces: Array<string | Buffer>, extra: Record<string, string> = {}): void {
  res.statusCode = status;
  baseHeaders(res);
  res.setHeader('Content-Type', contentType);
  for (const [k, v] of Object.entries(extra)) res.setHeader(k, v);
  if (res.req.method === 'HEAD') {
    res.end();
    return;
  }
  for (const p of pieces) if (p.length) res.write(p);
  res.end();
}

/** An operation's result text ("thing moved", a cap, …): 200 unless given, chunked text/html. */
export function sendResult(res: ServerResponse, text: string, status = 200): void {
  sendChunked(res, status, 'text/html', [text]);
}

export function sendCoded(res: ServerResponse, err: CodedError, extra: Record<string, string> = {}): void {
  sendFixed(res, err.status, 'text/plain;charset=utf-8', err.message, extra);
}

const REASONS: Record<number, string> = { 400: 'Bad Request', 404: 'Not Found', 410: 'Gone', 500: 'Internal Server Error', 501: 'Not Implemented' };

/** twisted.web.resource.ErrorPage (22.4: no escaping, this exact template). */
export function errorPageBody(status: number, brief: string, detail: string): string {
  return `\n<html>\n  <head><title>${status} - ${brief}</title></head>\n  <body>\n    <h1>${brief}</h1>\n    <p>${detail}</p>\n  </body>\n</html>\n`;
}

export function sendPage(res: ServerResponse, err: PageError): void {
  sendFixed(res, err.status, 'text/html; charset=utf-8', errorPageBody(err.status, err.brief, err.detail));
}

const STYLE = `  <style type="text/css">
    div.error {
      color: red;
      font-family: Verdana, Arial, helvetica, sans-serif;
      font-weight: bold;
    }

    div {
      font-family: Verdana, Arial, helvetica, sans-serif;
    }

    div.stackTrace {
    }

    div.frame {
      padding: 1em;
      background: white;
      border-bottom: thin black dashed;
    }

    div.frame:first-child {
      padding: 1em;
      background: white;
      border-top: thin black dashed;
      border-bottom: thin black dashed;
    }

    div.location {
    }

    span.function {
      font-weight: bold;
      font-family: "Courier New", courier, monospace;
    }

    div.snippet {
      margin-bottom: 0.5em;
      margin-left: 1em;
      background: #FFFFDD;
    }

    div.snippetHighlightLine {
      color: red;
    }

    span.code {
      font-family: "Courier New", courier, monospace;
    }
  </style>
`;

function escapeHtml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** The 500 page of Tahoe's _renderHTTP_exception: HTML for browsers, a plain traceback otherwise. */
export function sendException(res: ServerResponse, req: IncomingMessage, err: ExceptionError): void {
  const accept = req.headers.accept || '*/*';
  if (accept.includes('*/*') || accept.includes('text/*') || accept.includes('text/html')) {
    const error = `  <div class="error">\n    <span>${escapeHtml(err.pythonClass)}</span>: <span>${escapeHtml(err.message)}</span>\n  </div>\n`;
    // Twisted's template renderer flushes many small pieces: the body arrives in many chunks.
    const page = `<!DOCTYPE html>\n<html><head><title>Exception</title></head><body><div>\n${STYLE}\n${error}  <div class="stackTrace">\n    \n  </div>\n${error}</div></body></html>`;
    sendChunked(res, 500, 'text/html', page.split(/(?<=\n)/));
    return;
  }
  const traceback =
    'Traceback (most recent call last):\n' +
    '  File "/usr/lib/python3/dist-packages/twisted/internet/defer.py", line 190, in maybeDeferred\n' +
    '    result = f(*args, **kwargs)\n' +
    `${err.pythonClass}: ${err.message}\n`;
  sendFixed(res, 500, 'text/plain;charset=utf-8', traceback);
}

export function sendNoResource(res: ServerResponse): void {
  sendFixed(res, 404, 'text/html; charset=utf-8', errorPageBody(404, 'No Such Resource', 'Sorry. No luck finding that resource.'));
}

export function sendNotImplemented(res: ServerResponse, method: string): void {
  sendFixed(res, 501, 'text/html; charset=utf-8', errorPageBody(501, 'Huh?', `I don't know how to treat a ${method} request.`));
}

/** Python's json.dumps(value, indent=1) (ensure_ascii) plus the newline Tahoe appends. */
export function pythonJson(value: unknown): string {
  return JSON.stringify(value, null, 1).replace(/[\u0080-\uffff]/g, (c) => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0')) + '\n';
}

export function reasonOf(status: number): string {
  return REASONS[status] ?? '';
}
