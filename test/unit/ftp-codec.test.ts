// The FTP control-connection codec and reply formatting: lines in any chunking, the 8 KiB cap,
// Telnet bytes, RFC 2640 CR NUL, command parsing, and replies that names cannot split.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { LineReader, MAX_LINE, decodeLine, parseCommand } from '../../src/ftp/codec.js';
import { COMMANDS, featureLines, helpLines, lookupCommand } from '../../src/ftp/commands.js';
import { encodeText, listingLine, multiline, quotePath, reply } from '../../src/ftp/replies.js';

function drain(r: LineReader): (Buffer | 'overflow')[] {
  const out: (Buffer | 'overflow')[] = [];
  for (let x = r.next(); x !== undefined; x = r.next()) {
    if (x === 'overflow') {
      out.push('overflow');
      break;
    }
    out.push(x.line);
  }
  return out;
}

test('lines: CRLF and bare LF end a line; a partial line waits', () => {
  const r = new LineReader();
  r.push(Buffer.from('USER alice\r\nPASS x\nNO'));
  assert.deepEqual(drain(r).map(String), ['USER alice', 'PASS x']);
  assert.equal(r.buffered, 2);
  r.push(Buffer.from('OP\r\n'));
  assert.deepEqual(drain(r).map(String), ['NOOP']);
  assert.equal(r.buffered, 0);
});

test('lines: peek leaves the line, takeRest returns the raw unread bytes', () => {
  const r = new LineReader();
  r.push(Buffer.from('AUTH TLS\r\n\x16\x03\x01\x00\xffrest', 'latin1'));
  const peeked = r.peek();
  assert.ok(peeked && peeked !== 'overflow');
  assert.equal(String(peeked.line), 'AUTH TLS');
  const taken = r.next();
  assert.ok(taken && taken !== 'overflow');
  assert.deepEqual(r.takeRest(), Buffer.from('\x16\x03\x01\x00\xffrest', 'latin1'));
  assert.equal(r.next(), undefined);
});

test('lines: the 8 KiB cap', () => {
  const r = new LineReader();
  r.push(Buffer.alloc(MAX_LINE - 1, 0x61));
  assert.equal(r.next(), undefined, 'just under the cap without LF: still waiting');
  r.push(Buffer.from('\n'));
  const ok = r.next();
  assert.ok(ok && ok !== 'overflow' && ok.line.length === MAX_LINE - 1, 'a line of MAX_LINE bytes with its LF is accepted');
  r.push(Buffer.alloc(MAX_LINE, 0x61));
  assert.equal(r.next(), 'overflow', 'MAX_LINE bytes and no LF');
  const r2 = new LineReader();
  r2.push(Buffer.concat([Buffer.alloc(MAX_LINE + 5, 0x61), Buffer.from('\r\n')]));
  assert.equal(r2.next(), 'overflow', 'an LF beyond the cap does not rescue the line');
  const r3 = new LineReader();
  r3.push(Buffer.from('NOOP\r\n'));
  r3.push(Buffer.alloc(20_000, 0x62));
  const first = r3.next();
  assert.ok(first && first !== 'overflow' && String(first.line) === 'NOOP', 'lines before a flood are still served');
  assert.equal(r3.next(), 'overflow');
});

test('lines: Telnet IAC sequences are removed, IAC IAC is 0xFF', () => {
  // ABOR as clients send it: IAC IP IAC DM (with DM possibly taken out of band).
  assert.equal(String(decodeLine(Buffer.from('\xff\xf4\xff\xf2ABOR', 'latin1'))), 'ABOR');
  assert.equal(String(decodeLine(Buffer.from('\xff\xf4\xffABOR', 'latin1'))), 'ABOR');
  assert.deepEqual(decodeLine(Buffer.from('a\xff\xffb', 'latin1')), Buffer.from('a\xffb', 'latin1'));
  assert.equal(String(decodeLine(Buffer.from('\xff\xfb\x01NOOP', 'latin1'))), 'NOOP', 'WILL carries an option byte');
  assert.equal(String(decodeLine(Buffer.from('NOOP\xff', 'latin1'))), 'NOOP');
});

test('lines: RFC 2640 CR NUL is a CR in a name; NUL alone is LF; one trailing CR is the terminator', () => {
  assert.deepEqual(decodeLine(Buffer.from('STOR a\r\0b')), Buffer.from('STOR a\rb'));
  assert.deepEqual(decodeLine(Buffer.from('STOR a\0b')), Buffer.from('STOR a\nb'));
  assert.deepEqual(decodeLine(Buffer.from('STOR a\r')), Buffer.from('STOR a'));
  assert.deepEqual(decodeLine(Buffer.from('STOR a\r\0\r')), Buffer.from('STOR a\r'));
  assert.deepEqual(decodeLine(Buffer.from('STOR é')), Buffer.from('STOR é'), 'UTF-8 passes untouched');
});

test('lines fuzz: any bytes in any chunking give the same lines as one push, never more than the cap', () => {
  const bytes = fc.uint8Array({ maxLength: 3000 }).map((a) => Buffer.from(a));
  const withLines = fc.array(fc.oneof(bytes, fc.constantFrom(Buffer.from('\r\n'), Buffer.from('\n'), Buffer.from('\xff\xf4', 'latin1'), Buffer.from('\r\0'))), { maxLength: 40 });
  fc.assert(
    fc.property(withLines, fc.array(fc.integer({ min: 1, max: 500 }), { minLength: 1, maxLength: 20 }), (parts, cuts) => {
      const all = Buffer.concat(parts);
      const whole = new LineReader(1024);
      whole.push(all);
      const expected = drain(whole);
      const split = new LineReader(1024);
      const got: (Buffer | 'overflow')[] = [];
      let pos = 0;
      let i = 0;
      while (pos < all.length && !got.includes('overflow')) {
        const n = cuts[i++ % cuts.length]!;
        split.push(all.subarray(pos, pos + n));
        pos += n;
        got.push(...drain(split));
      }
      assert.deepEqual(got, expected);
      // NUL never survives (CR NUL is CR, NUL alone is LF).
      for (const l of got) if (l !== 'overflow') assert.ok(l.length < 1024 && !l.includes(0x00));
    }),
    { numRuns: 300 },
  );
});

test('commands: verb, argument bytes, odd input', () => {
  assert.deepEqual(parseCommand(Buffer.from('retr  two spaces ')), { verb: 'RETR', arg: Buffer.from(' two spaces '), hasArg: true });
  assert.deepEqual(parseCommand(Buffer.from('PWD')), { verb: 'PWD', arg: Buffer.alloc(0), hasArg: false });
  assert.deepEqual(parseCommand(Buffer.from('CWD ')), { verb: 'CWD', arg: Buffer.alloc(0), hasArg: true });
  assert.equal(parseCommand(Buffer.from('  \xff\xf4NOOP', 'latin1')).verb, 'NOOP');
  assert.equal(parseCommand(Buffer.from('')).verb, '');
  assert.equal(parseCommand(Buffer.from('12345')).verb, '');
  assert.equal(parseCommand(Buffer.from('123 x')).verb, '', 'a digit cannot be skipped to reach a verb');
  assert.equal(parseCommand(Buffer.from('NO0P')).verb, '', 'digits are not verbs');
  assert.equal(parseCommand(Buffer.from('ABCDEFGHIJ x')).verb, '', 'overlong verb');
  assert.deepEqual(parseCommand(Buffer.from('STOR ü')).arg, Buffer.from('ü'));
  fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), (a) => {
    const c = parseCommand(Buffer.from(a));
    assert.ok(c.verb === '' || /^[A-Z]{1,8}$/.test(c.verb));
  }));
});

test('command table: aliases point at real verbs; FEAT and HELP', () => {
  for (const [verb, spec] of Object.entries(COMMANDS)) {
    if ('alias' in spec) assert.ok(lookupCommand(spec.alias), `${verb} → ${spec.alias}`);
  }
  assert.equal(lookupCommand('toString'), undefined, 'no prototype keys');
  assert.equal(lookupCommand('XYZ'), undefined);
  const feat = featureLines({ auth: true, prot: true });
  for (const f of ['AUTH TLS', 'PBSZ', 'PROT', 'EPRT', 'EPSV', 'MDTM', 'MFMT', 'REST STREAM', 'SIZE', 'TVFS', 'UTF8']) assert.ok(feat.includes(f), f);
  assert.ok(feat.includes('MLST type*;size*;modify*;perm*;unique*;UNIX.mode;'));
  assert.deepEqual(featureLines({ auth: false, prot: false }).filter((l) => /AUTH|PBSZ|PROT/.test(l)), []);
  assert.deepEqual(featureLines({ auth: false, prot: true }).filter((l) => /AUTH|PBSZ|PROT/.test(l)), ['PBSZ', 'PROT']);
  const help = helpLines().join(' ');
  for (const verb of Object.keys(COMMANDS)) assert.ok(help.includes(verb), verb);
});

test('replies: one line, multi-line, 257 quoting', () => {
  assert.equal(reply(200, 'NOOP ok.'), '200 NOOP ok.\r\n');
  assert.equal(multiline(211, 'Features:', ['EPSV', 'UTF8'], 'End'), '211-Features:\r\n EPSV\r\n UTF8\r\n211 End\r\n');
  assert.equal(quotePath('/a "b" c'), '"/a ""b"" c"');
  assert.equal(reply(257, `${quotePath('/say "hi"')} created`), '257 "/say ""hi""" created\r\n');
  assert.throws(() => reply(99, 'x'));
  assert.throws(() => reply(600, 'x'));
});

test('replies: names with CR/LF cannot end a line (RFC 2640 CR NUL; LF as NUL)', () => {
  const evil = 'x\r\n226 Transfer complete.\r\nfoo\nbar';
  assert.equal(encodeText(evil), 'x\r\x00\x00226 Transfer complete.\r\x00\x00foo\x00bar');
  const one = reply(257, `${quotePath(`/${evil}`)} created`);
  assert.equal(one.split('\r\n').length, 2, 'exactly one CRLF, at the end');
  const many = multiline(250, `Listing /${evil}`, [`type=file; /${evil}`], 'End');
  const lines = many.split('\r\n');
  assert.equal(lines.length, 4);
  assert.ok(lines[0]!.startsWith('250-') && lines[1]!.startsWith(' ') && lines[2] === '250 End');
  assert.equal(listingLine(evil).split('\r\n').length, 2);
  // Round trip: what we send for a name is what the codec reads back as that name.
  fc.assert(fc.property(fc.string({ unit: fc.constantFrom('a', '\r', '\n', 'é', '"', ' ') }), (name) => {
    const wire = Buffer.from(`STOR ${encodeText(name)}`);
    assert.equal(decodeLine(wire).toString(), `STOR ${name}`);
  }));
});
