// SSH key pairs for tests. ssh2 1.17's ed25519 keygen drops leading zero bytes of the public
// key, so about one pair in 300 is malformed (src/ssh/hostkeys.ts works around it the same way):
// a test that drew such a pair failed for no fault of the code under test.
import ssh2 from 'ssh2';

type KeyType = 'ed25519' | 'rsa' | 'ecdsa';

/** ssh2's generateKeyPairSync, drawn again until the public key parses and matches the private one. */
export function sshKeyPair(type: KeyType, opts: { bits?: number; comment?: string } = {}): { private: string; public: string } {
  for (let i = 0; i < 32; i++) {
    const pair = ssh2.utils.generateKeyPairSync(type as 'ed25519', opts as never);
    const pub = ssh2.utils.parseKey(pair.public);
    const priv = ssh2.utils.parseKey(pair.private);
    if (pub instanceof Error || priv instanceof Error || Array.isArray(pub) || Array.isArray(priv)) continue;
    if (pub.getPublicSSH().equals(priv.getPublicSSH())) return pair;
  }
  throw new Error(`could not draw a sound ${type} key pair`);
}
