import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ConfigError } from '../../src/config/errors.js';
import { parseIni, readIni } from '../../src/config/ini.js';

const F = '/n/tahoe.cfg';

function values(text: string): Record<string, Record<string, [string, number]>> {
  const out: Record<string, Record<string, [string, number]>> = {};
  for (const [name, s] of parseIni(text, F).sections) {
    out[name] = Object.fromEntries([...s.values].map(([k, v]) => [k, [v.value, v.line]]));
  }
  return out;
}

function problems(text: string): string[] {
  try {
    parseIni(text, F);
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    assert.equal(err.name, 'ConfigError');
    assert.equal(err.message, err.problems.join('\n'));
    return [...err.problems];
  }
  assert.fail('expected a ConfigError');
}

test('sections, both delimiters, lowercased keys, trimmed values, line numbers', () => {
  const text = '[node]\nnickname = alice \n\n[sftpd]\n  Port: tcp:8022:interface=127.0.0.1\nHOST_privkey_file=  private/k\nempty =\n';
  assert.deepEqual(values(text), {
    node: { nickname: ['alice', 2] },
    sftpd: {
      port: ['tcp:8022:interface=127.0.0.1', 5],
      host_privkey_file: ['private/k', 6],
      empty: ['', 7],
    },
  });
  // The first `=` or `:` splits, so values may contain either.
  assert.deepEqual(values('[a]\nk = x=y:z\nj: p=q\n'), { a: { k: ['x=y:z', 2], j: ['p=q', 3] } });
  assert.equal(parseIni('[a]\n', F).sections.get('a')?.line, 1);
  assert.equal(parseIni('', F).sections.size, 0);
});

test('comments: # and ; full lines (indented too); inline # stays in the value as in ConfigParser', () => {
  const text = '# top\n; also\n[a]\n  # indented comment\nk = v # not a comment\n;x = 1\n';
  assert.deepEqual(values(text), { a: { k: ['v # not a comment', 5] } });
});

test('indented continuation lines are appended with newlines; blank lines inside kept, at the end dropped', () => {
  const text = [
    '[a]',
    'k = first',
    '   second',
    '',
    '     third',
    '  # a comment does not end the value',
    '  fourth',
    '',
    '',
    'j = 1',
    '[b]',
    '  x = 2', // indented, but nothing to continue after a header
    '   y', // continues x
  ].join('\n');
  assert.deepEqual(values(text), {
    a: { k: ['first\nsecond\n\nthird\nfourth', 2], j: ['1', 10] },
    b: { x: ['2\ny', 12] },
  });
  // An indented key line right after another key continues it (ConfigParser does the same).
  assert.deepEqual(values('[a]\nk = 1\n  j = 2\n'), { a: { k: ['1\nj = 2', 2] } });
});

test('a UTF-8 BOM at the start is ignored; CRLF and CR line ends work', () => {
  assert.deepEqual(values('\uFEFF[a]\r\nk = 1\r\nj = 2\rm = 3'), { a: { k: ['1', 2], j: ['2', 3], m: ['3', 4] } });
  // Only at the very start: elsewhere it is not whitespace (as in Python), and messages show it.
  assert.deepEqual(problems('\n\uFEFF[a]\n'), [
    `${F}:2: malformed line "\\ufeff[a]"; expected [section], key = value, or a # comment`,
  ]);
});

test('section header forms: trailing comment allowed, junk and empty names refused', () => {
  assert.deepEqual(values('[a] # note\nk=1\n[b]   ;x\n'), { a: { k: ['1', 2] }, b: {} });
  assert.deepEqual(problems('[a] junk\n'), [`${F}:1: malformed section header "[a] junk"; expected [name]`]);
  assert.deepEqual(problems('[]\n'), [`${F}:1: malformed section header "[]"; expected [name]`]);
  assert.deepEqual(problems('[a\n'), [`${F}:1: malformed section header "[a"; expected [name]`]);
  // Keys under a malformed header are not blamed on another section.
  assert.equal(problems('[a]\nk=1\n[b junk\nk=2\nj=3\n').length, 1);
});

test('errors name the file and line: key outside a section, malformed line, duplicates', () => {
  assert.deepEqual(problems('k = v\n[a]\n'), [
    `${F}:1: option 'k' is outside any section; put a [section] header above it`,
  ]);
  assert.deepEqual(problems('[a]\njust words\n'), [
    `${F}:2: malformed line "just words"; expected [section], key = value, or a # comment`,
  ]);
  assert.deepEqual(problems('[a]\n= v\n'), [
    `${F}:2: malformed line "= v"; expected [section], key = value, or a # comment`,
  ]);
  assert.deepEqual(problems('[a]\nk=1\n[b]\n[a]\n'), [`${F}:4: duplicate section [a] (first at line 1)`]);
  assert.deepEqual(problems('[a]\nPort = 1\nport = 2\n'), [
    `${F}:3: [a] duplicate option 'port' (first set at line 2)`,
  ]);
  // Section names are case-sensitive (ConfigParser), so these are two sections.
  assert.deepEqual(Object.keys(values('[a]\n[A]\n')), ['a', 'A']);
});

test('all problems of a file are reported together, in order', () => {
  const text = 'x = 1\n[a]\nbad line\nk = 1\nk = 2\n[a]\n';
  assert.deepEqual(problems(text).map((p) => p.split(': ')[0]), [`${F}:1`, `${F}:3`, `${F}:5`, `${F}:6`]);
  // readIni returns the same problems without throwing, plus what it could read.
  const { doc, problems: ps } = readIni(text, F);
  assert.equal(ps.length, 4);
  assert.deepEqual([...(doc.sections.get('a')?.values.keys() ?? [])], ['k']);
});

test('long bad lines are shortened in messages', () => {
  const [p] = problems(`[a]\n${'x'.repeat(500)}\n`);
  assert.ok(p !== undefined && p.length < 200, p);
});

test('fuzz: random text either parses or throws ConfigError, nothing else', () => {
  const chars = fc.constantFrom('[', ']', '=', ':', '#', ';', ' ', '\t', '\n', '\r', 'a', 'B', '\uFEFF', 'é', '\\');
  const text = fc.oneof(fc.string({ maxLength: 200 }), fc.string({ unit: chars, maxLength: 200 }));
  fc.assert(fc.property(text, (s) => {
    try {
      const doc = parseIni(s, F);
      for (const sec of doc.sections.values()) {
        for (const [k, v] of sec.values) {
          assert.equal(k, k.toLowerCase());
          assert.doesNotMatch(v.value, /^[^\S\uFEFF]|[^\S\uFEFF]$/);
          assert.ok(v.line >= 1);
        }
      }
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      for (const p of err.problems) assert.match(p, /^\/n\/tahoe\.cfg:\d+: /);
    }
  }), { numRuns: 2000 });
});

test('fuzz: written documents read back identically (multi-line values included)', () => {
  const name = fc.stringMatching(/^[a-z][a-z0-9_.]{0,10}$/);
  const word = fc.stringMatching(/^[^\s#;\[][^\r\n]{0,15}$/).map((s) => s.trim()).filter((s) => s !== '' && !s.startsWith('#') && !s.startsWith(';'));
  const value = fc.array(word, { minLength: 0, maxLength: 3 }).map((ws) => ws.join('\n'));
  const section = fc.dictionary(name, value, { maxKeys: 5 });
  const docGen = fc.dictionary(name, section, { maxKeys: 4 });
  fc.assert(fc.property(docGen, fc.boolean(), (docIn, crlf) => {
    let text = '';
    for (const [s, kv] of Object.entries(docIn)) {
      text += `# section ${s}\n[${s}]\n`;
      for (const [k, v] of Object.entries(kv)) text += `${k} = ${v.split('\n').join('\n    ')}\n`;
      text += '\n';
    }
    if (crlf) text = text.replace(/\n/g, '\r\n');
    const docOut = parseIni(text, F);
    const got = Object.fromEntries([...docOut.sections].map(([s, sec]) => [s, Object.fromEntries([...sec.values].map(([k, v]) => [k, v.value]))]));
    assert.deepEqual(got, JSON.parse(JSON.stringify(docIn)));
  }), { numRuns: 500 });
});
