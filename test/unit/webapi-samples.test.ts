// Every recorded answer of a real Tahoe-LAFS 1.20 node (shared/reference/tahoe-webapi-samples)
// goes through the web-API backend's parsers: bodies de-chunk to the recorded lengths and
// hashes, t=json answers become typed nodes, error answers become the right GridError with
// Tahoe's message as plain text (no HTML, no caps), operation results carry caps.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { parseCap, readCapOf } from '../../src/caps/index.js';
import type { GridErrorCode } from '../../src/grid/index.js';
import { errorFromResponse } from '../../src/grid/webapi/errors.js';
import { needsSize, nodeInfoFromRaw, parseNodeJson, type RawDirectory } from '../../src/grid/webapi/json.js';
import { header, loadSamples, samplesDir, type Sample } from '../helpers/fake-tahoe/samples.js';

const dir = samplesDir();
// The recorded samples ship with the repository (test/fixtures): their absence is a failure.
if (!dir) throw new Error('Tahoe web-API samples not found in test/fixtures/tahoe-webapi-samples');
const set = dir ? loadSamples(dir) : { samples: [] as Sample[], placeholders: {} as Record<string, string>, dir: '' };
const P = set.placeholders;
const byN = (n: number) => set.samples.find((s) => s.n === n)!;

test('all 68 recorded responses de-chunk to the recorded lengths and sha256s', () => {
  assert.equal(set.samples.length, 68);
  for (const s of set.samples) {
    const idx = s.index.response;
    assert.equal(s.response.status, idx.status, `#${s.n} status`);
    assert.equal(s.response.chunked, idx.chunked, `#${s.n} chunked`);
    if (idx.body_truncated_in_file) {
      assert.equal(Number(header(s.response, 'content-length')), idx.body_length, `#${s.n} Content-Length`);
      continue;
    }
    assert.equal(s.response.body.length, idx.body_length, `#${s.n} body length`);
    if (idx.body_sha256) assert.equal(createHash('sha256').update(s.response.body).digest('hex'), idx.body_sha256, `#${s.n} sha256`);
    if (s.response.chunked) assert.ok(s.response.chunkSizes.length >= 1);
  }
  // Twisted's 500 pages arrive in many tiny chunks.
  assert.ok(byN(54).response.chunkSizes.length > 20);
});

test('every t=json answer parses into typed nodes', () => {
  const jsonSamples = set.samples.filter((s) => s.response.status === 200 && /[?&]t=json\b/.test(s.request.target) && s.request.target.startsWith('/uri'));
  assert.deepEqual(jsonSamples.map((s) => s.n), [24, 25, 26, 27, 28, 29, 30, 31, 44]);
  for (const s of jsonSamples) {
    const raw = parseNodeJson(s.response.body.toString('utf8'));
    const info = nodeInfoFromRaw(raw);
    assert.notEqual(info.kind, 'unknown', `#${s.n}`);
    assert.ok(info.cap.startsWith('URI:'), `#${s.n}`);
  }

  const lit = nodeInfoFromRaw(parseNodeJson(byN(24).response.body.toString()));
  assert.deepEqual(lit, { kind: 'file', cap: P.$TINY_LIT, readCap: P.$TINY_LIT, mutable: false, readOnly: true, size: 13, format: 'LIT' });
  const litRaw = parseNodeJson(byN(24).response.body.toString());
  assert.equal(typeof litRaw.metadata?.tahoe?.linkcrtime, 'number');
  assert.equal(typeof litRaw.metadata?.tahoe?.linkmotime, 'number');

  const chk = nodeInfoFromRaw(parseNodeJson(byN(25).response.body.toString()));
  assert.deepEqual([chk.kind, chk.size, chk.format, chk.readOnly, chk.mutable], ['file', 4194304, 'CHK', true, false]);

  const sdmf = nodeInfoFromRaw(parseNodeJson(byN(26).response.body.toString()));
  assert.deepEqual(sdmf, {
    kind: 'file', cap: P.$NOTES_SDMF, writeCap: P.$NOTES_SDMF, readCap: readCapOf(P.$NOTES_SDMF!), mutable: true, readOnly: false, size: 39, format: 'SDMF',
  });
  // Our own diminishing gives exactly the read cap Tahoe reports.
  assert.equal(parseNodeJson(byN(26).response.body.toString()).roUri, readCapOf(P.$NOTES_SDMF!));
  const mdmf = nodeInfoFromRaw(parseNodeJson(byN(27).response.body.toString()));
  assert.deepEqual([mdmf.format, mdmf.size, mdmf.mutable, mdmf.readOnly, mdmf.cap], ['MDMF', 220, true, false, P.$LOG_MDMF]);

  const byCap = parseNodeJson(byN(28).response.body.toString());
  assert.equal(byCap.metadata, undefined, 'a file addressed by cap has no edge metadata');
  assert.equal(nodeInfoFromRaw(byCap).cap, P.$SMALL2_CHK);
});

test('directory listings: kinds, caps, metadata; read-only listings carry no write caps', () => {
  const root = parseNodeJson(byN(29).response.body.toString()) as RawDirectory;
  assert.equal(root.type, 'dirnode');
  assert.equal(root.rwUri, P.$ROOT);
  assert.deepEqual([...root.children.keys()].sort(), ['docs', 'large.bin', 'photos']);
  const docs = nodeInfoFromRaw(root.children.get('docs')!);
  assert.deepEqual(docs, { kind: 'dir', cap: P.$DOCS, writeCap: P.$DOCS, readCap: readCapOf(P.$DOCS!), mutable: true, readOnly: false });
  assert.equal(nodeInfoFromRaw(root.children.get('large.bin')!).size, 4194304);

  const sub = parseNodeJson(byN(30).response.body.toString()) as RawDirectory;
  const kids = new Map([...sub.children].map(([n, r]) => [n, nodeInfoFromRaw(r)]));
  assert.deepEqual([...kids.keys()].sort(), ['log.txt', 'notes.txt', 'small.txt', 'tiny.txt']);
  // Tahoe lists mutable files without a size: the backend must ask each one.
  assert.equal(kids.get('log.txt')!.size, undefined);
  assert.ok(needsSize(kids.get('log.txt')!) && needsSize(kids.get('notes.txt')!));
  assert.ok(!needsSize(kids.get('small.txt')!) && !needsSize(kids.get('tiny.txt')!));
  assert.equal(kids.get('tiny.txt')!.format, 'LIT');
  assert.equal(kids.get('small.txt')!.size, 1968);
  assert.equal(sub.children.get('small.txt')!.metadata!.tahoe!.linkcrtime! < sub.children.get('small.txt')!.metadata!.tahoe!.linkmotime!, true, 'replaced link: crtime kept, motime moved');

  const ro = parseNodeJson(byN(31).response.body.toString()) as RawDirectory;
  assert.equal(ro.rwUri, undefined);
  assert.equal(ro.roUri, P.$ROOT_RO);
  for (const [name, child] of ro.children) {
    assert.equal(child.rwUri, undefined, name);
    const info = nodeInfoFromRaw(child);
    assert.equal(info.readOnly, true, name);
    assert.equal(info.writeCap, undefined, name);
  }
  assert.equal(nodeInfoFromRaw(ro.children.get('docs')!).cap, readCapOf(P.$DOCS!));

  const after = parseNodeJson(byN(44).response.body.toString()) as RawDirectory;
  assert.deepEqual([...after.children.keys()].sort(), ['docs', 'kids', 'large.bin', 'photos']);
});

const EXPECTED_ERRORS: Record<number, { code: GridErrorCode; message?: string | RegExp }> = {
  19: { code: 'INVALID', message: 'First beyond end of file' },
  45: { code: 'NOT_FOUND', message: 'No such child: missing.txt' },
  46: { code: 'NOT_FOUND', message: 'No such child: nope' },
  47: { code: 'NOT_FOUND', message: 'No such child: nope' },
  48: { code: 'NOT_FOUND', message: 'No such child: nope' },
  49: { code: 'NOT_FOUND', message: 'No such child: nope' },
  50: { code: 'EXISTS', message: 'There was already a child by that name, and you asked me to not replace it.' },
  51: { code: 'EXISTS', message: 'There was already a child by that name, and you asked me to not replace it.' },
  52: { code: 'INVALID', message: 'POST to file: bad t=mkdir' },
  53: { code: 'INVALID', message: 'to_name= may not contain a slash' },
  54: { code: 'NOT_WRITABLE', message: 'NotWriteableError' },
  55: { code: 'NOT_WRITABLE', message: 'NotWriteableError' },
  56: { code: 'UNAVAILABLE', message: 'AssertionError' },
  57: { code: 'NOT_A_DIRECTORY', message: "Files have no children named 'below'" },
  58: { code: 'INVALID', message: /^GET unknown URI type: can only do t=info and t=json, not t=\. Using a webapi server/ },
  59: { code: 'INVALID', message: /^GET unknown URI type/ },
  60: { code: 'UNAVAILABLE', message: /^NoSharesError: no shares could be found\. .*learn more\.$/ },
  61: { code: 'INVALID', message: 'GET directory: bad t=bogus' },
  62: { code: 'INVALID', message: 'POST to a directory with bad t=bogus' },
  63: { code: 'INVALID', message: 'POST to a directory with bad t=' },
  64: { code: 'IS_A_DIRECTORY', message: 'PUT to a directory' },
  65: { code: 'INVALID', message: 'Unknown format: bogus, I know CHK, SDMF, MDMF' },
  66: { code: 'UNAVAILABLE', message: 'JSONDecodeError: Expecting value: line 1 column 1 (char 0)' },
  67: { code: 'UNSUPPORTED', message: "Huh?: I don't know how to treat a PATCH request." },
  68: { code: 'NOT_FOUND', message: 'No Such Resource: Sorry. No luck finding that resource.' },
};

test('every error answer maps to the right GridError with a plain message and no caps', () => {
  const errors = set.samples.filter((s) => s.response.status >= 400);
  assert.deepEqual(errors.map((s) => s.n), Object.keys(EXPECTED_ERRORS).map(Number));
  for (const s of errors) {
    const err = errorFromResponse(s.response.status, header(s.response, 'content-type'), s.response.body);
    const want = EXPECTED_ERRORS[s.n]!;
    assert.equal(err.code, want.code, `#${s.n} ${s.name}`);
    if (typeof want.message === 'string') assert.equal(err.message, want.message, `#${s.n}`);
    else if (want.message) assert.match(err.message, want.message, `#${s.n}`);
    assert.doesNotMatch(err.message, /[<>]|&[a-z]+;|URI:|URI%3A/i, `#${s.n} message has HTML or a cap: ${err.message}`);
    assert.ok(err.message.length > 0 && err.message.length <= 300, `#${s.n}`);
    for (const cap of Object.values(P)) assert.ok(!err.message.includes(cap.split(':')[2]!), `#${s.n} leaks key material`);
  }
});

test('operation results carry the new cap as text, however they are framed', () => {
  const results: Record<number, string> = {
    2: '$ROOT', 3: '$DOCS', 4: '$PHOTOS', 5: '$TINY_LIT', 6: '$SMALL_CHK', 7: '$SMALL2_CHK', 8: '$LARGE_CHK', 9: '$UNLINKED_CHK',
    10: '$NOTES_SDMF', 11: '$NOTES_SDMF', 12: '$LOG_MDMF', 13: '$UNLINKED_MDMF', 37: '$UNLINKED_CHK', 38: '$UNLINKED_CHK',
    39: '$KIDS', 40: '$IMMDIR', 42: '$UNLINKED_CHK',
  };
  for (const [n, name] of Object.entries(results)) {
    const s = byN(Number(n));
    assert.equal(header(s.response, 'content-type'), 'text/html', `#${n}`);
    assert.equal(s.response.body.toString('utf8').trim(), P[name], `#${n}`);
    assert.notEqual(parseCap(s.response.body.toString('utf8')).type, 'unknown', `#${n}`);
  }
  assert.equal(byN(5).response.status, 201, 'a new child is 201 Created');
  assert.equal(byN(7).response.status, 200, 'a replaced child is 200');
  assert.equal(byN(35).response.body.toString(), 'thing moved');
  assert.equal(byN(43).response.body.toString(), 'thing unlinked');
});

test('range answers: 206 with Content-Range, an ignored open range past the end is a 200 whole file', () => {
  assert.equal(header(byN(17).response, 'content-range'), 'bytes 0-99/1968');
  assert.deepEqual(byN(17).response.body, byN(14).response.body.subarray(0, 100));
  assert.equal(header(byN(18).response, 'content-range'), 'bytes 4194294-4194303/4194304');
  assert.equal(byN(20).response.status, 200);
  assert.deepEqual(byN(20).response.body, byN(14).response.body);
  assert.equal(byN(19).response.status, 416);
});
