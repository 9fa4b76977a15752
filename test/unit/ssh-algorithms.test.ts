import { test } from 'node:test';
import assert from 'node:assert/strict';
import ssh2 from 'ssh2';
import type { ParsedKey } from 'ssh2';
import { CIPHERS, HOST_KEY_ALGORITHMS, KEX, MACS, hostKeyAlgorithmsFor, isAllowedNegotiation } from '../../src/ssh/algorithms.js';
import { sshKeyPair } from '../helpers/keys.js';

const key = (type: 'ed25519' | 'rsa' | 'ecdsa') => {
  const pair =
    type === 'rsa'
      ? sshKeyPair('rsa', { bits: 2048 })
      : type === 'ecdsa'
        ? sshKeyPair('ecdsa', { bits: 256 })
        : sshKeyPair('ed25519');
  return ssh2.utils.parseKey(pair.private) as ParsedKey;
};

test('no SHA-1, CBC, or legacy algorithm is in any list we offer', () => {
  const all = [...KEX, ...CIPHERS, ...MACS, ...HOST_KEY_ALGORITHMS];
  for (const name of all) {
    assert.doesNotMatch(name, /sha1|cbc|md5|arcfour|3des|blowfish|group1-|group-exchange|^ssh-rsa$|ssh-dss/, name);
  }
  assert.equal(KEX[0], 'curve25519-sha256');
  assert.deepEqual([...CIPHERS], ['aes128-gcm@openssh.com', 'chacha20-poly1305@openssh.com', 'aes256-gcm@openssh.com', 'aes128-ctr', 'aes256-ctr']);
});

test('host key algorithms follow the keys we hold: RSA keys sign only with SHA-2', () => {
  assert.deepEqual(hostKeyAlgorithmsFor([key('ed25519')]), ['ssh-ed25519']);
  assert.deepEqual(hostKeyAlgorithmsFor([key('rsa')]), ['rsa-sha2-512', 'rsa-sha2-256']);
  assert.deepEqual(hostKeyAlgorithmsFor([key('rsa'), key('ecdsa'), key('ed25519')]), [
    'ssh-ed25519',
    'ecdsa-sha2-nistp256',
    'rsa-sha2-512',
    'rsa-sha2-256',
  ]);
});

test('a negotiated set outside our lists is flagged', () => {
  const ok = {
    kex: 'curve25519-sha256',
    serverHostKey: 'ssh-ed25519',
    cs: { cipher: 'aes128-ctr', mac: 'hmac-sha2-256-etm@openssh.com' },
    sc: { cipher: 'chacha20-poly1305@openssh.com', mac: '' },
  };
  assert.equal(isAllowedNegotiation(ok), true);
  assert.equal(isAllowedNegotiation({ ...ok, serverHostKey: 'ssh-rsa' }), false);
  assert.equal(isAllowedNegotiation({ ...ok, kex: 'diffie-hellman-group14-sha1' }), false);
  assert.equal(isAllowedNegotiation({ ...ok, cs: { cipher: 'aes128-cbc', mac: 'hmac-sha2-256' } }), false);
  assert.equal(isAllowedNegotiation({ ...ok, cs: { cipher: 'aes128-ctr', mac: 'hmac-sha1' } }), false);
});
