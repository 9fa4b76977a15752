// Request handling of the stand-in node: the subset of Tahoe-LAFS 1.20's web-API that lafsd's
// web-API backend uses (and that the recorded samples show), with Tahoe's rules: path walking
// with auto-created intermediate directories on PUT/POST, replace= and metadata semantics of
// the dirnode Adder, Range handling of FileDownloader, and the error shapes of web/common.py.
import { createReadStream } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { b32encode, parseCap, storageIndexOf } from '../../../src/caps/index.js';
import { packChildren } from '../../../src/grid/dirpack.js';
import { updateLinkMetadata } from '../../../src/grid/links.js';
import type { Metadata } from '../../../src/grid/types.js';
import {
  assertionError, CodedError, ExceptionError, existingChild, noShares, noSuchChild, notWriteable, PageError, pythonJson,
  sendChunked, sendCoded, sendException, sendFixed, sendNoResource, sendNotImplemented, sendPage, sendResult, unrecoverable,
} from './render.js';
import {
  linkFor, nodeFromCaps, readonlyNode, verifyCapOf, writeCapOf, type DirSlot, type FakeNode, type FakeState, type Link, type MutableFormat,
} from './state.js';

type Replace = boolean | 'only-files';
type Args = URLSearchParams;

/** Where a node was reached from: the directory and the name of its link. */
interface Edge {
  parent: FakeNode & { kind: 'dir' };
  name: string;
}

const SUPPORTED = new Set(['GET', 'HEAD', 'PUT', 'POST', 'DELETE', 'OPTIONS']);

// ---------------------------------------------------------------------------------------------
// Tahoe's argument parsing (web/common.py)

function booleanOfArg(value: string): boolean {
  const v = value.toLowerCase();
  if (['true', 't', '1', 'on'].includes(v)) return true;
  if (['false', 'f', '0', 'off'].includes(v)) return false;
  throw new CodedError(400, `invalid boolean argument: ${JSON.stringify(value)}`);
}

function parseReplace(value: string): Replace {
  return value === 'only-files' ? 'only-files' : booleanOfArg(value);
}

function getFormat(args: Args, dflt: 'CHK' | MutableFormat | undefined): 'CHK' | MutableFormat | undefined {
  const arg = args.get('format');
  if (!arg) return booleanOfArg(args.get('mutable') ?? 'false') ? 'SDMF' : dflt;
  const up = arg.toUpperCase();
  if (up === 'CHK' || up === 'SDMF' || up === 'MDMF') return up;
  throw new CodedError(400, `Unknown format: ${arg}, I know CHK, SDMF, MDMF`);
}

function tArg(args: Args): string {
  return (args.get('t') ?? '').trim();
}

/** Python's bytes.strip(): ASCII whitespace only. */
function pyStrip(s: string): string {
  return s.replace(/^[ \t\n\r\v\f]+|[ \t\n\r\v\f]+$/g, '');
}

async function readAll(req: IncomingMessage, limit = 64 * 1024 * 1024): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const c of req as AsyncIterable<Buffer>) {
    total += c.length;
    if (total > limit) throw new CodedError(413, 'FileTooLargeError: request body too large');
    chunks.push(c);
  }
  return Buffer.concat(chunks);
}

function mimeOf(name: string): string {
  const ext = /\.([^./]+)$/.exec(name)?.[1]?.toLowerCase();
  switch (ext) {
    case 'bin':
    case 'zip':
    case 'gz':
      return 'application/octet-stream';
    case 'html':
    case 'htm':
      return 'text/html';
    case 'json':
      return 'application/json';
    case 'png':
      return 'image/png';
    case 'jpg':
    case 'jpeg':
      return 'image/jpeg';
    default:
      return 'text/plain';
  }
}

// ---------------------------------------------------------------------------------------------

/**
 * What the real node does under concurrency and load, on demand (FakeTahoe's methods set it):
 * directory updates through another client node that overwrite ours although we got OK,
 * UncoordinatedWriteErrors, and uploads that the node stores slowly, stalls on, or hangs in.
 */
export interface Behaviour {
  /** The next N directory updates answer OK but are undone (a concurrent update through another node won). */
  loseUpdates: number;
  /** The next N directory updates fail with UncoordinatedWriteError; `applied`: they happened all the same. */
  conflicts: { count: number; applied: boolean };
  /**
   * After the next upload's last byte: 'hang' — the node stops answering anything (a stopped
   * process) until FakeTahoe.unfreeze(); 'stall' — it keeps answering but lists the upload on
   * its status page without progress, and never finishes; a number — it takes that many ms,
   * with the upload's progress growing on the status page meanwhile.
   */
  uploadCommit?: 'hang' | 'stall' | number;
  /** Set while the node is "hung" (see uploadCommit): every request waits for it. */
  frozen?: Promise<void>;
}

interface ActiveUpload {
  size: number;
  progress: number;
}

export class FakeTahoeHandler {
  readonly behaviour: Behaviour = { loseUpdates: 0, conflicts: { count: 0, applied: false } };
  private unfreezeFn?: () => void;
  private readonly activeUploads = new Set<ActiveUpload>();

  constructor(private readonly state: FakeState) {}

  /** Ends a 'hang' (see Behaviour.uploadCommit). */
  unfreeze(): void {
    this.unfreezeFn?.();
    this.unfreezeFn = undefined;
    this.behaviour.frozen = undefined;
  }

  /** Tahoe's /status/?t=json: the uploads in progress. */
  private statusJson(res: ServerResponse): void {
    const active = [...this.activeUploads].map((u) => ({
      'storage-index-string': null, 'total-size': u.size, status: 'pushing shares', type: 'upload',
      'progress-hash': Math.min(1, u.progress * 3), 'progress-ciphertext': Math.min(1, u.progress * 3), 'progress-encode-push': u.progress,
    }));
    sendFixed(res, 200, 'application/json', pythonJson({ active, recent: [] }));
  }

  /** An upload's body has arrived: behave as Behaviour.uploadCommit says before answering. */
  private async commitUpload(size: number): Promise<void> {
    const mode = this.behaviour.uploadCommit;
    if (mode === undefined) return;
    this.behaviour.uploadCommit = undefined;
    if (mode === 'hang') {
      this.behaviour.frozen = new Promise<void>((resolve) => (this.unfreezeFn = resolve));
      await this.behaviour.frozen;
      return;
    }
    const upload: ActiveUpload = { size, progress: 0 };
    this.activeUploads.add(upload);
    try {
      if (mode === 'stall') {
        await new Promise(() => {}); // never: the request is dropped when the node stops
      }
      const steps = 20;
      for (let i = 1; i <= steps; i++) {
        await new Promise((r) => setTimeout(r, (mode as number) / steps));
        upload.progress = i / steps;
      }
    } finally {
      this.activeUploads.delete(upload);
    }
  }

  /**
   * Runs a directory update as Behaviour says: applied and answered (normally), undone after an
   * OK answer (lost), or answered with an UncoordinatedWriteError (applied or not).
   */
  private async directoryUpdate(apply: () => Promise<void>): Promise<void> {
    const snapshot = () => new Map([...this.state.dirs].map(([si, slot]) => [si, new Map(slot.children)]));
    const restore = (saved: Map<string, Map<string, Link>>) => {
      for (const [si, children] of saved) {
        const slot = this.state.dirs.get(si);
        if (slot) slot.children = children;
      }
    };
    const c = this.behaviour.conflicts;
    if (c.count > 0) {
      c.count--;
      const saved = snapshot();
      await apply().catch(() => {});
      if (!c.applied) restore(saved);
      throw new ExceptionError('allmydata.mutable.common.UncoordinatedWriteError', 'I was surprised!');
    }
    if (this.behaviour.loseUpdates > 0) {
      this.behaviour.loseUpdates--;
      const saved = snapshot();
      await apply();
      restore(saved);
      return;
    }
    await apply();
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const method = req.method ?? 'GET';
    try {
      if (!SUPPORTED.has(method)) {
        sendNotImplemented(res, method);
        return;
      }
      const url = new URL(req.url ?? '/', 'http://fake');
      const args = url.searchParams;
      // Twisted splits the raw path on '/' and unquotes each segment.
      const segments = url.pathname.split('/').slice(1).map((s) => decodeURIComponent(s));
      if (segments.length === 1 && segments[0] === '') return await this.welcome(req, res, args);
      if (segments[0] === 'status' && segments.length <= 2 && (segments[1] ?? '') === '' && tArg(args) === 'json') {
        req.resume();
        return this.statusJson(res);
      }
      const [root, ...rest] = segments;
      if (root === 'uri' || root === 'cap') {
        if (rest.length === 0 || (rest.length === 1 && rest[0] === '')) return await this.uriRoot(req, res, args, url);
        return await this.capPath(req, res, args, rest[0]!, rest.slice(1));
      }
      if (root === 'named' && rest.length >= 1) return await this.named(req, res, args, rest[0]!, rest.slice(1));
      sendNoResource(res);
    } catch (err) {
      this.fail(req, res, err);
    }
  }

  private fail(req: IncomingMessage, res: ServerResponse, err: unknown): void {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    req.resume(); // an unread request body must not hold the connection
    if (err instanceof CodedError) sendCoded(res, err);
    else if (err instanceof PageError) sendPage(res, err);
    else if (err instanceof ExceptionError) sendException(res, req, err);
    else sendException(res, req, new ExceptionError('builtins.Exception', err instanceof Error ? err.message : String(err)));
  }

  // --- the welcome page -------------------------------------------------------------------

  private async welcome(req: IncomingMessage, res: ServerResponse, args: Args): Promise<void> {
    req.resume();
    if (tArg(args) !== 'json') {
      sendChunked(res, 200, 'text/html;charset=utf-8', ['<!DOCTYPE html>\n<html><head><title>Tahoe-LAFS - Welcome</title></head><body></body></html>\n']);
      return;
    }
    const now = Date.now() / 1000;
    const servers = [1, 2, 3].map((i) => ({
      nodeid: `v0-fake${'a'.repeat(45)}${i}`,
      connection_status: `Connected to tcp:127.0.0.1:4419${i} via tcp`,
      available_space: 83149272576,
      nickname: `storage${i}`,
      version: 'tahoe-lafs/1.20.0',
      last_received_data: now,
    }));
    const body = pythonJson({ introducers: { statuses: ['Connected to tcp:127.0.0.1:44190 via tcp'] }, servers }).replace(/\n$/, '');
    sendChunked(res, 200, 'application/json; charset=utf-8', [body]);
  }

  // --- /uri -------------------------------------------------------------------------------

  private async uriRoot(req: IncomingMessage, res: ServerResponse, args: Args, url: URL): Promise<void> {
    const method = req.method!;
    const t = tArg(args);
    if ((method === 'GET' || method === 'HEAD') && args.has('uri')) {
      req.resume();
      const location = `${url.protocol}//${req.headers.host ?? 'fake'}/uri/${encodeURIComponent(args.get('uri')!)}`;
      const body = `\n<html>\n    <head>\n        <meta http-equiv="refresh" content="0;URL=${location}">\n    </head>\n    <body bgcolor="#FFFFFF" text="#000000">\n    <a href="${location}">click here</a>\n    </body>\n</html>\n`;
      sendChunked(res, 302, 'text/html; charset=utf-8', [body], { Location: location });
      return;
    }
    if (method === 'PUT' && t === '') {
      // Unlinked upload (web/unlinked.py): CHK by default, or a new mutable file.
      const format = getFormat(args, 'CHK');
      if (format === 'CHK') {
        const cap = await this.state.storeImmutable(req);
        await this.commitUpload(sizeOfCap(cap));
        sendResult(res, cap);
      } else sendResult(res, this.state.newMutableFile(format!, await readAll(req)));
      return;
    }
    if ((method === 'PUT' || method === 'POST') && t === 'mkdir') {
      req.resume();
      const format = getFormat(args, undefined);
      sendResult(res, this.state.newDirectory(format === 'MDMF' ? 'MDMF' : 'SDMF'));
      return;
    }
    if (method === 'POST' && t === 'mkdir-with-children') {
      const kids = this.childrenFromJson(await readAll(req), false);
      const children = new Map<string, Link>();
      const now = Date.now() / 1000;
      for (const [name, { node, metadata }] of kids) children.set(name, linkFor(node, updateLinkMetadata(undefined, metadata, now)));
      const format = getFormat(args, undefined);
      sendResult(res, this.state.newDirectory(format === 'MDMF' ? 'MDMF' : 'SDMF', children));
      return;
    }
    if (method === 'POST' && t === 'mkdir-immutable') {
      const kids = this.childrenFromJson(await readAll(req), true);
      const now = Date.now() / 1000;
      const packed = packChildren(
        [...kids].map(([name, { node, metadata }]) => ({ name, readCap: node.ro ?? '', metadata: updateLinkMetadata(undefined, metadata, now) })),
      );
      sendResult(res, await this.state.storeImmutableDirectory(packed));
      return;
    }
    req.resume();
    throw new CodedError(400, '/uri accepts only PUT, PUT?t=mkdir, POST?t=upload, and POST?t=mkdir');
  }

  /** convert_children_json: `{name: [type, {rw_uri?, ro_uri?, metadata?}]}`; not JSON → 500. */
  private childrenFromJson(body: Buffer, immutable: boolean): Map<string, { node: FakeNode; metadata: Metadata | undefined }> {
    const out = new Map<string, { node: FakeNode; metadata: Metadata | undefined }>();
    if (body.length === 0) return out;
    let data: unknown;
    try {
      data = JSON.parse(body.toString('utf8'));
    } catch (err) {
      throw new ExceptionError('json.decoder.JSONDecodeError', 'Expecting value: line 1 column 1 (char 0)');
    }
    if (!data || typeof data !== 'object' || Array.isArray(data)) throw new ExceptionError('builtins.AttributeError', 'not a dict');
    for (const [name, value] of Object.entries(data as Record<string, unknown>)) {
      if (!Array.isArray(value) || value.length !== 2) throw new ExceptionError('builtins.ValueError', 'too many values to unpack');
      const props = (value[1] ?? {}) as Record<string, unknown>;
      const rw = typeof props.rw_uri === 'string' ? props.rw_uri : undefined;
      const ro = typeof props.ro_uri === 'string' ? props.ro_uri : undefined;
      const metadata = props.metadata && typeof props.metadata === 'object' ? (props.metadata as Metadata) : undefined;
      let node = nodeFromCaps(rw, ro, name);
      if (immutable && (node.kind === 'unknown' || node.mutable)) {
        throw new CodedError(400, `MustBeDeepImmutableError: mkdir-immutable was given a child '${name}' that is not immutable`);
      }
      if (node.kind === 'unknown' && node.error) throw new CodedError(400, node.error);
      if (immutable) node = readonlyNode(node);
      out.set(name.normalize('NFC'), { node, metadata });
    }
    return out;
  }

  // --- walking /uri/$CAP/a/b/c --------------------------------------------------------------

  private async dirSlot(node: FakeNode & { kind: 'dir' }): Promise<DirSlot | undefined> {
    if (node.mutable) return this.state.dirs.get(node.si);
    const children = await this.state.immutableChildren(node.cap);
    return children && { format: 'SDMF', children };
  }

  private async childrenOf(node: FakeNode & { kind: 'dir' }): Promise<Map<string, Link>> {
    const slot = await this.dirSlot(node);
    if (!slot) throw node.mutable ? unrecoverable() : noShares();
    return slot.children;
  }

  private childNode(parent: FakeNode & { kind: 'dir' }, link: Link, name: string): FakeNode {
    // Through a read-only directory, children are reachable only by their read caps.
    const writable = writeCapOf(parent) !== undefined || !parent.mutable;
    const node = nodeFromCaps(writable ? link.rw : undefined, link.ro, name);
    return writable ? node : readonlyNode(node);
  }

  /** The shared part of Tahoe's dirnode Adder: replace rule, update_metadata, no-write diminishing. */
  private addLinks(parent: FakeNode & { kind: 'dir' }, entries: Array<[string, FakeNode, Metadata | undefined]>, replace: Replace): void {
    if (!parent.mutable || !parent.rw) throw notWriteable();
    const slot = this.state.dirs.get(parent.si);
    if (!slot) throw unrecoverable();
    const staged: Array<[string, Link]> = [];
    const now = Date.now() / 1000;
    for (const [rawName, child, newMetadata] of entries) {
      const name = rawName.normalize('NFC');
      if (child.kind === 'unknown' && child.error) throw new CodedError(400, child.error);
      const existing = slot.children.get(name);
      if (existing) {
        if (!replace) throw existingChild();
        if (replace === 'only-files' && nodeFromCaps(existing.rw, existing.ro).kind === 'dir') throw existingChild();
      }
      const metadata = updateLinkMetadata(existing && structuredClone(existing.metadata), newMetadata && structuredClone(newMetadata), now);
      const stored = metadata['no-write'] === true ? readonlyNode(child) : child;
      staged.push([name, linkFor(stored, metadata)]);
    }
    for (const [name, link] of staged) slot.children.set(name, link);
  }

  private async capPath(req: IncomingMessage, res: ServerResponse, args: Args, capText: string, path: string[]): Promise<void> {
    const method = req.method!;
    const t = tArg(args);
    let node = nodeFromCaps(capText, undefined);
    if (node.kind === 'unknown' && node.error) node = { kind: 'unknown' }; // opaque, as Tahoe's UnknownNode with an error
    let edge: Edge | undefined;
    const createIntermediate = (method === 'PUT' || method === 'POST') && !['delete', 'rename', 'rename-form', 'check'].includes(t);
    for (let i = 0; i < path.length; i++) {
      const name = path[i]!;
      const nonterminal = i < path.length - 1;
      if (name === '') throw new CodedError(400, 'The webapi does not allow empty pathname components, i.e. a double slash');
      if (node.kind === 'file') throw new PageError(400, `Files have no children named '${name}'`, 'no details');
      if (node.kind === 'unknown') throw new PageError(404, 'No Such Resource', 'Sorry. No luck finding that resource.');
      let children: Map<string, Link>;
      try {
        children = await this.childrenOf(node);
      } catch (err) {
        if (err instanceof CodedError) throw new PageError(err.status, 'Error', err.message);
        throw err;
      }
      const nfc = name.normalize('NFC');
      const link = children.get(nfc);
      if (link) {
        edge = { parent: node, name: nfc };
        node = this.childNode(node, link, nfc);
        continue;
      }
      // No child by this name: what Tahoe does about it depends on the request.
      if (nonterminal) {
        if (!createIntermediate) throw new PageError(404, 'Error', `No such child: ${nfc}`);
        const cap = this.state.newDirectory();
        this.addLinks(node, [[nfc, nodeFromCaps(cap, undefined), undefined]], true);
        edge = { parent: node, name: nfc };
        node = nodeFromCaps(cap, undefined);
        continue;
      }
      if (((method === 'POST' || method === 'PUT') && t === 'mkdir') || (method === 'POST' && t === 'mkdir-with-children')) {
        // The final directory of the path is created (with its initial children), then asked
        // the request, which for a directory without name= answers its own cap.
        const kids = t === 'mkdir-with-children' ? this.childrenFromJson(await readAll(req), false) : (req.resume(), new Map());
        const format = getFormat(args, undefined);
        if (!node.mutable || !node.rw) throw notWriteable();
        const now = Date.now() / 1000;
        const children = new Map<string, Link>();
        for (const [n, { node: kid, metadata }] of kids) children.set(n, linkFor(kid, updateLinkMetadata(undefined, metadata, now)));
        const cap = this.state.newDirectory(format === 'MDMF' ? 'MDMF' : 'SDMF', children);
        this.addLinks(node, [[nfc, nodeFromCaps(cap, undefined), undefined]], true);
        sendResult(res, cap);
        return;
      }
      if (method === 'PUT' && (t === '' || t === 'uri')) {
        return await this.putPlaceholder(req, res, args, node, nfc);
      }
      throw new PageError(404, 'Error', `No such child: ${nfc}`);
    }
    if (node.kind === 'dir') return await this.onDirectory(req, res, args, node, edge);
    if (node.kind === 'file') return await this.onFile(req, res, args, node, edge, path[path.length - 1] ?? capText);
    return await this.onUnknown(req, res, args, node, edge);
  }

  private async named(req: IncomingMessage, res: ServerResponse, args: Args, capText: string, rest: string[]): Promise<void> {
    const node = nodeFromCaps(capText, undefined);
    if (node.kind !== 'file' || (req.method !== 'GET' && req.method !== 'HEAD')) return this.capPath(req, res, args, capText, rest);
    return this.download(req, res, node, rest[rest.length - 1] ?? capText);
  }

  // --- a missing leaf that a PUT creates --------------------------------------------------

  private async putPlaceholder(req: IncomingMessage, res: ServerResponse, args: Args, parent: FakeNode & { kind: 'dir' }, name: string): Promise<void> {
    const replace = parseReplace(args.get('replace') ?? 'true');
    if (!parent.mutable || !parent.rw) {
      req.resume();
      throw notWriteable();
    }
    if (tArg(args) === 'uri') {
      const cap = (await readAll(req)).toString('utf8').trim();
      this.addLinks(parent, [[name, nodeFromCaps(cap, undefined, name), undefined]], replace);
      sendResult(res, cap);
      return;
    }
    const cap = await this.upload(req, args);
    const existed = (await this.childrenOf(parent)).has(name);
    this.addLinks(parent, [[name, nodeFromCaps(cap, undefined), undefined]], replace);
    sendResult(res, cap, existed ? 200 : 201);
  }

  private async upload(req: IncomingMessage, args: Args): Promise<string> {
    const format = getFormat(args, 'CHK');
    if (format === 'CHK') return this.state.storeImmutable(req);
    return this.state.newMutableFile(format!, await readAll(req));
  }

  // --- directories ------------------------------------------------------------------------

  private async onDirectory(req: IncomingMessage, res: ServerResponse, args: Args, dir: FakeNode & { kind: 'dir' }, edge: Edge | undefined): Promise<void> {
    const method = req.method!;
    const t = tArg(args);
    if (method === 'GET' || method === 'HEAD') {
      req.resume();
      if (t === 'json') {
        const children = await this.childrenOf(dir);
        sendFixed(res, 200, 'text/plain', await this.dirJson(dir, children));
        return;
      }
      if (t === 'uri') return sendFixed(res, 200, 'text/plain', writeCapOf(dir) ?? dir.ro);
      if (t === 'readonly-uri') return sendFixed(res, 200, 'text/plain', dir.ro);
      if (t === '') {
        const children = await this.childrenOf(dir);
        sendChunked(res, 200, 'text/html;charset=utf-8', [`<!DOCTYPE html>\n<html><body><ul>${[...children.keys()].map((n) => `<li>${n}</li>`).join('')}</ul></body></html>\n`]);
        return;
      }
      throw new CodedError(400, `GET directory: bad t=${t}`);
    }
    if (method === 'DELETE') {
      req.resume();
      if (!edge) throw assertionError();
      return this.deleteVia(res, edge, dir);
    }
    if (method === 'PUT') {
      if (t === 'mkdir') {
        req.resume();
        sendResult(res, writeCapOf(dir) ?? dir.ro);
        return;
      }
      if (t === 'uri' && edge) {
        const cap = (await readAll(req)).toString('utf8').trim();
        const replace = parseReplace(args.get('replace') ?? 'true');
        if (!replace) throw existingChild();
        this.addLinks(edge.parent, [[edge.name, nodeFromCaps(cap, undefined, edge.name), undefined]], replace);
        sendResult(res, cap);
        return;
      }
      req.resume();
      throw new CodedError(400, 'PUT to a directory');
    }
    if (method === 'POST') return this.postDirectory(req, res, args, dir);
    req.resume();
    throw new CodedError(405, 'Method Not Allowed');
  }

  private async postDirectory(req: IncomingMessage, res: ServerResponse, args: Args, dir: FakeNode & { kind: 'dir' }): Promise<void> {
    const t = tArg(args);
    switch (t) {
      case 'mkdir':
      case 'mkdir-with-children': {
        const body = t === 'mkdir-with-children' ? await readAll(req) : (req.resume(), Buffer.alloc(0));
        const name = args.get('name') ?? '';
        if (!name) {
          sendResult(res, writeCapOf(dir) ?? dir.ro);
          return;
        }
        const replace = booleanOfArg(args.get('replace') ?? 'true'); // Tahoe's mkdir: a plain boolean
        const kids = this.childrenFromJson(body, false);
        const now = Date.now() / 1000;
        const children = new Map<string, Link>();
        for (const [n, { node, metadata }] of kids) children.set(n, linkFor(node, updateLinkMetadata(undefined, metadata, now)));
        const format = getFormat(args, undefined);
        if (!dir.mutable || !dir.rw) throw notWriteable();
        const cap = this.state.newDirectory(format === 'MDMF' ? 'MDMF' : 'SDMF', children);
        await this.directoryUpdate(async () => this.addLinks(dir, [[name, nodeFromCaps(cap, undefined), undefined]], replace));
        sendResult(res, cap);
        return;
      }
      case 'set_children':
      case 'set-children': {
        const replace = parseReplace(args.get('replace') ?? 'true');
        const kids = this.childrenFromJson(await readAll(req), false);
        await this.directoryUpdate(async () => {
          this.addLinks(dir, [...kids].map(([name, { node, metadata }]) => [name, node, metadata] as [string, FakeNode, Metadata | undefined]), replace);
        });
        sendResult(res, 'Okay so I did it.');
        return;
      }
      case 'unlink':
      case 'delete': {
        req.resume();
        const name = (args.get('name') ?? '').normalize('NFC');
        if (!dir.mutable || !dir.rw) throw notWriteable();
        const children = await this.childrenOf(dir);
        await this.directoryUpdate(async () => {
          if (!children.delete(name)) throw noSuchChild(name);
        });
        sendResult(res, 'thing unlinked');
        return;
      }
      case 'rename':
      case 'relink':
        req.resume();
        return this.directoryUpdate(() => this.relink(res, args, dir, t));
      case 'uri': {
        req.resume();
        const name = args.get('name') ?? '';
        const cap = (args.get('uri') ?? '').trim();
        const replace = parseReplace(args.get('replace') ?? 'true');
        this.addLinks(dir, [[name, nodeFromCaps(cap, undefined, name), undefined]], replace);
        sendResult(res, cap);
        return;
      }
      case 'upload':
        return this.formUpload(req, res, args, dir);
      default:
        req.resume();
        throw new CodedError(400, `POST to a directory with bad t=${t}`);
    }
  }

  /** `_POST_relink`: names stripped, no slashes, to_dir = cap[/path], then move_child_to. */
  private async relink(res: ServerResponse, args: Args, dir: FakeNode & { kind: 'dir' }, t: string): Promise<void> {
    const replace = parseReplace(args.get('replace') ?? 'true');
    const fromArg = args.get('from_name');
    if (fromArg === null) throw new CodedError(400, 'from_name= is required');
    const fromName = pyStrip(fromArg).normalize('NFC');
    const toArg = args.get('to_name');
    const toName = toArg === null ? fromName : pyStrip(toArg).normalize('NFC');
    if (fromName.includes('/')) throw new CodedError(400, 'from_name= may not contain a slash');
    if (toName.includes('/')) throw new CodedError(400, 'to_name= may not contain a slash');
    let target: FakeNode = dir;
    const toDir = args.get('to_dir');
    if (t === 'relink' && toDir !== null && toDir !== writeCapOf(dir)) {
      const [rootCap, ...rest] = pyStrip(toDir).split('/');
      target = nodeFromCaps(rootCap, undefined);
      if (target.kind !== 'dir') throw new CodedError(400, 'to_dir is not a directory');
      for (const seg of rest) {
        if (target.kind !== 'dir') throw new CodedError(400, 'to_dir is not a directory');
        const link = (await this.childrenOf(target)).get(seg.normalize('NFC'));
        if (!link) throw noSuchChild(seg);
        target = this.childNode(target, link, seg);
      }
      if (target.kind !== 'dir') throw new CodedError(400, 'to_dir is not a directory');
    }
    const to = target as FakeNode & { kind: 'dir' };
    // dirnode.move_child_to
    if (!dir.mutable || !dir.rw || !to.mutable || !to.rw) throw notWriteable();
    if (to.rw === dir.rw && toName === fromName) {
      sendResult(res, 'thing moved');
      return;
    }
    const source = (await this.childrenOf(dir)).get(fromName);
    if (!source) throw noSuchChild(fromName);
    this.addLinks(to, [[toName, nodeFromCaps(source.rw, source.ro, fromName), structuredClone(source.metadata)]], replace);
    (await this.childrenOf(dir)).delete(fromName);
    sendResult(res, 'thing moved');
  }

  /** POST t=upload with a multipart/form-data `file` field (the browser form). */
  private async formUpload(req: IncomingMessage, res: ServerResponse, args: Args, dir: FakeNode & { kind: 'dir' }): Promise<void> {
    const body = await readAll(req);
    const boundary = /boundary=(?:"([^"]+)"|([^;]+))/.exec(req.headers['content-type'] ?? '');
    const b = boundary?.[1] ?? boundary?.[2];
    if (!b) throw new CodedError(400, 'upload requires a multipart/form-data body');
    const parts = body.toString('latin1').split(`--${b}`);
    const part = parts.find((p) => /name="file"/.test(p));
    if (!part) throw new CodedError(400, 'upload requires a file= field');
    const headerEnd = part.indexOf('\r\n\r\n');
    const filename = /filename="([^"]*)"/.exec(part.slice(0, headerEnd))?.[1] ?? '';
    const content = Buffer.from(part.slice(headerEnd + 4).replace(/\r\n$/, ''), 'latin1');
    const name = (args.get('name') ?? Buffer.from(filename, 'latin1').toString('utf8')).normalize('NFC');
    const format = getFormat(args, 'CHK');
    const cap = format === 'CHK' ? await this.state.storeImmutable(content) : this.state.newMutableFile(format!, content);
    this.addLinks(dir, [[name, nodeFromCaps(cap, undefined), undefined]], parseReplace(args.get('replace') ?? 'true'));
    sendResult(res, cap);
  }

  private async deleteVia(res: ServerResponse, edge: Edge, node: FakeNode): Promise<void> {
    if (!edge.parent.mutable || !edge.parent.rw) throw notWriteable();
    const children = await this.childrenOf(edge.parent);
    if (!children.delete(edge.name)) throw noSuchChild(edge.name);
    sendResult(res, writeCapOf(node) ?? node.ro ?? '');
  }

  // --- JSON (web/directory.py DirectoryJSONMetadata, web/filenode.py FileJSONMetadata) ---------

  private fileProps(node: FakeNode & { kind: 'file' }, withMutableSize: boolean): Record<string, unknown> {
    if (!node.mutable) return { mutable: false, format: 'CHK', size: node.cap.type === 'LIT' ? node.cap.data.length : node.cap.size };
    const props: Record<string, unknown> = { mutable: true, format: node.format };
    if (withMutableSize) {
      const slot = this.state.mutables.get(node.si);
      if (slot) props.size = slot.data.length;
    }
    return props;
  }

  private async dirJson(dir: FakeNode & { kind: 'dir' }, children: Map<string, Link>): Promise<string> {
    const kids: Record<string, [string, Record<string, unknown>]> = {};
    for (const name of [...children.keys()].sort()) {
      const child = this.childNode(dir, children.get(name)!, name);
      let data: [string, Record<string, unknown>];
      if (child.kind === 'file') data = ['filenode', this.fileProps(child, false)];
      else if (child.kind === 'dir') data = ['dirnode', { mutable: child.mutable }];
      else data = ['unknown', {}];
      data[1].metadata = children.get(name)!.metadata;
      const rw = writeCapOf(child);
      if (rw) data[1].rw_uri = rw;
      if (child.ro) data[1].ro_uri = !dir.mutable && child.kind === 'unknown' ? child.ro.replace(/^ro\./, 'imm.') : child.ro;
      const v = verifyCapOf(child);
      if (v) data[1].verify_uri = v;
      kids[name] = data;
    }
    const contents: Record<string, unknown> = { children: kids };
    contents.ro_uri = dir.ro;
    const rw = writeCapOf(dir);
    if (rw) contents.rw_uri = rw;
    const v = verifyCapOf(dir);
    if (v) contents.verify_uri = v;
    contents.mutable = dir.mutable;
    return pythonJson(['dirnode', contents]);
  }

  private fileJson(node: FakeNode & { kind: 'file' }, edge: Edge | undefined, metadata: Metadata | undefined): string {
    const props = this.fileProps(node, true);
    props.ro_uri = node.ro;
    const rw = writeCapOf(node);
    if (rw) props.rw_uri = rw;
    const v = verifyCapOf(node);
    if (v) props.verify_uri = v;
    if (edge && metadata) props.metadata = metadata;
    return pythonJson(['filenode', props]);
  }

  // --- files ------------------------------------------------------------------------------

  private async exists(node: FakeNode & { kind: 'file' }): Promise<void> {
    if (node.mutable) {
      if (!this.state.mutables.has(node.si)) throw unrecoverable();
    } else if (node.cap.type === 'CHK' && !this.state.immutables.has(storageIndexOf(node.cap)!.toString('hex'))) {
      throw noShares();
    }
  }

  private async onFile(req: IncomingMessage, res: ServerResponse, args: Args, node: FakeNode & { kind: 'file' }, edge: Edge | undefined, name: string): Promise<void> {
    const method = req.method!;
    const t = tArg(args);
    if (method === 'GET' || method === 'HEAD') {
      req.resume();
      if (t === 'json') {
        await this.exists(node);
        const metadata = edge ? (await this.childrenOf(edge.parent)).get(edge.name)?.metadata : undefined;
        const etag = !node.mutable && node.cap.type === 'CHK' ? { ETag: `${this.etagOf(node)}-json` } : undefined;
        sendFixed(res, 200, 'text/plain', this.fileJson(node, edge, metadata), etag);
        return;
      }
      if (t === 'uri') return sendFixed(res, 200, 'text/plain', writeCapOf(node) ?? node.ro);
      if (t === 'readonly-uri') return sendFixed(res, 200, 'text/plain', node.ro);
      if (t !== '') throw new CodedError(400, `bad t=${t}`);
      return this.download(req, res, node, name);
    }
    if (method === 'PUT') return this.putFile(req, res, args, node, edge);
    if (method === 'DELETE') {
      req.resume();
      if (!edge) throw assertionError();
      return this.deleteVia(res, edge, node);
    }
    if (method === 'POST') {
      req.resume();
      throw new CodedError(400, `POST to file: bad t=${t}`);
    }
    req.resume();
    throw new CodedError(405, 'Method Not Allowed');
  }

  /** Tahoe's ETag of an immutable file: its storage index in base32. */
  private etagOf(node: FakeNode & { kind: 'file'; mutable: false }): string {
    const si = storageIndexOf(node.cap);
    return si ? b32encode(si) : '';
  }

  /** filenode.py render_PUT. */
  private async putFile(req: IncomingMessage, res: ServerResponse, args: Args, node: FakeNode & { kind: 'file' }, edge: Edge | undefined): Promise<void> {
    const t = tArg(args);
    const replace = parseReplace(args.get('replace') ?? 'true');
    if (t === '') {
      if (!replace) {
        req.resume();
        throw existingChild(); // the early trap
      }
      if (node.mutable) {
        if (!node.rw) {
          req.resume();
          throw new CodedError(400, 'PUT to a mutable file: replace or update requested with read-only cap');
        }
        if (args.has('offset')) throw new CodedError(501, 'offset= is not supported by this stand-in');
        const slot = this.state.mutables.get(node.si);
        if (!slot) {
          req.resume();
          throw unrecoverable();
        }
        slot.data = await readAll(req);
        sendResult(res, node.rw);
        return;
      }
      if (args.has('offset')) {
        req.resume();
        throw new CodedError(400, 'PUT to a file: append operation invoked on an immutable cap');
      }
      if (!edge) {
        req.resume();
        throw assertionError();
      }
      if (!edge.parent.mutable || !edge.parent.rw) {
        req.resume();
        throw notWriteable();
      }
      const cap = await this.upload(req, args);
      this.addLinks(edge.parent, [[edge.name, nodeFromCaps(cap, undefined), undefined]], replace);
      sendResult(res, cap, 200);
      return;
    }
    if (t === 'uri') {
      const cap = (await readAll(req)).toString('utf8').trim();
      if (!replace) throw existingChild();
      if (!edge) throw assertionError();
      this.addLinks(edge.parent, [[edge.name, nodeFromCaps(cap, undefined, edge.name), undefined]], replace);
      sendResult(res, cap);
      return;
    }
    req.resume();
    throw new CodedError(400, `PUT to a file: bad t=${t}`);
  }

  /** FileDownloader.render: Range handling exactly as Tahoe's parse_range_header does it. */
  private async download(req: IncomingMessage, res: ServerResponse, node: FakeNode & { kind: 'file' }, name: string): Promise<void> {
    let size: number;
    let data: Buffer | undefined;
    let path: string | undefined;
    if (node.mutable) {
      const slot = this.state.mutables.get(node.si);
      if (!slot) throw unrecoverable();
      data = slot.data;
      size = data.length;
    } else if (node.cap.type === 'LIT') {
      data = node.cap.data;
      size = data.length;
    } else {
      size = node.cap.size;
      const blob = this.state.immutables.get(storageIndexOf(node.cap)!.toString('hex'));
      path = blob?.path;
    }
    const headers: Record<string, string> = { 'Accept-Ranges': 'bytes' };
    if (!node.mutable && node.cap.type === 'CHK' && req.method !== 'HEAD') headers.ETag = `${this.etagOf(node)}-`;
    if (!node.mutable && node.cap.type === 'CHK' && !path) {
      sendCoded(res, noShares(), headers);
      return;
    }
    const ranges = parseRangeHeader(req.headers.range, size);
    let first = 0;
    let last = size - 1;
    let status = 200;
    if (ranges) {
      [first, last] = ranges[0]!;
      if (first >= size) {
        sendCoded(res, new CodedError(416, 'First beyond end of file'), headers);
        return;
      }
      first = Math.max(0, first);
      last = Math.min(size - 1, last);
      status = 206;
      headers['Content-Range'] = `bytes ${first}-${last}/${size}`;
    }
    const length = Math.max(0, last - first + 1);
    res.statusCode = status;
    sendHeadersOnly(res, mimeOf(name), length, headers);
    if (req.method === 'HEAD' || length === 0) {
      res.end();
      return;
    }
    if (data) {
      res.end(data.subarray(first, last + 1));
      return;
    }
    const stream = createReadStream(path!, { start: first, end: last });
    stream.on('error', () => res.destroy());
    res.on('close', () => stream.destroy());
    stream.pipe(res);
  }

  // --- unknown nodes ----------------------------------------------------------------------

  private async onUnknown(req: IncomingMessage, res: ServerResponse, args: Args, node: FakeNode & { kind: 'unknown' }, edge: Edge | undefined): Promise<void> {
    const t = tArg(args);
    req.resume();
    if ((req.method === 'GET' || req.method === 'HEAD') && t === 'json') {
      const props: Record<string, unknown> = {};
      if (edge) props.metadata = (await this.childrenOf(edge.parent)).get(edge.name)?.metadata ?? {};
      if (node.rw && (!edge || edge.parent.mutable)) props.rw_uri = node.rw;
      if (node.ro) props.ro_uri = node.ro;
      sendFixed(res, 200, 'text/plain', pythonJson(['unknown', props]));
      return;
    }
    if (req.method === 'GET' || req.method === 'HEAD') {
      throw new CodedError(400, `GET unknown URI type: can only do t=info and t=json, not t=${t}.\nUsing a webapi server that supports a later version of Tahoe may help.`);
    }
    if (req.method === 'DELETE' && edge) return this.deleteVia(res, edge, node);
    throw new CodedError(400, `${req.method} unknown URI type: not supported by this stand-in`);
  }
}

function sendHeadersOnly(res: ServerResponse, contentType: string, length: number, headers: Record<string, string>): void {
  res.setHeader('X-Frame-Options', 'DENY');
  res.setHeader('Referrer-Policy', 'no-referrer');
  res.setHeader('Server', 'TwistedWeb/22.4.0');
  res.setHeader('Date', new Date().toUTCString());
  res.setHeader('Content-Type', contentType);
  for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
  res.setHeader('Content-Length', String(length));
}

/**
 * filenode.py parse_range_header: `bytes=a-b`, `a-`, `-n`, comma-separated; None (ignore the
 * header) when it does not parse or when last < first, which includes an open range starting
 * past the end of the file.
 */
export function parseRangeHeader(header: string | undefined, size: number): Array<[number, number]> | undefined {
  if (!header) return undefined;
  const eq = header.indexOf('=');
  if (eq < 0 || header.slice(0, eq) !== 'bytes') return undefined;
  const out: Array<[number, number]> = [];
  for (const r of header.slice(eq + 1).split(',')) {
    const dash = r.indexOf('-');
    if (dash < 0) return undefined;
    const a = r.slice(0, dash);
    const b = r.slice(dash + 1);
    const int = (s: string) => (/^\s*[+-]?\d+\s*$/.test(s) ? parseInt(s, 10) : NaN);
    let first: number;
    let last: number;
    if (a === '') {
      first = size - int(b);
      last = size - 1;
    } else {
      first = int(a);
      last = b === '' ? size - 1 : int(b);
    }
    if (Number.isNaN(first) || Number.isNaN(last) || last < first) return undefined;
    out.push([first, last]);
  }
  return out;
}

/** The size of an immutable file from its cap. */
function sizeOfCap(text: string): number {
  const cap = parseCap(text);
  return cap.type === 'CHK' ? cap.size : cap.type === 'LIT' ? cap.data.length : 0;
}
