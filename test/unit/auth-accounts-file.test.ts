import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import ssh2 from 'ssh2';
import { AuthError, KEY_TYPES, parseAccounts, parseKeyBlob, usernameProblem } from '../../src/auth/index.js';
import { sshKeyPair } from '../helpers/keys.js';

const ROOT = 'URI:DIR2:tmtxiysosbogziok2bzqtjqyly:odeejxkxue6ruqz4xaxzw6bhavb244akuqkdbg2d3svxdubq4b3q';
const ROOT_RO = 'URI:DIR2-RO:a32icmmqnzvw5hutjevlpdrd5m:odeejxkxue6ruqz4xaxzw6bhavb244akuqkdbg2d3svxdubq4b3q';
const CHK = 'URI:CHK:cijcjzcaplulf7swndt4pfiyhy:yzmwugnohxefq5j5htnfxgjqs23vnl7jgy7nsncquckawbpjlo2a:2:3:1968';
const SCRYPT = '$scrypt$ln=15,r=8,p=1$bGFmc2QtdGVzdC1zYWx0IQ$pS2PMmo61+XwcaOyTSOTQZvQt8E0fOXveQD8Ajmg+XY';
const F = 'private/accounts';

function pub(type: 'ed25519' | 'rsa' | 'ecdsa', bits?: number): { line: string; type: string; b64: string; blob: Buffer } {
  const k = sshKeyPair(type, bits ? { bits } : {});
  const [t, b64] = k.public.split(' ') as [string, string];
  return { line: `${t} ${b64}`, type: t, b64, blob: Buffer.from(b64, 'base64') };
}

function wire(...fields: Buffer[]): Buffer {
  return Buffer.concat(fields.flatMap((f) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(f.length);
    return [len, f];
  }));
}

const ED = pub('ed25519');
const ED2 = pub('ed25519');
const RSA = pub('rsa', 2048);

function problemsOf(text: string | Uint8Array): string[] {
  try {
    parseAccounts(text, F);
  } catch (err) {
    assert.ok(err instanceof AuthError);
    return [...err.problems];
  }
  assert.fail('expected the accounts file to be refused');
}

test('password lines, key lines, comments and blank lines', () => {
  const text = [
    '# This is a password line, (username, password, cap)',
    'alice password ' + ROOT,
    '',
    '   bob   ' + SCRYPT + '\t' + ROOT_RO + '   ',
    `carol ${ED.line} carol@laptop my key ${ROOT}`,
    '  # indented comment',
    `dave ${RSA.line} ${ROOT}`,
  ].join('\n');
  const { accounts, warnings } = parseAccounts(text, F);
  assert.deepEqual([...accounts.keys()], ['alice', 'bob', 'carol', 'dave']);
  const alice = accounts.get('alice')!;
  assert.deepEqual(alice.password, { kind: 'plain', value: 'password' });
  assert.equal(alice.rootCap, ROOT);
  assert.deepEqual(alice.keys, []);
  assert.equal(accounts.get('bob')!.password?.kind, 'scrypt');
  assert.equal(accounts.get('bob')!.rootCap, ROOT_RO);
  const carol = accounts.get('carol')!;
  assert.equal(carol.password, undefined);
  assert.equal(carol.keys.length, 1);
  assert.equal(carol.keys[0]!.type, 'ssh-ed25519');
  assert.deepEqual(carol.keys[0]!.blob, ED.blob);
  assert.equal(carol.keys[0]!.comment, 'carol@laptop my key');
  assert.deepEqual(accounts.get('dave')!.keys[0]!.blob, RSA.blob);
  assert.deepEqual(accounts.get('dave')!.lines, [7]);
  // Plain passwords are allowed (Tahoe compatibility) but named in a warning.
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!, /^private\/accounts: plain-text password on line 2;/);
  assert.ok(!warnings[0]!.includes('password ' + ROOT));
});

test('every supported key type is accepted, including ECDSA and security keys', () => {
  const lines: string[] = [];
  const ec = [pub('ecdsa', 256), pub('ecdsa', 384), pub('ecdsa', 521)];
  ec.forEach((k, i) => lines.push(`ec${i} ${k.line} ${ROOT}`));
  const skEd = wire(Buffer.from('sk-ssh-ed25519@openssh.com'), randomBytes(32), Buffer.from('ssh:'));
  lines.push(`sk1 sk-ssh-ed25519@openssh.com ${skEd.toString('base64')} ${ROOT}`);
  const point = Buffer.concat([Buffer.from([4]), randomBytes(64)]);
  const skEc = wire(Buffer.from('sk-ecdsa-sha2-nistp256@openssh.com'), Buffer.from('nistp256'), point, Buffer.from('ssh:'));
  lines.push(`sk2 sk-ecdsa-sha2-nistp256@openssh.com ${skEc.toString('base64')} ${ROOT}`);
  const { accounts } = parseAccounts(lines.join('\n'), F);
  assert.equal(accounts.size, 5);
  assert.deepEqual(
    [...accounts.values()].map((a) => a.keys[0]!.type).sort(),
    [...KEY_TYPES].filter((t) => t !== 'ssh-ed25519' && t !== 'ssh-rsa').sort(),
  );
  assert.deepEqual(accounts.get('sk2')!.keys[0]!.blob, skEc);
});

test('a UTF-8 BOM and CRLF / CR line endings are handled, line numbers stay right', () => {
  const withBom = '\uFEFFalice pw ' + ROOT + '\r\nbob pw ' + ROOT + '\rcarol pw ' + ROOT;
  assert.deepEqual([...parseAccounts(withBom, F).accounts.keys()], ['alice', 'bob', 'carol']);
  const bytes = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(withBom.slice(1) + '\r\nbad line\r\n')]);
  assert.deepEqual(problemsOf(bytes), [`${F}:4: too few fields; expected "NAME PASSWORD ROOTCAP [OPTION…]" or "NAME KEYTYPE BASE64 [COMMENT…] ROOTCAP [OPTION…]"`]);
  const { accounts } = parseAccounts(Buffer.from(`zoë pässwörd ${ROOT}\n`), F);
  assert.deepEqual(accounts.get('zoë')!.password, { kind: 'plain', value: 'pässwörd' });
});

test('invalid UTF-8 names its line', () => {
  const bytes = Buffer.concat([Buffer.from(`alice pw ${ROOT}\n`), Buffer.from([0x62, 0xff, 0x20]), Buffer.from(` pw ${ROOT}\n`)]);
  assert.deepEqual(problemsOf(bytes), [`${F}:2: not valid UTF-8`]);
});

test('several lines for one user add keys and a password; duplicates are merged', () => {
  const text = [
    `alice ${ED.line} laptop ${ROOT}`,
    `alice ${ED2.line} phone ${ROOT}`,
    `alice ${ED.line} laptop-again ${ROOT}`,
    `alice ${SCRYPT} ${ROOT}`,
    `alice ${SCRYPT} ${ROOT}`,
  ].join('\n');
  const alice = parseAccounts(text, F).accounts.get('alice')!;
  assert.deepEqual(alice.keys.map((k) => k.blob), [ED.blob, ED2.blob]);
  assert.equal(alice.password?.kind, 'scrypt');
  assert.deepEqual(alice.lines, [1, 2, 3, 4, 5]);
  // `ro.` prefixed and plain spellings of the same cap are the same cap.
  assert.equal(parseAccounts(`a pw ${ROOT_RO}\na ${ED.line} ro.${ROOT_RO}`, F).accounts.get('a')!.keys.length, 1);
});

test('conflicting root caps or passwords for one user are errors naming both lines', () => {
  assert.deepEqual(problemsOf(`alice pw ${ROOT}\n\nalice ${ED.line} ${ROOT_RO}`), [
    `${F}:3: user "alice" has a different root cap on line 1`,
  ]);
  assert.deepEqual(problemsOf(`alice pw1 ${ROOT}\nalice pw2 ${ROOT}`), [`${F}:2: user "alice" already has a different password (line 1)`]);
});

test('bad base64, key type mismatch, truncated blobs', () => {
  const ed = ED.b64;
  const EC256 = pub('ecdsa', 256);
  assert.match(EC256.b64, /=$/); // 104-byte blob: padded, so the unpadded form is non-canonical
  const cases: [string, RegExp][] = [
    [`a ssh-ed25519 !!notbase64!! ${ROOT}`, /key is not valid base64/],
    [`a ssh-ed25519 ${ed.slice(0, -4)} ${ROOT}`, /malformed|truncated|trailing/],
    [`a ssh-rsa ${ed} ${ROOT}`, /key type word ssh-rsa does not match the key blob \(which is "ssh-ed25519"\)/],
    [`a ecdsa-sha2-nistp384 ${pub('ecdsa', 256).b64} ${ROOT}`, /does not match/],
    [`a ssh-ed25519 ${Buffer.concat([ED.blob, Buffer.from([0])]).toString('base64')} ${ROOT}`, /trailing bytes/],
    [`a ecdsa-sha2-nistp256 ${EC256.b64.replace(/=+$/, '')} ${ROOT}`, /base64/],
  ];
  for (const [line, re] of cases) {
    const p = problemsOf(line);
    assert.equal(p.length, 1, line);
    assert.match(p[0]!, new RegExp(`^${F}:1: .*(?:${re.source})`), line);
  }
});

test('root caps: bad, not a directory, missing', () => {
  assert.match(problemsOf(`alice pw URI:DIR2:nonsense`)[0]!, /:1: the last field is not a valid cap/);
  assert.match(problemsOf(`alice pw ${CHK}`)[0]!, /:1: the root cap is a CHK cap, not a directory cap/);
  assert.match(problemsOf(`alice ${ED.line} laptop`)[0]!, /:1: the last field is not a valid cap/);
  assert.match(problemsOf(`alice ${ED.line}`)[0]!, /:1: key line needs a key and a root cap/);
  assert.match(problemsOf(`alice pw`)[0]!, /:1: too few fields/);
  assert.match(problemsOf(`alice pw ${ROOT} # trailing comment`)[0]!, /:1: a password line has exactly three fields/);
  // A verifier cap names a directory but grants no read access: not a root.
  assert.match(problemsOf(`alice pw URI:DIR2-Verifier:kdjmjt7vtrolq7cklsdeyrq36i:odeejxkxue6ruqz4xaxzw6bhavb244akuqkdbg2d3svxdubq4b3q`)[0]!, /not a (valid|directory) cap/);
});

test('reserved key-type words and unsupported hashes cannot be passwords, and are not echoed', () => {
  for (const word of ['ssh-dss', 'ssh-dsa', 'ssh-secret', 'ecdsa-foo', 'sk-whatever']) {
    const p = problemsOf(`alice ${word} ${ROOT}`);
    assert.match(p[0]!, /:1: unsupported key type in the second field/);
    assert.ok(!p[0]!.includes(word), 'the word may be a password and must not be echoed');
  }
  assert.match(problemsOf(`alice $6$salt$hash ${ROOT}`)[0]!, /unsupported password hash scheme/);
  assert.match(problemsOf(`alice $scrypt$ln=15$x ${ROOT}`)[0]!, /malformed \$scrypt\$ hash/);
  assert.match(problemsOf(`alice $scrypt$ln=30,r=8,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA ${ROOT}`)[0]!, /out of range/);
  assert.match(problemsOf(`alice $2b$31$${'a'.repeat(53)} ${ROOT}`)[0]!, /bcrypt cost out of range/);
  assert.match(problemsOf(`alice $argon2id$v=19$m=65536 ${ROOT}`)[0]!, /malformed \$argon2id\$ hash/);
  // A `$` that does not start a scheme is an ordinary (plain) password.
  assert.deepEqual(parseAccounts(`alice $ecret ${ROOT}`, F).accounts.get('alice')!.password, { kind: 'plain', value: '$ecret' });
});

test('usernames: control characters and length', () => {
  assert.match(problemsOf(`al\u0007ice pw ${ROOT}`)[0]!, /:1: username contains a control character/);
  assert.match(problemsOf(`al\u0085ice pw ${ROOT}`)[0]!, /control character|whitespace/);
  assert.match(problemsOf(`${'é'.repeat(129)} pw ${ROOT}`)[0]!, /:1: username longer than 256 bytes/);
  assert.equal(parseAccounts(`${'é'.repeat(128)} pw ${ROOT}`, F).accounts.size, 1);
  assert.equal(usernameProblem(''), 'empty username');
  assert.equal(usernameProblem('a b'), 'username contains whitespace');
  assert.equal(usernameProblem('Alice.O-Brien@example.com'), undefined);
});

test('all bad lines are reported together, each with file:line, and no secrets', () => {
  const text = [
    '# header',
    `alice hunter2 ${CHK}`,
    `bob ${ED.line} ${ROOT}`,
    `carol ssh-rsa AAAA ${ROOT}`,
    'dave onlytwo',
    `erin ${SCRYPT} ${ROOT}`,
    `frank s3cr3t URI:DIR2:zzz`,
  ].join('\n');
  let err: unknown;
  try {
    parseAccounts(text, F);
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof AuthError);
  assert.deepEqual(err.problems.map((p) => p.split(': ')[0]), [`${F}:2`, `${F}:4`, `${F}:5`, `${F}:7`]);
  assert.match(err.message, /^private\/accounts: 4 bad lines\n/);
  for (const secret of ['hunter2', 's3cr3t', CHK, ROOT, 'URI:DIR2:zzz', 'onlytwo']) assert.ok(!err.message.includes(secret), secret);
});

test('account options after the root cap: quota and quota_files, on password and key lines', () => {
  const { accounts } = parseAccounts(
    [
      `alice pw=with=equals ${ROOT} quota=10G quota_files=100000`,
      `bob ${ED.line} laptop key ${ROOT} quota=500M`,
      `bob ${ED2.line} ${ROOT}`,
      `carol ${SCRYPT} ${ROOT}`,
    ].join('\n'),
    F,
  );
  assert.deepEqual(accounts.get('alice')!.quota, { bytes: 10 * 1024 ** 3, files: 100000 });
  assert.deepEqual(accounts.get('alice')!.password, { kind: 'plain', value: 'pw=with=equals' });
  assert.deepEqual(accounts.get('bob')!.quota, { bytes: 500 * 1024 ** 2 });
  assert.equal(accounts.get('bob')!.keys.length, 2);
  assert.equal(accounts.get('bob')!.keys[0]!.comment, 'laptop key');
  assert.equal(accounts.get('carol')!.quota, undefined);
  assert.deepEqual(problemsOf(`alice pw ${ROOT} quota=big`), [`${F}:1: quota=big is not a size (use bytes or e.g. 500M, 10G, 1T)`]);
  assert.deepEqual(problemsOf(`alice pw ${ROOT} quota_files=-1`), [`${F}:1: quota_files=-1 is not a whole number`]);
  assert.deepEqual(problemsOf(`alice pw ${ROOT} shell=/bin/sh`), [`${F}:1: unknown option "shell" (known: quota=, quota_files=)`]);
  assert.deepEqual(problemsOf(`alice pw ${ROOT} quota=1G\nalice pw ${ROOT} quota=2G`), [`${F}:2: user "alice" already has different options (line 1)`]);
  assert.match(problemsOf(`alice pw quota=1G`)[0]!, /:1: too few fields/);
});

test('an empty or comment-only file is valid and has no accounts', () => {
  assert.equal(parseAccounts('', F).accounts.size, 0);
  assert.equal(parseAccounts('# nobody\n\n   \n', F).accounts.size, 0);
});

test('parseKeyBlob agrees with ssh2 on real keys', () => {
  for (const k of [ED, RSA, pub('ecdsa', 521)]) {
    const parsed = parseKeyBlob(k.type, k.b64);
    assert.ok('blob' in parsed);
    const theirs = ssh2.utils.parseKey(`${k.type} ${k.b64}`);
    assert.ok(!(theirs instanceof Error));
    assert.deepEqual(parsed.blob, (theirs as { getPublicSSH(): Buffer }).getPublicSSH());
  }
});

test('fuzz: random lines never crash the parser; it either parses or throws AuthError with file:line', () => {
  const word = fc.oneof(
    fc.constantFrom(ROOT, ROOT_RO, CHK, 'ssh-ed25519', 'ssh-rsa', ED.b64, '#', '$scrypt$', '$2b$10$', 'alice', '0', ''),
    fc.string({ maxLength: 12 }),
    fc.string({ unit: 'binary', maxLength: 12 }),
  );
  const line = fc.array(word, { maxLength: 6 }).map((ws) => ws.join(' '));
  fc.assert(
    fc.property(fc.array(line, { maxLength: 8 }), fc.constantFrom('\n', '\r\n', '\r'), (lines, eol) => {
      const text = lines.join(eol);
      for (const input of [text, Buffer.from(text)]) {
        try {
          const { accounts } = parseAccounts(input, F);
          for (const rec of accounts.values()) {
            assert.equal(usernameProblem(rec.username), undefined);
            assert.ok(rec.password || rec.keys.length);
          }
        } catch (err) {
          assert.ok(err instanceof AuthError, String(err));
          for (const p of err.problems) assert.match(p, /^private\/accounts:\d+: /);
        }
      }
    }),
    { numRuns: 500 },
  );
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
      try {
        parseAccounts(bytes, F);
      } catch (err) {
        assert.ok(err instanceof AuthError);
      }
    }),
    { numRuns: 300 },
  );
});

test('comment and blank lines are ignored whatever they contain (as Tahoe test_ignore_comments)', () => {
  fc.assert(
    fc.property(fc.array(fc.string().filter((s) => !/[\r\n]/.test(s)).map((s) => `  #${s}`)), (comments) => {
      assert.equal(parseAccounts(comments.join('\n'), F).accounts.size, 0);
    }),
  );
});
