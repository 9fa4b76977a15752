import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { assertNativeCrypto, nativeBindingPath } from '../../src/ssh/native.js';

test('the ssh2 native crypto binding is built and loaded on this machine', () => {
  assert.ok(existsSync(nativeBindingPath()), nativeBindingPath());
  assert.doesNotThrow(() => assertNativeCrypto());
});

test('a missing binding is a clear startup error naming the file and the fix', () => {
  assert.throws(() => assertNativeCrypto('/nonexistent/sshcrypto.node'), (err: Error) => {
    assert.match(err.message, /native crypto binding is missing/);
    assert.match(err.message, /\/nonexistent\/sshcrypto\.node/);
    assert.match(err.message, /npm rebuild ssh2/);
    return true;
  });
});

test('a binding that exists but did not load is refused too', () => {
  assert.throws(() => assertNativeCrypto(nativeBindingPath(), false), /failed to load/);
});
