// The requests WebApiGrid sends, compared with the recorded requests a real Tahoe-LAFS 1.20
// node accepted (method, path with the cap %-encoded as one segment, query, content type, body
// shape), each answered with the exact recorded response bytes (chunk framing included) so the
// backend also parses real answers. Where the backend deliberately differs from a recording
// (caps instead of paths, explicit replace=/format=), the test names the difference.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { literalCap, readCapOf } from '../../src/caps/index.js';
import { isGridError, type GridErrorCode } from '../../src/grid/index.js';
import { WebApiGrid, type WebApiGridOptions } from '../../src/grid/webapi/index.js';
import { startReplayServer, splitTarget, type CapturedRequest } from '../helpers/fake-tahoe/replay.js';
import { loadSamples, samplesDir, type Sample } from '../helpers/fake-tahoe/samples.js';

const dir = samplesDir();
// The recorded samples ship with the repository (test/fixtures): their absence is a failure.
if (!dir) throw new Error('Tahoe web-API samples not found in test/fixtures/tahoe-webapi-samples');
const set = dir ? loadSamples(dir) : { samples: [] as Sample[], placeholders: {} as Record<string, string>, dir: '' };
const P = set.placeholders as Record<string, string>;
const byN = (n: number) => set.samples.find((s) => s.n === n)!;
/** The recorded response of exchange n, byte for byte. */
const recorded = (n: number) => readFileSync(join(set.dir, byN(n).index.response.file));

/** An answer in Tahoe's style for exchanges the recording does not include (set_children). */
function synthesized(status: number, reason: string, body: string): Buffer {
  const b = Buffer.from(body);
  return Buffer.concat([
    Buffer.from(`HTTP/1.1 ${status} ${reason}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\nServer: TwistedWeb/22.4.0\r\nContent-Type: text/html\r\n\r\n`),
    Buffer.from(`${b.length.toString(16)}\r\n`), b, Buffer.from('\r\n0\r\n\r\n'),
  ]);
}
const OKAY = () => synthesized(200, 'OK', 'Okay so I did it.');

// One request per operation as recorded: no read-back of directory updates here (webapi-grid tests it).
const OPTIONS: WebApiGridOptions = { timeoutMs: 5000, cacheTtlMs: 0, verifyWrites: false };

async function replay(answers: Array<Buffer | (() => Buffer)>, run: (grid: WebApiGrid) => Promise<void>, options: WebApiGridOptions = {}): Promise<CapturedRequest[]> {
  const server = await startReplayServer((_req) => {
    const next = answers.shift();
    if (!next) throw new Error('more requests than expected');
    return typeof next === 'function' ? next() : next;
  });
  const grid = new WebApiGrid(server.url, { ...OPTIONS, ...options });
  try {
    await run(grid);
  } finally {
    await grid.close();
    await server.close();
  }
  assert.equal(answers.length, 0, 'fewer requests than expected');
  return server.requests;
}

interface Expectation {
  /** The recorded exchange this request must look like. */
  sample: number;
  /** The request addresses by cap what the recording addressed by path: the expected /uri/ target. */
  byCap?: string;
  /** Query parameters the backend adds on purpose (e.g. an explicit replace=false). */
  extraQuery?: Array<[string, string]>;
  /** Query parameters of the recording that differ on purpose, with the backend's value. */
  changedQuery?: Record<string, string>;
  /** Compare bodies byte for byte. */
  sameBody?: boolean;
}

function assertLike(req: CapturedRequest, e: Expectation): void {
  const s = byN(e.sample).request;
  const ours = splitTarget(req.target);
  const theirs = splitTarget(s.target);
  assert.equal(req.method, s.method, `#${e.sample} method`);
  assert.deepEqual(ours.segments, e.byCap ? ['uri', e.byCap] : theirs.segments, `#${e.sample} path`);
  // Caps travel %-encoded as a single path segment (as in Tahoe's own redirects), never raw.
  assert.doesNotMatch(req.target.split('?')[0]!, /URI:/, 'caps in paths are %-encoded');
  const want = theirs.query.map(([k, v]): [string, string] => [k, e.changedQuery?.[k] ?? v]).concat(e.extraQuery ?? []);
  assert.deepEqual([...ours.query].sort(), want.sort(), `#${e.sample} query`);
  assert.equal(req.headers.accept, 'text/plain', 'asks for plain-text errors');
  if (e.sameBody) assert.deepEqual(req.body, s.body, `#${e.sample} body`);
  if (req.method === 'POST' && req.body.length === 0) assert.equal(req.headers['content-length'], '0');
}

async function rejectsWith(p: Promise<unknown>, code: GridErrorCode, message?: RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(isGridError(err), String(err));
    assert.equal(err.code, code, err.message);
    if (message) assert.match(err.message, message);
    assert.doesNotMatch(err.message, /[<>]|URI:/);
    return true;
  });
}

test('createDirectory is POST /uri?t=mkdir (#02)', async () => {
  let cap = '';
  const [req] = await replay([recorded(2)], async (grid) => {
    cap = await grid.createDirectory();
  });
  assertLike(req!, { sample: 2 });
  assert.equal(cap, P.$ROOT);
});

test('mkdir is t=mkdir&name= on the parent cap, with an explicit replace=false (#04)', async () => {
  let cap = '';
  const [req] = await replay([recorded(4)], async (grid) => {
    cap = await grid.mkdir(P.$ROOT!, 'photos');
  });
  // Tahoe's default replace=true would silently replace an existing child.
  assertLike(req!, { sample: 4, extraQuery: [['replace', 'false']] });
  assert.equal(cap, P.$PHOTOS);
});

test('mkdir with metadata: unlinked mkdir, then set_children carrying the metadata', async () => {
  const [mk, link] = await replay([recorded(2), OKAY()], async (grid) => {
    assert.equal(await grid.mkdir(P.$DOCS!, 'new', { replace: 'only-files', metadata: { mtime: 7 } }), P.$ROOT);
  });
  assertLike(mk!, { sample: 2 });
  assert.deepEqual(splitTarget(link!.target).query, [['t', 'set_children'], ['replace', 'only-files']]);
  assert.deepEqual(JSON.parse(link!.body.toString()), { new: ['dirnode', { ro_uri: P.$ROOT_RO, rw_uri: P.$ROOT, metadata: { mtime: 7 } }] });
});

test('upload streams an unlinked PUT /uri?format=CHK and returns the cap of the answer (#09)', async () => {
  const body = byN(9).request.body;
  let cap = '';
  const [req] = await replay([recorded(9)], async (grid) => {
    const up = await grid.upload();
    for (let i = 0; i < body.length; i += 50) await up.write(body.subarray(i, i + 50));
    cap = await up.finish();
  });
  // format=CHK is explicit so the node's default format never matters.
  assertLike(req!, { sample: 9, extraQuery: [['format', 'CHK']], sameBody: true });
  assert.equal(req!.headers['transfer-encoding'], 'chunked', 'streamed: the length is not known in advance');
  assert.equal(cap, P.$UNLINKED_CHK);
});

test('files of up to 55 bytes become the same LIT cap Tahoe makes, without a request (#05)', async () => {
  let cap = '';
  const requests = await replay([], async (grid) => {
    const up = await grid.upload();
    await up.write(byN(5).request.body);
    cap = await up.finish();
    const r = await grid.openRead(cap);
    assert.deepEqual(await r.read(0, 100), byN(5).request.body);
  });
  assert.equal(requests.length, 0);
  assert.equal(cap, P.$TINY_LIT);
});

test('createMutable from a LIT is PUT /uri?format=MDMF with the bytes (#13)', async () => {
  let cap = '';
  const [req] = await replay([recorded(13)], async (grid) => {
    cap = await grid.createMutable({ immutableCap: literalCap(byN(13).request.body) }, 'MDMF');
  });
  assertLike(req!, { sample: 13, sameBody: true });
  assert.equal(req!.headers['content-length'], String(byN(13).request.body.length));
  assert.equal(cap, P.$UNLINKED_MDMF);
});

test('createMutable from a CHK streams GET /uri/$CHK into PUT /uri?format=SDMF (#15, #10)', async () => {
  let cap = '';
  const [get, put] = await replay([recorded(15), recorded(10)], async (grid) => {
    cap = await grid.createMutable({ immutableCap: P.$SMALL2_CHK! });
  });
  assertLike(get!, { sample: 15 });
  assert.equal(get!.headers.range, undefined);
  assert.equal(put!.method, 'PUT');
  assert.deepEqual(splitTarget(put!.target), { segments: ['uri'], query: [['format', 'SDMF']] });
  assert.deepEqual(put!.body, byN(15).response.body);
  assert.equal(cap, P.$NOTES_SDMF);
});

test('overwriteMutable is PUT /uri/$WRITECAP with the new bytes (#11)', async () => {
  const [req] = await replay([recorded(11)], async (grid) => {
    await grid.overwriteMutable(P.$NOTES_SDMF!, { immutableCap: literalCap(byN(11).request.body) });
  });
  // The recording PUT to the file's path; by cap, no path can create directories.
  assertLike(req!, { sample: 11, byCap: P.$NOTES_SDMF!, sameBody: true });
});

test('stat of a mutable file asks t=json of the file for its size (#26)', async () => {
  const [req] = await replay([recorded(26)], async (grid) => {
    const info = await grid.stat(P.$NOTES_SDMF!);
    assert.deepEqual([info.kind, info.size, info.readOnly, info.format], ['file', 39, false, 'SDMF']);
    // LIT and CHK caps describe themselves: no request.
    assert.equal((await grid.stat(P.$LARGE_CHK!)).size, 4194304);
    assert.equal((await grid.stat(P.$TINY_LIT!)).size, 13);
  });
  assertLike(req!, { sample: 26, byCap: P.$NOTES_SDMF! });
});

test('list is GET /uri/$DIRCAP?t=json (#29) and asks each mutable child its size (#30, #27, #26)', async () => {
  const first = await replay([recorded(29)], async (grid) => {
    const entries = await grid.list(P.$ROOT!);
    assert.deepEqual(entries.map((e) => e.name).sort(), ['docs', 'large.bin', 'photos']);
  });
  assertLike(first[0]!, { sample: 29 });

  const answers = new Map([[P.$DOCS!, recorded(30)], [P.$LOG_MDMF!, recorded(27)], [P.$NOTES_SDMF!, recorded(26)]]);
  const server = await startReplayServer((req) => answers.get(splitTarget(req.target).segments[1]!)!);
  const grid = new WebApiGrid(server.url, OPTIONS);
  try {
    const entries = new Map((await grid.list(P.$DOCS!)).map((e) => [e.name, e]));
    assert.equal(entries.get('log.txt')!.node.size, 220);
    assert.equal(entries.get('notes.txt')!.node.size, 39);
    assert.equal(entries.get('tiny.txt')!.node.size, 13);
    assert.equal(typeof entries.get('small.txt')!.metadata.tahoe!.linkmotime, 'number');
    assert.equal(server.requests.length, 3);
    for (const r of server.requests) assert.deepEqual(splitTarget(r.target).query, [['t', 'json']]);
  } finally {
    await grid.close();
    await server.close();
  }
});

test('reads are GET /uri/$CAP with a closed Range clamped to the size (#17, #18)', async () => {
  const [a] = await replay([recorded(17)], async (grid) => {
    const r = await grid.openRead(P.$SMALL2_CHK!);
    assert.equal(r.size, 1968);
    assert.deepEqual(await r.read(0, 100), byN(14).response.body.subarray(0, 100));
  }, { segmentSize: 100, rangeBytes: 100, readAheadBytes: 0 });
  assertLike(a!, { sample: 15 });
  assert.equal(a!.headers.range, 'bytes=0-99');

  const [b] = await replay([recorded(18)], async (grid) => {
    const r = await grid.openRead(P.$LARGE_CHK!);
    // Asking beyond the end is clamped: never an open range, never past the size.
    assert.deepEqual(await r.read(4194294, 1000), byN(18).response.body);
    assert.equal((await r.read(4194304, 10)).length, 0);
  }, { segmentSize: 1, rangeBytes: 1, readAheadBytes: 0 }); // 1-byte segments: a range is exactly the read
  assertLike(b!, { sample: 18 });
  assert.equal(b!.headers.range, 'bytes=4194294-4194303');
});

test('a 200 whole-file answer to a Range is skipped to the wanted bytes; a 416 reads as EOF (#20, #19)', async () => {
  const full = byN(14).response.body;
  await replay([recorded(20), recorded(19)], async (grid) => {
    const r = await grid.openRead(P.$SMALL2_CHK!);
    assert.deepEqual(await r.read(5, 10), full.subarray(5, 15));
    assert.equal((await r.read(1000, 10)).length, 0);
  }, { segmentSize: 1, rangeBytes: 1, readAheadBytes: 0 });
});

test('setChild is t=set_children with ro_uri/rw_uri and metadata only when given (#39 body shape)', async () => {
  const reqs = await replay([OKAY(), OKAY()], async (grid) => {
    await grid.setChild(P.$ROOT!, 'a.txt', P.$UNLINKED_CHK!, { replace: false, metadata: { note: 'from mkdir-with-children' } });
    await grid.setChild(P.$ROOT!, 'big', P.$LARGE_CHK!, { replace: true });
  });
  const sampleBody = JSON.parse(byN(39).request.body.toString()) as Record<string, unknown>;
  for (const [i, req] of reqs.entries()) {
    assert.equal(req.method, 'POST');
    assert.equal(req.headers['content-type'], 'application/json');
    assert.deepEqual(splitTarget(req.target), { segments: ['uri', P.$ROOT], query: [['t', 'set_children'], ['replace', i === 0 ? 'false' : 'true']] });
    const body = JSON.parse(req.body.toString()) as Record<string, unknown>;
    const name = i === 0 ? 'a.txt' : 'big';
    assert.deepEqual(body, { [name]: sampleBody[name] }, 'the same children JSON Tahoe accepted in mkdir-with-children');
  }
  const [mutableLink] = await replay([OKAY()], async (grid) => {
    await grid.setChild(P.$ROOT!, 'n', P.$NOTES_SDMF!, { replace: 'only-files', metadata: { 'no-write': true } });
  });
  // no-write drops write authority before it reaches the node.
  assert.deepEqual(JSON.parse(mutableLink!.body.toString()), { n: ['filenode', { ro_uri: readCapOf(P.$NOTES_SDMF!), metadata: { 'no-write': true } }] });
  assert.equal(splitTarget(mutableLink!.target).query[1]![1], 'only-files');
});

test('deleteChild reads the entry, then t=unlink&name= on the parent cap (#29, #43)', async () => {
  const [json, unlink] = await replay([recorded(29), recorded(43)], async (grid) => {
    const removed = await grid.deleteChild(P.$ROOT!, 'large.bin', { mustBe: 'file' });
    assert.equal(removed.node.cap, P.$LARGE_CHK);
  });
  assertLike(json!, { sample: 29 });
  assertLike(unlink!, { sample: 43, changedQuery: { name: 'large.bin' } });
  await replay([recorded(29)], async (grid) => {
    await rejectsWith(grid.deleteChild(P.$ROOT!, 'docs', { mustBe: 'file' }), 'IS_A_DIRECTORY');
  });
});

test('moveChild within a directory: the link as listed, then one t=relink with to_dir as a cap and an explicit replace (#30, #36)', async () => {
  const [json, relink] = await replay([recorded(30), recorded(36)], async (grid) => {
    await grid.moveChild(P.$DOCS!, 'small.txt', P.$DOCS!, 'moved.txt', false);
  });
  assertLike(json!, { sample: 30, byCap: P.$DOCS! });
  // The recording addressed both directories by path below $ROOT; the backend uses their caps.
  assertLike(relink!, { sample: 36, byCap: P.$DOCS!, changedQuery: { from_name: 'small.txt', to_dir: P.$DOCS! }, extraQuery: [['replace', 'false']] });
});

test('moveChild across directories: set_children on the target with the listed caps and metadata, then t=unlink on the source', async () => {
  const [, set_, unlink] = await replay([recorded(30), OKAY(), recorded(43)], async (grid) => {
    await grid.moveChild(P.$DOCS!, 'small.txt', P.$PHOTOS!, 'moved.txt', 'only-files');
  });
  assert.deepEqual(splitTarget(set_!.target), { segments: ['uri', P.$PHOTOS], query: [['t', 'set_children'], ['replace', 'only-files']] });
  const body = JSON.parse(set_!.body.toString()) as Record<string, [string, { ro_uri?: string; metadata?: Record<string, unknown> }]>;
  assert.deepEqual(Object.keys(body), ['moved.txt']);
  assert.equal(body['moved.txt']![0], 'filenode');
  assert.match(body['moved.txt']![1].ro_uri!, /^URI:/);
  assert.equal(body['moved.txt']![1].metadata!.tahoe, undefined, 'user metadata only');
  assertLike(unlink!, { sample: 43, byCap: P.$DOCS!, changedQuery: { name: 'small.txt' } });
});

test('patchMetadata: t=json, then set_children with the caps as listed and the full new metadata', async () => {
  const [, set_, ] = await replay([recorded(29), OKAY(), recorded(29)], async (grid) => {
    const e = await grid.patchMetadata(P.$ROOT!, 'docs', { mtime: 3, ctime: null });
    assert.equal(e.node.cap, P.$DOCS);
  });
  assert.deepEqual(splitTarget(set_!.target).query, [['t', 'set_children'], ['replace', 'true']]);
  assert.deepEqual(JSON.parse(set_!.body.toString()), { docs: ['dirnode', { rw_uri: P.$DOCS, ro_uri: readCapOf(P.$DOCS!), metadata: { mtime: 3 } }] });
});

test('Tahoe errors from real answers surface as GridErrors without HTML or caps (#51, #49, #54, #60, #46)', async () => {
  await replay([recorded(51), recorded(49), recorded(54), recorded(60), recorded(46)], async (grid) => {
    await rejectsWith(grid.moveChild(P.$DOCS!, 'notes.txt', P.$DOCS!, 'tiny.txt', false), 'EXISTS', /already a child/);
    await rejectsWith(grid.moveChild(P.$DOCS!, 'nope', P.$DOCS!, 'x', false), 'NOT_FOUND', /No such child: nope/);
    await rejectsWith(grid.setChild(P.$ROOT!, 'x.txt', P.$TINY_LIT!, { replace: true }), 'NOT_WRITABLE', /NotWriteableError/);
    await rejectsWith(grid.openRead(P.$SMALL2_CHK!).then((r) => r.read(0, 10)), 'UNAVAILABLE', /NoSharesError/);
    await rejectsWith(grid.list(P.$DOCS!), 'NOT_FOUND', /No such child: nope/);
  }, { segmentSize: 10, rangeBytes: 10, readAheadBytes: 0 });
});

test('writes through read-only or immutable caps are refused before any request', async () => {
  const requests = await replay([], async (grid) => {
    await rejectsWith(grid.setChild(P.$ROOT_RO!, 'x', P.$TINY_LIT!, { replace: true }), 'NOT_WRITABLE');
    await rejectsWith(grid.mkdir(P.$ROOT_RO!, 'x'), 'NOT_WRITABLE');
    await rejectsWith(grid.deleteChild(P.$ROOT_RO!, 'docs'), 'NOT_WRITABLE');
    await rejectsWith(grid.moveChild(P.$ROOT!, 'docs', P.$ROOT_RO!, 'd', false), 'NOT_WRITABLE');
    await rejectsWith(grid.patchMetadata(P.$IMMDIR!, 'a.txt', {}), 'NOT_WRITABLE');
    await rejectsWith(grid.overwriteMutable(readCapOf(P.$NOTES_SDMF!), { immutableCap: P.$TINY_LIT! }), 'NOT_WRITABLE');
    await rejectsWith(grid.overwriteMutable(P.$LARGE_CHK!, { immutableCap: P.$TINY_LIT! }), 'NOT_WRITABLE');
    await rejectsWith(grid.setChild(P.$LARGE_CHK!, 'x', P.$TINY_LIT!, { replace: true }), 'NOT_A_DIRECTORY');
    await rejectsWith(grid.openRead(P.$ROOT!), 'IS_A_DIRECTORY');
  });
  assert.equal(requests.length, 0);
});

test('open() checks the welcome page (#01) and explains a URL that is not a Tahoe node (#68)', async () => {
  const ok = await startReplayServer(() => recorded(1));
  try {
    const grid = await WebApiGrid.open(ok.url, OPTIONS);
    await grid.close();
    assert.equal(ok.requests[0]!.target, '/?t=json');
  } finally {
    await ok.close();
  }
  const other = await startReplayServer(() => recorded(68));
  try {
    await rejectsWith(WebApiGrid.open(other.url, OPTIONS), 'INVALID', /does not answer like a Tahoe-LAFS web-API.*404/);
  } finally {
    await other.close();
  }
});
