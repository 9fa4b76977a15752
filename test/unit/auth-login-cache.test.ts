import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { LoginCache } from '../../src/auth/index.js';

test('login cache: parts are kept apart by length, so no two different lists share a key', () => {
  const cache = new LoginCache<string>(60_000, 100);
  cache.set(cache.key(['ab', 'c']), 'first');
  assert.equal(cache.get(cache.key(['ab', 'c'])), 'first');
  assert.equal(cache.get(cache.key(['a', 'bc'])), undefined);
  assert.equal(cache.get(cache.key(['abc'])), undefined);
  assert.equal(cache.get(cache.key(['ab', 'c', ''])), undefined);
  assert.equal(cache.get(cache.key(['ab\0', 'c'])), undefined);
  // A NUL or a length-like prefix inside a part cannot forge another list either.
  cache.set(cache.key(['a', '1:b']), 'second');
  assert.equal(cache.get(cache.key(['a1:', 'b'])), undefined);
  assert.equal(cache.get(cache.key(['a', '1:b'])), 'second');
});

test('login cache: random lists of random parts find only their own entry', () => {
  const cache = new LoginCache<number>(60_000, 10_000);
  const lists: string[][] = [];
  const seen = new Set<string>();
  for (let i = 0; i < 500; i++) {
    const parts = Array.from({ length: 1 + (i % 3) }, () => randomBytes(randomBytes(1)[0]! % 6).toString('latin1'));
    const id = JSON.stringify(parts);
    if (seen.has(id)) continue;
    seen.add(id);
    lists.push(parts);
    cache.set(cache.key(parts), lists.length - 1);
  }
  lists.forEach((parts, i) => assert.equal(cache.get(cache.key(parts)), i, JSON.stringify(parts)));
  assert.equal(cache.size, lists.length);
});

test('login cache: entries expire, the oldest goes first when full, 0 disables, clear forgets', () => {
  let now = 0;
  const cache = new LoginCache<string>(1000, 2, () => now);
  const at = (...parts: string[]) => cache.get(cache.key(parts));
  cache.set(cache.key(['u', 'p1']), 'a');
  cache.set(cache.key(['u', 'p2']), 'b');
  assert.equal(cache.get(cache.key(['u', 'p1'])), 'a'); // now the most recently used
  cache.set(cache.key(['u', 'p3']), 'c');
  assert.deepEqual([at('u', 'p1'), at('u', 'p2'), at('u', 'p3')], ['a', undefined, 'c']);
  now = 1000;
  assert.equal(cache.get(cache.key(['u', 'p1'])), undefined, 'expired');
  cache.set(cache.key(['u', 'p1']), 'a');
  cache.clear();
  assert.equal(cache.size, 0);
  const off = new LoginCache<string>(0, 10);
  off.set(off.key(['u', 'p']), 'x');
  assert.equal(off.get(off.key(['u', 'p'])), undefined);
});

test('login cache: two caches never share keys (each has its own secret)', () => {
  const a = new LoginCache<string>(60_000, 10);
  const b = new LoginCache<string>(60_000, 10);
  // A password with spaces and a user name of 12 letters: neither can turn up by chance in a
  // base64 key (a 2-letter password once did, in about 1 run of 100).
  const user = 'alicewonders';
  const password = 'correct horse battery staple';
  a.set(a.key([user, password]), 'a');
  assert.equal(b.get(b.key([user, password])), undefined);
  // What the cache holds is not the password in any form a reader could use without the secret:
  // neither the text nor an unsalted digest of it, of the parts or of their joined form.
  const held = JSON.stringify([...(a as unknown as { entries: { map: Map<string, unknown> } }).entries.map.keys()]);
  const digests = [password, `${user}${password}`, `${user.length}:${user}${Buffer.byteLength(password)}:${password}`]
    .flatMap((text) => ['hex', 'base64'].map((form) => createHash('sha256').update(text).digest(form as 'hex' | 'base64')));
  for (const forbidden of [user, password, ...digests]) assert.ok(!held.includes(forbidden), `${held} holds ${forbidden}`);
});
