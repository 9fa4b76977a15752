import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { hashPassword, parsePasswordField, passwordChecks, verifyDummy, verifyPassword, type HashKind } from '../../src/auth/index.js';

// Vectors made by other implementations, so our verification is checked against theirs:
// scrypt from Python's hashlib.scrypt, argon2id from the reference implementation's test.c
// (phc-winner-argon2), bcrypt from the OpenBSD/John the Ripper test set.
const VECTORS: [HashKind | 'passlib', string, string][] = [
  ['scrypt', '$scrypt$ln=15,r=8,p=1$bGFmc2QtdGVzdC1zYWx0IQ$pS2PMmo61+XwcaOyTSOTQZvQt8E0fOXveQD8Ajmg+XY', 'correct horse'],
  ['argon2id', '$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc', 'password'],
  ['bcrypt', '$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW', 'U*U'],
];

test('external vectors of every kind verify, and a wrong password is rejected', async () => {
  for (const [kind, stored, password] of VECTORS) {
    assert.equal(await verifyPassword(stored, password), true, kind);
    assert.equal(await verifyPassword(stored, password + 'x'), false, kind);
    assert.equal(await verifyPassword(stored, ''), false, kind);
  }
});

test('passlib-style scrypt (. for +) is accepted', async () => {
  const [, stored, pw] = VECTORS[0]!;
  assert.equal(await verifyPassword(stored.replace(/\+/g, '.'), pw), true);
});

test('hashPassword makes hashes of each kind that verify, with a fresh salt each time', async () => {
  for (const kind of ['scrypt', 'argon2id', 'bcrypt'] as const) {
    const a = await hashPassword('pässwörd ✓', kind);
    const b = await hashPassword('pässwörd ✓', kind);
    assert.notEqual(a, b, `${kind}: salted`);
    const spec = parsePasswordField(a);
    assert.ok(!('error' in spec), `${kind}: our own format parses`);
    assert.equal(spec.kind, kind);
    assert.equal(await verifyPassword(a, 'pässwörd ✓'), true, kind);
    assert.equal(await verifyPassword(a, 'passwörd ✓'), false, kind);
  }
  assert.match(await hashPassword('x'), /^\$scrypt\$ln=15,r=8,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/);
});

test('plain passwords compare exactly (bytes, case, length)', async () => {
  assert.equal(await verifyPassword('sekrit', 'sekrit'), true);
  for (const wrong of ['Sekrit', 'sekri', 'sekritt', '', 'sekrit ']) assert.equal(await verifyPassword('sekrit', wrong), false, wrong);
  await fc.assert(
    fc.asyncProperty(fc.string({ minLength: 1 }).filter((s) => !s.startsWith('$')), fc.string(), async (stored, given) => {
      assert.equal(await verifyPassword(stored, given), stored === given);
    }),
    { numRuns: 200 },
  );
});

test('malformed or unsupported stored hashes never verify and never throw', async () => {
  for (const stored of ['$scrypt$garbage', '$argon2id$v=19$m=1,t=1,p=1$$', '$2b$10$short', '$6$salt$hash', '$scrypt$ln=15,r=8,p=1$c2FsdA$aGFzaA']) {
    assert.equal(await verifyPassword(stored, 'anything'), false, stored);
  }
});

test('verifyDummy says no and costs about as much as a real default verification', async () => {
  const stored = await hashPassword('right');
  const time = async (f: () => Promise<unknown>) => {
    const t = performance.now();
    await f();
    return performance.now() - t;
  };
  const real: number[] = [];
  const dummy: number[] = [];
  for (let i = 0; i < 3; i++) {
    real.push(await time(() => verifyPassword(stored, 'wrong')));
    dummy.push(await time(() => verifyDummy('wrong')));
  }
  const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[1]!;
  assert.equal(await verifyDummy('right'), false);
  assert.ok(med(dummy) > med(real) / 3 && med(dummy) < med(real) * 3, `dummy ${med(dummy)} ms vs real ${med(real)} ms`);
});

// Hash checks share libuv's thread pool with every transfer's sealing and reads: a flood of
// logins must not fill it (src/auth/passwords.ts, hashChecks).
test('hash checks run one at a time; the rest wait their turn and still answer right', async () => {
  const stored = await hashPassword('right');
  const spec = parsePasswordField(stored);
  assert.ok(!('error' in spec));
  const seen: number[] = [];
  const checks = ['right', 'wrong', 'right', 'wrong'].map((p) => verifyPassword(spec, p));
  seen.push(passwordChecks().running);
  assert.deepEqual(passwordChecks(), { running: 1, waiting: 3 });
  const sampler = setInterval(() => seen.push(passwordChecks().running), 1);
  assert.deepEqual(await Promise.all(checks), [true, false, true, false]);
  clearInterval(sampler);
  assert.ok(Math.max(...seen) === 1, `running at once: ${Math.max(...seen)}`);
  assert.deepEqual(passwordChecks(), { running: 0, waiting: 0 });
  // Plain passwords are no hash: they never wait.
  await Promise.all([verifyPassword(spec, 'x'), verifyPassword('plain', 'plain')]).then(([, plain]) => assert.equal(plain, true));
});

test('a check still waiting when its connection ends leaves the queue and says no', async () => {
  const stored = await hashPassword('right');
  const gone = new AbortController();
  const first = verifyPassword(stored, 'right');
  const dropped = verifyPassword(stored, 'right', gone.signal);
  const dummy = verifyDummy('x', gone.signal);
  assert.deepEqual(passwordChecks(), { running: 1, waiting: 2 });
  gone.abort();
  assert.deepEqual(passwordChecks(), { running: 1, waiting: 0 });
  assert.equal(await dropped, false);
  assert.equal(await dummy, false);
  assert.equal(await first, true);
  assert.equal(await verifyPassword(stored, 'right', gone.signal), false, 'an ended connection gets no check at all');
});

// Costlier hashes than the defaults (~130-250 ms a check here). bcryptjs, pure JavaScript, ran
// each check on the event loop in slices of up to 100 ms: every transfer stopped that long.
const SLOW: [HashKind, string][] = [
  ['scrypt', '$scrypt$ln=16,r=8,p=1$bGFmc2Qtc2xvdy1zYWx0IQ$/fXjYfWvHcCR2npaRIb5h22fHluAwRSHO8ob8x6+32U'],
  ['argon2id', '$argon2id$v=19$m=32768,t=32,p=1$VU4+56cnlMMThzGkfr+mUA$U+DHmtqIXysCZgLkQT6OFsgsdjdTiJW1OJ5LUBmUYBo'],
  ['bcrypt', '$2b$12$kZFOOqc7YT8/.aVKyu7pAu7ICyEELnKiDHRSVpriGMFQXFxlaDq5m'],
];

/** The longest gap between 1 ms timer ticks while three checks of `stored` run. */
async function longestStallDuringChecks(stored: string): Promise<number> {
  let last = performance.now();
  let longest = 0;
  const tick = setInterval(() => {
    const now = performance.now();
    longest = Math.max(longest, now - last);
    last = now;
  }, 1);
  const answers = await Promise.all([verifyPassword(stored, 'slow-one'), verifyPassword(stored, 'wrong'), verifyPassword(stored, 'slow-one')]);
  clearInterval(tick);
  assert.deepEqual(answers, [true, false, true]);
  return longest;
}

test('a hash check of any kind leaves the event loop free for the transfers', async () => {
  for (const [kind, stored] of SLOW) {
    assert.equal(await verifyPassword(stored, 'slow-one'), true, `${kind}: warm-up and vector`);
    // The better of two runs, so one scheduling hiccup of a loaded machine does not fail it.
    const stall = Math.min(await longestStallDuringChecks(stored), await longestStallDuringChecks(stored));
    assert.ok(stall < 40, `${kind}: the event loop stopped for ${stall.toFixed(1)} ms during a check`);
  }
});
