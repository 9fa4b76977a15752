// Pure FTP protocol pieces: PORT/EPRT/PASV/EPSV and the bounce rules, MLSx facts and LIST
// lines, MDTM/MFMT times, the vfs error table, and TYPE A conversion.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { checkActiveTarget, familyOf, formatEpsv, formatPasv, parseEprtArg, parseEpsvArg, parsePortArg } from '../../src/ftp/addresses.js';
import { FromCrlf, toCrlf } from '../../src/ftp/ascii.js';
import { errorReply, transferErrorReply } from '../../src/ftp/errors.js';
import {
  DEFAULT_MLST_FACTS, formatTimeVal, listLines, mlstFeature, mlsxLine, parseTimeVal, permFact, selectFacts, stripListOptions,
} from '../../src/ftp/listing.js';
import { toVfsError, VfsError, type VfsAttrs, type VfsErrorCode } from '../../src/vfs/index.js';

test('PORT: h1,h2,h3,h4,p1,p2', () => {
  assert.deepEqual(parsePortArg('127,0,0,1,4,1'), { host: '127.0.0.1', port: 1025 });
  assert.deepEqual(parsePortArg(' 10,1,2,3,255,255 '), { host: '10.1.2.3', port: 65535 });
  for (const bad of ['127,0,0,1,4', '127,0,0,1,4,1,1', '256,0,0,1,4,1', '127,0,0,1,256,1', 'a,b,c,d,e,f', '127.0.0.1,4,1', '127,0,0,1,0,0', '']) {
    assert.equal(parsePortArg(bad), undefined, bad);
  }
});

test('EPRT: delimiters, protocols, addresses', () => {
  assert.deepEqual(parseEprtArg('|1|127.0.0.1|5282|'), { ok: true, family: 4, host: '127.0.0.1', port: 5282 });
  assert.deepEqual(parseEprtArg('|2|::1|5282|'), { ok: true, family: 6, host: '::1', port: 5282 });
  assert.deepEqual(parseEprtArg('!1!10.0.0.1!21!'), { ok: true, family: 4, host: '10.0.0.1', port: 21 });
  assert.deepEqual(parseEprtArg('|3|127.0.0.1|5282|'), { ok: false, reason: 'protocol' });
  for (const bad of ['|1|::1|5282|', '|2|127.0.0.1|5282|', '|1|127.0.0.1|0|', '|1|127.0.0.1|65536|', '|1|127.0.0.1|5282', '1|127.0.0.1|5282|', '|x|127.0.0.1|1|', '', '1127.0.0.111', '|1|127.0.0.1|12a|']) {
    assert.deepEqual(parseEprtArg(bad), { ok: false, reason: 'syntax' }, bad);
  }
});

test('bounce rules: only back to the control peer, only ports >= 1024, matching protocol', () => {
  const peer = '127.0.0.1';
  assert.deepEqual(checkActiveTarget({ host: '127.0.0.1', port: 1024 }, 4, peer), { ok: true });
  assert.deepEqual(checkActiveTarget({ host: '127.0.0.1', port: 40000 }, 4, '::ffff:127.0.0.1'), { ok: true }, 'mapped peer');
  const other = checkActiveTarget({ host: '127.0.0.2', port: 40000 }, 4, peer);
  assert.ok(!other.ok && other.code === 500);
  const low = checkActiveTarget({ host: '127.0.0.1', port: 25 }, 4, peer);
  assert.ok(!low.ok && low.code === 500);
  const proto = checkActiveTarget({ host: '::1', port: 40000 }, 6, peer);
  assert.ok(!proto.ok && proto.code === 522 && proto.text.includes('(1)'));
  assert.deepEqual(checkActiveTarget({ host: '::1', port: 40000 }, 6, '::1'), { ok: true });
  const v6other = checkActiveTarget({ host: '::2', port: 40000 }, 6, '::1');
  assert.ok(!v6other.ok && v6other.code === 500);
  assert.equal(familyOf('::ffff:10.0.0.1'), 4);
  assert.equal(familyOf('fe80::1'), 6);
  fc.assert(fc.property(fc.ipV4(), fc.ipV4(), fc.integer({ min: 1, max: 65535 }), (a, b, port) => {
    const r = checkActiveTarget({ host: a, port }, 4, b);
    assert.equal(r.ok, a === b && port >= 1024);
  }));
});

test('PASV and EPSV replies and EPSV arguments', () => {
  assert.equal(formatPasv('127.0.0.1', 50001), 'Entering Passive Mode (127,0,0,1,195,81).');
  assert.throws(() => formatPasv('::1', 1));
  assert.equal(formatEpsv(50001), 'Entering Extended Passive Mode (|||50001|)');
  assert.deepEqual(parseEpsvArg(''), { kind: 'any' });
  assert.deepEqual(parseEpsvArg('all'), { kind: 'all' });
  assert.deepEqual(parseEpsvArg('1'), { kind: 'protocol', family: 4 });
  assert.deepEqual(parseEpsvArg('2'), { kind: 'protocol', family: 6 });
  assert.deepEqual(parseEpsvArg('3'), { kind: 'unsupported' });
  assert.deepEqual(parseEpsvArg('x'), { kind: 'bad' });
});

const file = (o: Partial<VfsAttrs> = {}): VfsAttrs => ({ kind: 'file', mode: 0o100666, size: 10, mtime: 626644800, noWrite: false, mutable: false, unique: 'ab12', ...o });
const dir = (o: Partial<VfsAttrs> = {}): VfsAttrs => ({ kind: 'dir', mode: 0o040777, mtime: 626644800, noWrite: false, mutable: true, unique: 'cd34', ...o });

test('MLSx perm facts follow Tahoe: writing is the node, deleting and renaming the parent', () => {
  assert.equal(permFact(file(), true), 'adfrw');
  assert.equal(permFact(file({ noWrite: true }), true), 'dfr', 'no-write link in a writable dir');
  assert.equal(permFact(file({ noWrite: true }), false), 'r', 'read-only dir');
  assert.equal(permFact(file({ mutable: true }), false), 'arw', 'writable mutable file in a read-only dir');
  assert.equal(permFact(dir(), true), 'cdeflmp');
  assert.equal(permFact(dir({ noWrite: true }), false), 'el');
  assert.equal(permFact(dir({ noWrite: true }), true), 'defl');
  assert.equal(permFact({ kind: 'unknown', mode: 0, noWrite: true, mutable: false }, true), 'df');
});

test('MLSx lines: facts, types, selection, names with CR/LF left to the reply encoder', () => {
  const all = DEFAULT_MLST_FACTS;
  assert.equal(mlsxLine('small', file(), all, { parentWritable: true }), 'type=file;size=10;modify=19891109200000;perm=adfrw;unique=ab12; small');
  assert.equal(mlsxLine('.', dir(), all, { parentWritable: true, type: 'cdir' }), 'type=cdir;modify=19891109200000;perm=celmp;unique=cd34; .');
  assert.equal(mlsxLine('..', dir(), all, { parentWritable: true, type: 'pdir' }), 'type=pdir;modify=19891109200000;perm=el;unique=cd34; ..');
  assert.equal(mlsxLine('u', { kind: 'unknown', mode: 0, noWrite: true, mutable: false }, all, { parentWritable: false }), 'type=OS.tahoe=unknown;perm=; u');
  assert.equal(mlsxLine('new', file({ mtime: undefined, unique: undefined }), all, { parentWritable: true }), 'type=file;size=10;perm=adfrw; new', 'unknown facts are left out');
  const some = selectFacts('TYPE;Size;unix.MODE;bogus;');
  assert.deepEqual([...some], ['type', 'size', 'UNIX.mode']);
  assert.equal(mlsxLine('a b;c', file({ mode: 0o100444 }), some, { parentWritable: true }), 'type=file;size=10;UNIX.mode=0444; a b;c');
  assert.equal(mlsxLine('x', file(), new Set(), { parentWritable: true }), ' x');
  assert.equal(mlstFeature(), 'MLST type*;size*;modify*;perm*;unique*;UNIX.mode;');
});

test('LIST lines are ls -l lines, sorted; ls options are stripped from arguments', () => {
  const now = 626644800 + 3600;
  const lines = listLines([{ name: 'b', attrs: file() }, { name: 'a', attrs: dir() }], now);
  assert.deepEqual(lines, [
    'drwxrwxrwx    1 tahoe    tahoe           0 Nov 09 20:00 a',
    '-rw-rw-rw-    1 tahoe    tahoe          10 Nov 09 20:00 b',
  ]);
  assert.deepEqual(stripListOptions(Buffer.from('-la')), Buffer.alloc(0));
  assert.deepEqual(stripListOptions(Buffer.from('-l -a dir x')), Buffer.from('dir x'));
  assert.deepEqual(stripListOptions(Buffer.from('dir')), Buffer.from('dir'));
  assert.deepEqual(stripListOptions(Buffer.from('-')), Buffer.from('-'));
  assert.deepEqual(stripListOptions(Buffer.from('-1x.txt')), Buffer.from('-1x.txt'), 'not an option: keeps the name');
});

test('MDTM/MFMT times: UTC YYYYMMDDHHMMSS, real dates only', () => {
  assert.equal(formatTimeVal(0), '19700101000000');
  assert.equal(formatTimeVal(626644800), '19891109200000');
  assert.equal(formatTimeVal(626644800.9), '19891109200000');
  assert.equal(parseTimeVal('19891109200000'), 626644800);
  assert.equal(parseTimeVal('19891109200000.5'), 626644800.5);
  for (const bad of ['1989110920000', '19890230000000', '19891109250000', '198911092000000', 'x9891109200000', '20000101000060']) {
    assert.equal(parseTimeVal(bad), undefined, bad);
  }
  fc.assert(fc.property(fc.integer({ min: 0, max: 253402300799 }), (t) => assert.equal(parseTimeVal(formatTimeVal(t)), t)));
});

test('the error table: every vfs code has a reply; 452 for a full disk, 552 for quotas; only 426/451/452/552 after 150', () => {
  const expected: Record<VfsErrorCode, number> = {
    NO_SUCH_FILE: 550, PERMISSION_DENIED: 550, EXISTS: 550, TARGET_EXISTS: 550, NOT_A_DIRECTORY: 550, IS_A_DIRECTORY: 550,
    NOT_EMPTY: 550, UNKNOWN_NODE: 550, INVALID_NAME: 553, INVALID_ARGUMENT: 550, CLOSED: 451, TOO_MANY_OPEN_FILES: 450,
    UNSUPPORTED: 504, UNAVAILABLE: 451, NO_SPACE: 452, QUOTA_EXCEEDED: 552, FILE_TOO_LARGE: 552, FAILURE: 451,
  };
  for (const [code, reply] of Object.entries(expected)) {
    const r = errorReply(new VfsError(code as VfsErrorCode, `msg ${code}`));
    assert.deepEqual(r, { code: reply, text: `msg ${code}` });
    const t = transferErrorReply(new VfsError(code as VfsErrorCode, 'm'));
    assert.ok([426, 451, 452, 552].includes(t.code), `${code} after 150 → ${t.code}`);
  }
  const full = toVfsError(Object.assign(new Error('write failed'), { code: 'ENOSPC' }));
  assert.equal(errorReply(full).code, 452);
  assert.equal(transferErrorReply(full).code, 452);
  assert.deepEqual(errorReply(new Error('secret URI:DIR2:xyz')), { code: 451, text: 'Local error in processing' }, 'unexpected errors say nothing');
});

test('TYPE A: LF → CRLF down, CRLF → LF up, exact inverses in any chunking', () => {
  assert.deepEqual(toCrlf(Buffer.from('a\nb\r\nc')), Buffer.from('a\r\nb\r\r\nc'));
  const up = new FromCrlf();
  assert.deepEqual(Buffer.concat([up.push(Buffer.from('a\r')), up.push(Buffer.from('\nb\r')), up.push(Buffer.from('x\r')), up.flush()]), Buffer.from('a\nb\rx\r'));
  const bin = Buffer.from([0, 1, 2, 0xff]);
  assert.equal(toCrlf(bin), bin, 'no LF: the same buffer');
  fc.assert(fc.property(fc.uint8Array({ maxLength: 500 }).map((a) => Buffer.from(a.map((x) => [10, 13, 65][x % 3]!))), fc.integer({ min: 1, max: 50 }), (data, cut) => {
    const wire = toCrlf(data);
    const conv = new FromCrlf();
    const parts: Buffer[] = [];
    for (let i = 0; i < wire.length; i += cut) parts.push(conv.push(wire.subarray(i, i + cut)));
    parts.push(conv.flush());
    assert.deepEqual(Buffer.concat(parts), data);
  }));
});
