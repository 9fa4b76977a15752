import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ssh2 from 'ssh2';
import { generateHostKeyPair, loadHostKeys, parseHostKey } from '../../src/ssh/hostkeys.js';

function withDir(fn: (dir: string, keygen: (name: string, ...args: string[]) => string) => Promise<void>) {
  return async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lafsd-hostkeys-'));
    const keygen = (name: string, ...args: string[]) => {
      const path = join(dir, name);
      execFileSync('ssh-keygen', ['-q', '-C', name, '-f', path, ...args]);
      return path;
    };
    try {
      await fn(dir, keygen);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
}

test('generateHostKeyPair gives an OpenSSH ed25519 private key and its public line', () => {
  const { privateKey, publicKey } = generateHostKeyPair();
  assert.match(privateKey, /^-----BEGIN OPENSSH PRIVATE KEY-----\n[\s\S]+-----END OPENSSH PRIVATE KEY-----\n$/);
  assert.match(publicKey, /^ssh-ed25519 [A-Za-z0-9+/=]+ lafsd host key\n$/);
  const priv = parseHostKey(privateKey, 'generated');
  const pub = ssh2.utils.parseKey(publicKey);
  assert.ok(!(pub instanceof Error) && !Array.isArray(pub));
  assert.ok(pub.getPublicSSH().equals(priv.getPublicSSH()));
  assert.notEqual(generateHostKeyPair().privateKey, privateKey);
});

test('every generated host key parses (ssh2 keygen alone breaks about 1 in 256)', () => {
  // With the bug, 2000 draws hold a broken pair with probability 1 - (255/256)^2000 > 99.9%.
  for (let i = 0; i < 2000; i++) {
    const { privateKey } = generateHostKeyPair();
    const k = ssh2.utils.parseKey(privateKey);
    assert.ok(!(k instanceof Error), `pair ${i}: ${k instanceof Error ? k.message : ''}`);
  }
});

test(
  'loadHostKeys accepts OpenSSH ed25519, ecdsa, rsa and PEM rsa keys with their public files',
  withDir(async (_dir, keygen) => {
    for (const args of [['-t', 'ed25519'], ['-t', 'ecdsa', '-b', '384'], ['-t', 'rsa', '-b', '3072'], ['-t', 'rsa', '-b', '2048', '-m', 'PEM']]) {
      const path = keygen(`k-${args.join('')}`, '-N', '', ...args);
      const keys = await loadHostKeys(path, `${path}.pub`);
      assert.equal(keys.length, 1);
      assert.ok(keys[0]!.equals(readFileSync(path)));
    }
  }),
);

test(
  'a public key file that belongs to another key is refused, naming both files',
  withDir(async (_dir, keygen) => {
    const a = keygen('a', '-N', '', '-t', 'ed25519');
    const b = keygen('b', '-N', '', '-t', 'ed25519');
    await assert.rejects(loadHostKeys(a, `${b}.pub`), (err: Error) => {
      assert.ok(err.message.includes(`${b}.pub`) && err.message.includes(a), err.message);
      assert.match(err.message, /does not belong/);
      return true;
    });
  }),
);

test(
  'an encrypted host key is refused with a message about the passphrase',
  withDir(async (_dir, keygen) => {
    for (const extra of [[], ['-t', 'rsa', '-b', '2048', '-m', 'PEM']]) {
      const path = keygen(`enc${extra.length}`, '-N', 'secret', '-t', 'ed25519', ...extra);
      await assert.rejects(loadHostKeys(path), (err: Error) => {
        assert.ok(err.message.startsWith(path), err.message);
        assert.match(err.message, /must not have a passphrase/);
        return true;
      });
    }
  }),
);

test(
  'missing files, public keys in place of private ones, garbage and weak RSA keys are refused clearly',
  withDir(async (dir, keygen) => {
    await assert.rejects(loadHostKeys(join(dir, 'nope')), new RegExp(`${join(dir, 'nope')}: cannot read the host private key \\(ENOENT\\)`));
    const k = keygen('k', '-N', '', '-t', 'ed25519');
    await assert.rejects(loadHostKeys(k, join(dir, 'nope.pub')), /nope\.pub: cannot read the host public key/);
    await assert.rejects(loadHostKeys(`${k}.pub`), /this is a public key/);
    const junk = join(dir, 'junk');
    writeFileSync(junk, 'not a key\n');
    await assert.rejects(loadHostKeys(junk), /junk: not a usable private key/);
    await assert.rejects(loadHostKeys(k, junk), /junk: not a public key/);
    const weak = keygen('weak', '-N', '', '-t', 'rsa', '-b', '1024');
    await assert.rejects(loadHostKeys(weak), /RSA host key has 1024 bits/);
  }),
);
