// The web-API backend: the Grid interface over a Tahoe-LAFS node's HTTP API, with the same
// semantics as the embedded store wherever the API allows (see the notes on races below).
//
// Rules kept throughout:
// - objects are addressed by cap only (`/uri/$CAP?t=…&name=…`), never by a path below a cap,
//   because Tahoe auto-creates missing intermediate directories on PUT/POST paths;
// - writability is decided from the cap before any write (Tahoe answers a write into a
//   read-only directory with a 500 traceback);
// - every write invalidates the cached listings and sizes it touches, even when it fails
//   (a write that timed out may still have happened).
//
// Where the web-API cannot be atomic (documented per method): deleteChild with mustBe /
// mustBeEmpty and patchMetadata read the directory first and then write, so a change by another
// client in between can be missed or overwritten; cross-directory moves are two directory
// updates on Tahoe itself (add, then remove); a reader of a mutable file reads whatever version
// is current at each read (Tahoe has no way to fetch an older version by HTTP).
import { formatCap, isDirectory, isReadOnly, parseCap, storageIndexOf, type Cap } from '../../caps/index.js';
import { unpackChildren } from '../dirpack.js';
import { GridError, isGridError } from '../errors.js';
import { capsForLink, nodeInfoFromCap, nowSeconds as nowSecondsFloat, patchUserMetadata } from '../links.js';
import type {
  DeleteChildOptions, DirEntry, DiskUsage, FileReader, Grid, Metadata, MetadataPatch, MutableContent, NodeInfo,
  ReplaceMode, SetChildOptions, UploadSink,
} from '../types.js';
import { TtlCache } from './cache.js';
import { errorFromResponse, isWriteConflict } from './errors.js';
import { discard, outcomeUnknown, TahoeHttp, type Answer, type HttpOptions } from './http.js';
import { jsonTypeOfCap, linkCapsOfRaw, needsSize, nodeInfoFromRaw, parseNodeJson, type RawDirectory, type RawNode } from './json.js';
import { BytesReader, RangeBudget, RangeReader, type ReadOptions } from './reader.js';
import {
  downloadRequest, jsonRequest, mkdirChildRequest, mkdirUnlinkedRequest, overwriteRequest, rangeRequest,
  relinkRequest, setChildrenRequest, unlinkRequest, uploadRequest, welcomeRequest, type ChildSpec, type WebRequest,
} from './requests.js';
import { WebApiUpload } from './upload.js';

export interface WebApiGridOptions extends Partial<HttpOptions>, Partial<Omit<ReadOptions, 'wholeFile' | 'budget'>> {
  /** Bytes all readers together may hold in ranges before read-ahead stops (RangeBudget in reader.ts). */
  rangeBudgetBytes?: number;
  /** How long listings and mutable-file sizes are reused (ms); 0 disables caching. */
  cacheTtlMs?: number;
  /** Cached listings/sizes kept at most. */
  cacheEntries?: number;
  /**
   * Tahoe lists mutable files without a size; true asks each one's size (one cached request
   * per mutable child), as the embedded store shows them. False leaves it undefined.
   */
  mutableSizesInListings?: boolean;
  /**
   * Read every directory update back and apply it again when it was lost (Tahoe answers OK to
   * updates that a concurrent update through another client node overwrote). False only for
   * tests that count requests.
   */
  verifyWrites?: boolean;
  /**
   * Web-API of the node that makes every directory update (set_children, unlink, relink,
   * mkdir); default: the main URL. Tahoe serializes the updates of one directory within one
   * node only, so gateways on several client nodes of one grid point this at one node.
   */
  directoryUrl?: string;
}

export const DEFAULTS = {
  timeoutMs: 30_000,
  idleTimeoutMs: 30_000,
  commitTimeoutMs: 10 * 60_000,
  maxConnections: 20,
  maxRequests: 8,
  maxStreams: 6,
  maxDownloads: 8,
  cacheTtlMs: 3_000,
  cacheEntries: 512,
  segmentSize: 128 * 1024,
  rangeBytes: 8 * 1024 * 1024,
  readAheadBytes: 24 * 1024 * 1024,
  parallelRanges: 3,
  // Room for about eight readers going forward (one alone holds its 24 MiB read-ahead and the
  // 8 MiB range it reads, measured on a real grid); each gets an equal share (RangeBudget).
  rangeBudgetBytes: 256 * 1024 * 1024,
  mutableSizesInListings: true,
  verifyWrites: true,
} as const;

/** A name missing from a cached listing older than this is looked up in a fresh one (getChild). */
const RECHECK_MISSES_AFTER_MS = 1000;

/** Tries of one directory update (conflicts and lost updates), with back-off in between. */
const MAX_UPDATE_TRIES = 6;

function backoff(attempt: number): Promise<void> {
  const ms = 200 * 2 ** (attempt - 1) * (0.5 + Math.random());
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A cap as Tahoe lists it, without the `ro.`/`imm.` prefixes of unknown caps. */
function bare(cap: string | undefined): string | undefined {
  return cap?.replace(/^(ro|imm)\./, '');
}

/** True when a listed child is linked with the caps of `spec` (what a set_children sent). */
function linksTo(child: RawNode | undefined, spec: { rwUri?: string; roUri?: string }): boolean {
  if (!child) return false;
  if (spec.rwUri !== undefined) return bare(child.rwUri) === bare(spec.rwUri);
  return child.rwUri === undefined && bare(child.roUri) === bare(spec.roUri);
}

/** JSON with sorted keys, to compare metadata as the node stores it. */
function canonical(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  return `{${Object.keys(value).sort().map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`).join(',')}}`;
}

/** How a directory must look once an update happened (read back to see whether it did). */
type Outcome = (children: Map<string, RawNode>, answer?: Answer) => boolean;

/** A directory update whose outcome is unknown (its answer was lost): checked by the next one. */
interface Uncertain {
  /** Seconds since the epoch when it was sent. */
  sentAt: number;
  outcome: Outcome;
}

/** How long an update of unknown outcome is remembered. */
const UNCERTAIN_MS = 10 * 60_000;

// Tahoe has no disk-usage call. Like Tahoe's own sftpd (statvfs and `df`), we report large
// constant figures (1 KiB blocks: 628318530 total, 314159265 free), so clients that check free
// space before writing go ahead. The welcome page's per-server available_space is raw space
// before erasure-coding expansion and says nothing about total or used, so it is not used.
const KIB = 1024;
const DISK_USAGE: DiskUsage = { totalBytes: 628318530 * KIB, usedBytes: 314159265 * KIB, availableBytes: 314159265 * KIB };

function validName(name: string): string {
  const nfc = name.normalize('NFC');
  if (nfc === '' || nfc === '.' || nfc === '..' || nfc.includes('/') || nfc.includes('\0')) {
    throw new GridError('INVALID', 'invalid name');
  }
  return nfc;
}

function userPart(metadata: Metadata | undefined): Metadata {
  const { tahoe: _tahoe, ...user } = metadata ?? {};
  return user;
}

/** Tahoe's t=relink strips ASCII whitespace around from_name/to_name (Python bytes.strip()). */
function strippedByRelink(name: string): boolean {
  return /^[ \t\n\r\v\f]|[ \t\n\r\v\f]$/.test(name);
}

const MUTABLE_DIR_TYPES = new Set(['DIR2', 'DIR2-RO', 'DIR2-MDMF', 'DIR2-MDMF-RO']);
const MUTABLE_FILE_TYPES = new Set(['SSK', 'SSK-RO', 'MDMF', 'MDMF-RO']);

export class WebApiGrid implements Grid {
  private readonly http: TahoeHttp;
  /** Where directory updates go (see WebApiGridOptions.directoryUrl). */
  private readonly writer: TahoeHttp;
  private readonly opts: typeof DEFAULTS;
  private readonly listings: TtlCache<RawDirectory>;
  /** Range bytes of all this grid's readers (reader.ts). */
  private readonly rangeBudget: RangeBudget;
  private readonly files: TtlCache<RawNode>;
  /** Directory updates whose answer was lost, by directory and name (see update()). */
  private readonly uncertain = new Map<string, Uncertain>();

  /** A backend for the node at `url`, without contacting it (operations report UNAVAILABLE). */
  constructor(url: string, options: WebApiGridOptions = {}) {
    const { directoryUrl, ...rest } = options;
    const opts = { ...DEFAULTS } as { -readonly [K in keyof typeof DEFAULTS]: (typeof DEFAULTS)[K] };
    for (const [k, v] of Object.entries(rest)) if (v !== undefined) (opts as Record<string, unknown>)[k] = v;
    this.opts = opts as typeof DEFAULTS;
    const httpOptions = {
      timeoutMs: opts.timeoutMs,
      idleTimeoutMs: opts.idleTimeoutMs,
      commitTimeoutMs: opts.commitTimeoutMs,
      maxConnections: Math.max(opts.maxConnections, 2),
      maxRequests: opts.maxRequests,
      maxStreams: opts.maxStreams,
      maxDownloads: opts.maxDownloads,
    };
    this.http = new TahoeHttp(url, httpOptions);
    this.writer = directoryUrl !== undefined && new URL(directoryUrl).href !== new URL(url).href ? new TahoeHttp(directoryUrl, httpOptions) : this.http;
    this.listings = new TtlCache(opts.cacheTtlMs, opts.cacheEntries);
    this.files = new TtlCache(opts.cacheTtlMs, opts.cacheEntries);
    this.rangeBudget = new RangeBudget(opts.rangeBudgetBytes);
  }

  /**
   * Opens the backend after checking that `url` answers as a Tahoe-LAFS web-API (`GET /?t=json`).
   * Failing at startup names the URL, so a typo or a stopped node is found at once rather than
   * at the first client operation. Use the constructor to start without the node.
   */
  static async open(url: string, options: WebApiGridOptions = {}): Promise<WebApiGrid> {
    const grid = new WebApiGrid(url, options);
    try {
      await grid.probe();
      return grid;
    } catch (err) {
      await grid.close();
      if (err instanceof GridError && err.code === 'UNAVAILABLE') {
        throw new GridError('UNAVAILABLE', `cannot open the web-API backend: ${err.message}`, { cause: err });
      }
      throw err;
    }
  }

  /**
   * Resolves once the node answers like a Tahoe-LAFS web-API (and the directory node, when it
   * is another one). While it is unreachable it is asked again 1, 2, 4 … 30 s apart and
   * `onUnavailable` hears each failure; anything but UNAVAILABLE (not a Tahoe node) rejects.
   */
  async waitReady(onUnavailable?: (err: GridError, retryInMs: number) => void): Promise<void> {
    for (let delay = 1000; ; delay = Math.min(30_000, delay * 2)) {
      try {
        await this.probe();
        return;
      } catch (err) {
        if (!(err instanceof GridError) || err.code !== 'UNAVAILABLE' || this.closed) throw err;
        onUnavailable?.(err, delay);
        await new Promise((resolve) => setTimeout(resolve, delay).unref());
      }
    }
  }

  /** Checks that the node(s) answer their welcome page as JSON. */
  async probe(): Promise<void> {
    await this.probeOne(this.http);
    if (this.writer !== this.http) await this.probeOne(this.writer);
  }

  private async probeOne(http: TahoeHttp): Promise<void> {
    const answer = await http.callRaw(welcomeRequest(), { maxBody: 4 * 1024 * 1024 });
    if (answer.status !== 200) {
      const { message } = errorFromResponse(answer.status, answer.headers['content-type'], answer.body);
      throw new GridError('INVALID', `${http.origin} does not answer like a Tahoe-LAFS web-API (GET /?t=json: HTTP ${answer.status}: ${message})`);
    }
    let welcome: unknown;
    try {
      welcome = JSON.parse(answer.body.toString('utf8'));
    } catch {
      welcome = undefined;
    }
    if (!welcome || typeof welcome !== 'object' || !('servers' in welcome || 'introducers' in welcome)) {
      throw new GridError('INVALID', `${http.origin} does not answer like a Tahoe-LAFS web-API (GET /?t=json)`);
    }
  }

  private closed = false;

  async close(): Promise<void> {
    this.closed = true;
    this.listings.clear();
    this.files.clear();
    await this.http.close();
    if (this.writer !== this.http) await this.writer.close();
  }

  // --- caching ----------------------------------------------------------------------------

  /** Cache key of an object: its storage index, so write and read caps share entries. */
  private static objectKey(cap: Cap, text: string): string {
    const si = storageIndexOf(cap);
    return si ? si.toString('hex') : `text:${text}`;
  }

  private listingKey(dirCap: string): { key: string; object: string } {
    const cap = parseCap(dirCap);
    const object = WebApiGrid.objectKey(cap, dirCap);
    // A read cap's listing hides write caps: the two are different answers.
    return { key: `${object}:${isReadOnly(cap) ? 'ro' : 'rw'}`, object };
  }

  private invalidateDir(dirCap: string): void {
    this.listings.invalidatePrefix(`${this.listingKey(dirCap).object}:`);
  }

  private invalidateFile(fileCap: string): void {
    this.files.invalidate(WebApiGrid.objectKey(parseCap(fileCap), fileCap));
  }

  /** Runs a write, then forgets what it may have changed, whether it succeeded or not. */
  private async writing<T>(dirs: string[], fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } finally {
      for (const d of dirs) this.invalidateDir(d);
    }
  }

  // --- reading nodes ----------------------------------------------------------------------

  private async fetchJson(cap: string): Promise<RawNode | RawDirectory> {
    const answer = await this.http.call(jsonRequest(cap));
    return parseNodeJson(answer.body.toString('utf8'));
  }

  /** The raw listing of a directory cap stored on the grid (not LIT). */
  private rawListing(dirCap: string, fresh = false): Promise<RawDirectory> {
    return this.listings.get(this.listingKey(dirCap).key, async () => {
      const node = await this.fetchJson(dirCap);
      if (node.type !== 'dirnode') throw new GridError('NOT_A_DIRECTORY', 'not a directory');
      return node as RawDirectory;
    }, fresh);
  }

  /** `t=json` of a mutable file itself, which (unlike a listing) carries its current size. */
  private rawFile(fileCap: string, fresh = false): Promise<RawNode> {
    return this.files.get(WebApiGrid.objectKey(parseCap(fileCap), fileCap), async () => {
      const node = await this.fetchJson(fileCap);
      if (node.type === 'dirnode') throw new GridError('IS_A_DIRECTORY', 'is a directory');
      return node;
    }, fresh);
  }

  private async sizeOf(fileCap: string): Promise<number | undefined> {
    return (await this.rawFile(fileCap)).size;
  }

  private async entryOf(name: string, raw: RawNode, withSize: boolean): Promise<DirEntry> {
    const node = nodeInfoFromRaw(raw);
    if (withSize && needsSize(node)) {
      // A listing must not fail because one child is missing or unreachable: size stays unknown.
      const size = await this.sizeOf(node.cap).catch(() => undefined);
      if (size !== undefined) node.size = size;
    }
    return { name, node, metadata: structuredClone(raw.metadata ?? {}) };
  }

  private kindCheckDir(cap: Cap): void {
    if (!isDirectory(cap)) throw new GridError('NOT_A_DIRECTORY', 'not a directory');
  }

  /** A directory cap we may write through; other caps are refused before any request. */
  private writableDir(dirCap: string): Cap {
    const cap = parseCap(dirCap);
    if (cap.type === 'DIR2' || cap.type === 'DIR2-MDMF') return cap;
    if (cap.type === 'DIR2-LIT' || cap.type === 'DIR2-CHK') throw new GridError('NOT_WRITABLE', 'directory is immutable');
    if (isDirectory(cap)) throw new GridError('NOT_WRITABLE', 'directory is read-only');
    throw new GridError('NOT_A_DIRECTORY', 'not a directory');
  }

  async stat(capText: string): Promise<NodeInfo> {
    const cap = parseCap(capText);
    if (MUTABLE_FILE_TYPES.has(cap.type)) {
      const info = nodeInfoFromCap(capText);
      const size = (await this.rawFile(capText)).size;
      if (size !== undefined) info.size = size;
      return info;
    }
    if (MUTABLE_DIR_TYPES.has(cap.type) || cap.type === 'DIR2-CHK') {
      await this.rawListing(capText); // the directory must exist (and its listing is cached for what follows)
      return nodeInfoFromCap(capText);
    }
    // LIT, CHK and DIR2-LIT caps say everything about themselves; unknown caps stay unknown.
    return nodeInfoFromCap(capText);
  }

  // --- directories ------------------------------------------------------------------------

  private literalDir(cap: Extract<Cap, { type: 'DIR2-LIT' }>): DirEntry[] {
    return unpackChildren(cap.data).map((c) => ({ name: c.name, node: nodeInfoFromCap(c.readCap), metadata: c.metadata }));
  }

  async list(dirCap: string): Promise<DirEntry[]> {
    const cap = parseCap(dirCap);
    if (cap.type === 'DIR2-LIT') return this.literalDir(cap);
    this.kindCheckDir(cap);
    const raw = await this.rawListing(dirCap);
    return Promise.all([...raw.children].map(([name, child]) => this.entryOf(name, child, this.opts.mutableSizesInListings)));
  }

  /**
   * A name missing from a cached listing more than a second old is looked up again in a fresh
   * one: a file just stored through another gateway (or another Tahoe client) is found at once
   * when a client asks for it by name; only listings may lag by the cache time.
   */
  async getChild(dirCap: string, name: string): Promise<DirEntry | undefined> {
    const nfc = validName(name);
    const cap = parseCap(dirCap);
    if (cap.type === 'DIR2-LIT') return this.literalDir(cap).find((e) => e.name === nfc);
    this.kindCheckDir(cap);
    let child = (await this.rawListing(dirCap)).children.get(nfc);
    if (!child && (this.listings.age(this.listingKey(dirCap).key) ?? 0) > RECHECK_MISSES_AFTER_MS) {
      child = (await this.rawListing(dirCap, true)).children.get(nfc);
    }
    return child && this.entryOf(nfc, child, true);
  }

  // --- directory updates -------------------------------------------------------------------

  private updateKey(dirCap: string, name: string): string {
    return `${this.listingKey(dirCap).object}\0${name}`;
  }

  /**
   * One directory update (`send()` builds the request), carried out so that the weak spots of
   * Tahoe's read-modify-write directories lose nothing:
   * - it is watched, not timed: a node that keeps answering may take its time (Tahoe itself
   *   retries an UncoordinatedWriteError for up to about 30 s);
   * - a conflict the node gives up on (UncoordinatedWriteError, or another 500 of a node racing
   *   with a writer) is tried again after a back-off;
   * - the directory is read back (which also refreshes the listing cache), because Tahoe answers
   *   OK to updates that a concurrent update through another client node overwrote: a lost
   *   update is applied again;
   * - an EXISTS or NOT_FOUND on a later try, or after an earlier update of the same name whose
   *   answer was lost, is checked against `outcome`: when the directory already looks as wanted,
   *   the earlier try landed and the update succeeded;
   * - a failure after which the node may still have applied the update (no answer, connection
   *   lost) is remembered, so that the next update of that name reconciles rather than assumes.
   * Returns the node's answer, or the directory's children when an earlier try is found to have
   * done the work.
   */
  private async update(dirCap: string, name: string, send: () => WebRequest, outcome: Outcome, alsoTouches: string[] = []): Promise<{ answer?: Answer; children?: Map<string, RawNode> }> {
    const key = this.updateKey(dirCap, name);
    const now = Date.now();
    for (const [k, u] of this.uncertain) if (now - u.sentAt * 1000 > UNCERTAIN_MS) this.uncertain.delete(k);
    const earlier = this.uncertain.get(key);
    const sentAt = nowSecondsFloat();
    for (let attempt = 1; ; attempt++) {
      let answer: Answer;
      try {
        answer = await this.writing([dirCap, ...alsoTouches], () => this.writer.call(send(), { watch: true }));
      } catch (err) {
        if (isWriteConflict(err) && attempt < MAX_UPDATE_TRIES) {
          await backoff(attempt);
          continue;
        }
        if ((attempt > 1 || earlier) && (isGridError(err, 'EXISTS') || isGridError(err, 'NOT_FOUND'))) {
          const now = await this.rawListing(dirCap, true).catch(() => undefined);
          if (now && outcome(now.children)) {
            this.uncertain.delete(key);
            return { children: now.children };
          }
        }
        if (outcomeUnknown(err)) this.uncertain.set(key, { sentAt, outcome });
        throw err;
      }
      this.uncertain.delete(key);
      if (!this.opts.verifyWrites) return { answer };
      // The node said OK; whether the update survived a concurrent one from another node shows
      // in the directory itself. If it cannot be read now, the node's OK stands.
      const check = await this.rawListing(dirCap, true).catch(() => undefined);
      if (!check || outcome(check.children, answer)) return { answer };
      if (attempt >= MAX_UPDATE_TRIES) {
        throw new GridError('UNAVAILABLE', `the change of "${name}" was overwritten ${attempt} times by concurrent changes through other Tahoe-LAFS nodes; try again`);
      }
      await backoff(attempt);
    }
  }

  /** A listed child as it is now (a fresh listing), to move or relink it exactly. */
  private async freshChild(dirCap: string, name: string): Promise<RawNode> {
    const child = (await this.rawListing(dirCap, true)).children.get(name);
    if (!child) throw new GridError('NOT_FOUND', `No such child: ${name}`);
    return child;
  }

  /**
   * Links with `t=set_children`, which applies Tahoe's own replace rule (incl. 'only-files')
   * and metadata rule (omitted metadata keeps the old user keys) in one directory update.
   */
  async setChild(dirCap: string, name: string, childCap: string, options: SetChildOptions): Promise<void> {
    const nfc = validName(name);
    this.writableDir(dirCap);
    const metadata = options.metadata === undefined ? undefined : userPart(options.metadata);
    let caps = capsForLink(childCap, metadata ?? {});
    if (metadata === undefined && caps.writeCap !== undefined && caps.readCap !== undefined) {
      // A kept `no-write` must keep dropping write authority: look at the link being replaced.
      // (Tahoe diminishes too; this makes sure even if the node's version does not.)
      const existing = (await this.rawListing(dirCap, true)).children.get(nfc);
      if (existing?.metadata?.['no-write'] === true) caps = { readCap: caps.readCap };
    }
    const spec: ChildSpec = { type: jsonTypeOfCap(childCap) };
    if (caps.writeCap !== undefined) spec.rwUri = caps.writeCap;
    if (caps.readCap !== undefined) spec.roUri = caps.readCap;
    if (metadata !== undefined) spec.metadata = metadata;
    await this.update(dirCap, nfc, () => setChildrenRequest(dirCap, [[nfc, spec]], options.replace), (children) => {
      const child = children.get(nfc);
      return linksTo(child, spec) && (metadata === undefined || canonical(userPart(child!.metadata)) === canonical(metadata));
    });
  }

  /**
   * Unlinks with `t=unlink` after reading the entry (to return it, and to check mustBe /
   * mustBeEmpty). Not atomic: the entry may change between the check and the unlink, in which
   * case the new entry is unlinked (Tahoe's sftpd does the check inside one directory update).
   */
  async deleteChild(dirCap: string, name: string, options: DeleteChildOptions = {}): Promise<DirEntry> {
    const nfc = validName(name);
    this.writableDir(dirCap);
    const child = (await this.rawListing(dirCap, true)).children.get(nfc);
    if (!child) throw new GridError('NOT_FOUND', `No such child: ${nfc}`);
    const entry = await this.entryOf(nfc, child, true);
    if (options.mustBe === 'file' && entry.node.kind === 'dir') throw new GridError('IS_A_DIRECTORY', `"${nfc}" is a directory`);
    if (options.mustBe === 'dir' && entry.node.kind === 'file') throw new GridError('NOT_A_DIRECTORY', `"${nfc}" is not a directory`);
    if (options.mustBeEmpty && entry.node.kind === 'dir' && !(await this.isEmptyDir(entry.node.cap))) {
      throw new GridError('NOT_EMPTY', `directory "${nfc}" is not empty`);
    }
    const removed = linkCapsOfRaw(child);
    // Done when the name is gone, or holds something else (linked after us by someone else).
    await this.update(dirCap, nfc, () => unlinkRequest(dirCap, nfc), (children) => !linksTo(children.get(nfc), removed));
    return entry;
  }

  private async isEmptyDir(capText: string): Promise<boolean> {
    const cap = parseCap(capText);
    if (cap.type === 'DIR2-LIT') return cap.data.length === 0;
    return (await this.rawListing(capText, true)).children.size === 0;
  }

  /**
   * Within one directory: one `t=relink` (Tahoe keeps the metadata and refreshes linkmotime),
   * a single directory update. Across two directories (and for names starting or ending with
   * whitespace, which Tahoe's relink strips): set_children on the target with the link's caps
   * and user metadata, read back, then unlink from the source — the same add-then-remove Tahoe's
   * own relink does, but each half checked, so a half lost to a concurrent update is applied
   * again before the other half happens. Not atomic: a failure in between leaves the link in
   * both directories.
   */
  async moveChild(fromDirCap: string, fromName: string, toDirCap: string, toName: string, replace: ReplaceMode): Promise<void> {
    const fromNfc = validName(fromName);
    const toNfc = validName(toName);
    this.writableDir(fromDirCap);
    this.writableDir(toDirCap);
    const sameDir = this.listingKey(fromDirCap).object === this.listingKey(toDirCap).object;
    if (sameDir && fromNfc === toNfc) {
      if (!(await this.rawListing(fromDirCap, true)).children.has(fromNfc)) throw new GridError('NOT_FOUND', `No such child: ${fromNfc}`);
      return;
    }
    const child = await this.freshChild(fromDirCap, fromNfc);
    const caps = linkCapsOfRaw(child);
    if (sameDir && !strippedByRelink(fromNfc) && !strippedByRelink(toNfc)) {
      await this.update(fromDirCap, fromNfc, () => relinkRequest(fromDirCap, fromNfc, toDirCap, toNfc, replace),
        (children) => linksTo(children.get(toNfc), caps) && !linksTo(children.get(fromNfc), caps));
      return;
    }
    const spec: ChildSpec = { type: child.type, ...caps, metadata: userPart(child.metadata) };
    await this.update(toDirCap, toNfc, () => setChildrenRequest(toDirCap, [[toNfc, spec]], replace), (children) => linksTo(children.get(toNfc), caps));
    await this.update(fromDirCap, fromNfc, () => unlinkRequest(fromDirCap, fromNfc), (children) => !linksTo(children.get(fromNfc), caps))
      .catch((err: unknown) => {
        if (isGridError(err, 'NOT_FOUND')) return; // someone else removed it meanwhile: moved all the same
        throw err;
      });
  }

  /**
   * Reads the link, merges the patch, and writes the link back with its caps and the full new
   * user metadata. Not atomic: a change to the same link by another client between the read
   * and the write is overwritten.
   */
  async patchMetadata(dirCap: string, name: string, patch: MetadataPatch): Promise<DirEntry> {
    const nfc = validName(name);
    this.writableDir(dirCap);
    const child = await this.freshChild(dirCap, nfc);
    const user = patchUserMetadata(userPart(child.metadata), patch);
    const spec: ChildSpec = { type: child.type, ...this.linkCaps(child, user), metadata: user };
    await this.update(dirCap, nfc, () => setChildrenRequest(dirCap, [[nfc, spec]], true), (children) => {
      const now = children.get(nfc);
      return linksTo(now, spec) && canonical(userPart(now!.metadata)) === canonical(user);
    });
    const updated = (await this.rawListing(dirCap)).children.get(nfc);
    if (!updated) throw new GridError('NOT_FOUND', `No such child: ${nfc}`);
    return this.entryOf(nfc, updated, true);
  }

  /** The caps to link a listed child again under new metadata (no-write drops write authority). */
  private linkCaps(child: RawNode, metadata: Metadata): { rwUri?: string; roUri?: string } {
    const known = child.rwUri ?? child.roUri;
    if (known !== undefined && parseCap(known).type !== 'unknown') {
      const caps = capsForLink(known, metadata);
      return { ...(caps.writeCap ? { rwUri: caps.writeCap } : {}), ...(caps.readCap ? { roUri: caps.readCap } : {}) };
    }
    const raw = linkCapsOfRaw(child);
    if (metadata['no-write'] === true && raw.roUri !== undefined) return { roUri: raw.roUri };
    return raw;
  }

  /**
   * `t=mkdir&name=N&replace=…` in one request. Tahoe's mkdir cannot set metadata and reads
   * replace= as a plain boolean, so with metadata or 'only-files' the directory is created
   * unlinked and then linked with set_children (if that link is refused, the new empty
   * directory stays unlinked and unreachable). A mkdir whose answer was lost is found again
   * by the next one of the same name: an empty directory linked there since it was sent.
   */
  async mkdir(dirCap: string, name: string, options: { replace?: ReplaceMode; metadata?: Metadata } = {}): Promise<string> {
    const nfc = validName(name);
    this.writableDir(dirCap);
    const replace = options.replace ?? false;
    if (options.metadata === undefined && typeof replace === 'boolean') {
      const since = this.uncertain.get(this.updateKey(dirCap, nfc))?.sentAt ?? nowSecondsFloat();
      const result = await this.update(dirCap, nfc, () => mkdirChildRequest(dirCap, nfc, replace), (children, answer) => {
        const child = children.get(nfc);
        if (answer) return linksTo(child, { rwUri: this.dirCapFrom(answer.body) });
        // No answer to go by (a try that failed, or a mkdir whose answer was lost, yet landed):
        // a directory linked there since it was sent (the node's clock; a few seconds of slack).
        return child?.type === 'dirnode' && (child.metadata?.tahoe?.linkcrtime ?? 0) >= since - 5;
      });
      if (result.answer) return this.dirCapFrom(result.answer.body);
      const found = result.children!.get(nfc)!;
      if (!(await this.isEmptyDir(found.rwUri ?? found.roUri!))) throw new GridError('EXISTS', `There was already a child named "${nfc}"`);
      return found.rwUri!;
    }
    const childCap = await this.createDirectory();
    const metadata = userPart(options.metadata);
    const caps = capsForLink(childCap, metadata);
    const spec: ChildSpec = { type: 'dirnode', metadata, ...(caps.writeCap ? { rwUri: caps.writeCap } : {}), ...(caps.readCap ? { roUri: caps.readCap } : {}) };
    await this.update(dirCap, nfc, () => setChildrenRequest(dirCap, [[nfc, spec]], replace), (children) => linksTo(children.get(nfc), spec));
    return childCap;
  }

  async createDirectory(): Promise<string> {
    const answer = await this.http.call(mkdirUnlinkedRequest(), { watch: true });
    return this.dirCapFrom(answer.body);
  }

  private dirCapFrom(body: Buffer): string {
    const text = body.toString('utf8').trim();
    const cap = parseCap(text);
    if (cap.type !== 'DIR2' && cap.type !== 'DIR2-MDMF') {
      throw new GridError('UNAVAILABLE', 'unexpected answer from the Tahoe-LAFS node: mkdir did not return a directory write cap');
    }
    return formatCap(cap);
  }

  // --- files ------------------------------------------------------------------------------

  async openRead(fileCap: string): Promise<FileReader> {
    const cap = parseCap(fileCap);
    switch (cap.type) {
      case 'LIT':
        return new BytesReader(cap.data); // the bytes are in the cap: no request
      case 'CHK':
        return this.rangeReader(fileCap, cap.size);
      case 'SSK':
      case 'SSK-RO':
      case 'MDMF':
      case 'MDMF-RO': {
        // The current size, asked now; reads then go by range on whatever version is current.
        const size = (await this.rawFile(fileCap, true)).size;
        if (size === undefined) throw new GridError('UNAVAILABLE', 'the Tahoe-LAFS node did not report the size of the mutable file');
        // Tahoe retrieves an SDMF file whole for any range: one request for all of it.
        return this.rangeReader(fileCap, size, cap.type === 'SSK' || cap.type === 'SSK-RO');
      }
      default:
        if (isDirectory(cap)) throw new GridError('IS_A_DIRECTORY', 'is a directory');
        throw new GridError('INVALID', 'not a readable file cap');
    }
  }

  private rangeReader(fileCap: string, size: number, wholeFile = false): FileReader {
    if (size === 0) return new BytesReader(Buffer.alloc(0)); // Tahoe answers 416 to any range on an empty file
    return new RangeReader(size, (first, last, sink, signal) => this.streamRange(fileCap, first, last, sink, signal), {
      segmentSize: this.opts.segmentSize,
      rangeBytes: this.opts.rangeBytes,
      readAheadBytes: this.opts.readAheadBytes,
      parallelRanges: this.opts.parallelRanges,
      wholeFile,
      budget: this.rangeBudget,
    });
  }

  /**
   * Streams bytes [first, last] of a file into `sink`, `last` already clamped to the size we
   * know. A 416 or a shorter 206 means a mutable file shrank since: what exists is delivered. A
   * 200 (Tahoe ignored the range) is skipped through to the wanted bytes rather than buffered.
   * The answer must start within the request timeout and then never stall for that long.
   */
  private async streamRange(fileCap: string, first: number, last: number, sink: (data: Buffer) => void, signal: AbortSignal): Promise<number> {
    const want = last - first + 1;
    try {
      const answer = await this.http.open(rangeRequest(fileCap, first, last), { signal, pool: 'download' });
      try {
        if (answer.status === 416) return 0;
        if (answer.status !== 206 && answer.status !== 200) {
          await this.http.finish(answer); // throws the mapped error
          throw new GridError('UNAVAILABLE', `unexpected HTTP ${answer.status} for a ranged read`);
        }
        let skip = 0;
        if (answer.status === 206) {
          const m = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(answer.headers['content-range'] ?? '');
          if (!m || Number(m[1]) !== first) throw new GridError('UNAVAILABLE', 'unexpected answer from the Tahoe-LAFS node: wrong Content-Range');
        } else {
          skip = first;
        }
        let delivered = 0;
        for await (const raw of answer.body as AsyncIterable<Buffer>) {
          let chunk = raw;
          if (skip > 0) {
            if (chunk.length <= skip) {
              skip -= chunk.length;
              continue;
            }
            chunk = chunk.subarray(skip);
            skip = 0;
          }
          const n = Math.min(chunk.length, want - delivered);
          sink(n === chunk.length ? chunk : chunk.subarray(0, n));
          delivered += n;
          if (delivered === want) break;
        }
        return delivered;
      } finally {
        discard(answer.body);
        answer.release();
      }
    } catch (err) {
      throw this.http.unavailable(err);
    }
  }

  async upload(): Promise<UploadSink> {
    return new WebApiUpload(this.http, this.opts.idleTimeoutMs);
  }

  private contentCapOf(content: MutableContent): Extract<Cap, { type: 'LIT' | 'CHK' }> {
    const cap = parseCap(content.immutableCap);
    if (cap.type !== 'LIT' && cap.type !== 'CHK') throw new GridError('INVALID', 'mutable content must be an immutable file');
    return cap;
  }

  /**
   * Sends the bytes of an immutable file as the body of `req` (a PUT making or updating a
   * mutable file): LIT bytes directly, CHK bytes streamed from a GET of the same node.
   */
  private async publish(req: WebRequest, content: Extract<Cap, { type: 'LIT' | 'CHK' }>): Promise<string> {
    const controller = new AbortController();
    let source: Awaited<ReturnType<TahoeHttp['open']>> | undefined;
    // One stream slot for both requests, taken before either starts (see TahoeHttp's pools).
    const releaseSlot = await this.http.streamSlot();
    try {
      let body: Buffer | NodeJS.ReadableStream;
      let length: number;
      if (content.type === 'LIT') {
        body = content.data;
        length = content.data.length;
      } else {
        source = await this.http.open(downloadRequest(formatCap(content)), { signal: controller.signal, pool: 'none' });
        if (source.status !== 200) {
          await this.http.finish(source);
          throw new GridError('UNAVAILABLE', `unexpected HTTP ${source.status} reading the new content`);
        }
        if (Number(source.headers['content-length'] ?? content.size) !== content.size) {
          throw new GridError('CORRUPT', 'the node announced a different size for the new content');
        }
        body = source.body;
        length = content.size;
      }
      // Watched: Tahoe publishes only once it has the whole body.
      return await this.http.watched(controller, {}, async () => {
        const answer = await this.http.open(req, {
          body: body as Buffer,
          contentLength: length,
          signal: controller.signal,
          headersTimeoutMs: 0,
          pool: 'none',
        });
        const { body: result } = await this.http.finish(answer, 4096);
        return result.toString('utf8').trim();
      });
    } catch (err) {
      controller.abort();
      throw this.http.unavailable(err);
    } finally {
      if (source) discard(source.body);
      source?.release();
      releaseSlot();
    }
  }

  async createMutable(content: MutableContent, format: 'SDMF' | 'MDMF' = 'SDMF'): Promise<string> {
    const source = this.contentCapOf(content);
    const text = await this.publish(uploadRequest(format), source);
    const cap = parseCap(text);
    if (cap.type !== (format === 'MDMF' ? 'MDMF' : 'SSK')) {
      throw new GridError('UNAVAILABLE', 'unexpected answer from the Tahoe-LAFS node: no mutable file write cap');
    }
    return formatCap(cap);
  }

  async overwriteMutable(writeCap: string, content: MutableContent): Promise<void> {
    const cap = parseCap(writeCap);
    if (cap.type === 'SSK-RO' || cap.type === 'MDMF-RO') throw new GridError('NOT_WRITABLE', 'mutable file cap is read-only');
    if (cap.type === 'LIT' || cap.type === 'CHK') throw new GridError('NOT_WRITABLE', 'file is immutable');
    if (cap.type !== 'SSK' && cap.type !== 'MDMF') {
      throw new GridError(isDirectory(cap) ? 'IS_A_DIRECTORY' : 'INVALID', 'not a mutable file cap');
    }
    const source = this.contentCapOf(content);
    try {
      await this.publish(overwriteRequest(writeCap), source);
    } finally {
      this.invalidateFile(writeCap);
    }
  }

  // --- whole grid -------------------------------------------------------------------------

  async diskUsage(): Promise<DiskUsage> {
    return { ...DISK_USAGE };
  }

  /** Nothing to do: the Tahoe node has stored whatever it has answered for. */
  async sync(): Promise<void> {}
}
