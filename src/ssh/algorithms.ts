// The transport algorithms we offer. Modern only: no SHA-1 (kex, MAC, host-key signature),
// no CBC, no compression. Order matters: the client's first choice that we list wins.
import type {
  CipherAlgorithm,
  CompressionAlgorithm,
  KexAlgorithm,
  MacAlgorithm,
  ParsedKey,
  ServerHostKeyAlgorithm,
} from 'ssh2';

export const KEX = [
  'curve25519-sha256',
  'curve25519-sha256@libssh.org',
  'ecdh-sha2-nistp256',
  'ecdh-sha2-nistp384',
  'ecdh-sha2-nistp521',
  // Finite-field groups only as fallbacks for clients without ECC.
  'diffie-hellman-group16-sha512',
  'diffie-hellman-group18-sha512',
  'diffie-hellman-group14-sha256',
] as const satisfies readonly KexAlgorithm[];

export const CIPHERS = [
  'aes128-gcm@openssh.com',
  'chacha20-poly1305@openssh.com',
  'aes256-gcm@openssh.com',
  'aes128-ctr',
  'aes256-ctr',
] as const satisfies readonly CipherAlgorithm[];

// Only used with the CTR ciphers (the AEAD ones carry their own tag). Encrypt-then-MAC first;
// the plain SHA-2 ones stay for older clients (PuTTY before 0.75, some libraries).
export const MACS = [
  'hmac-sha2-256-etm@openssh.com',
  'hmac-sha2-512-etm@openssh.com',
  'hmac-sha2-256',
  'hmac-sha2-512',
] as const satisfies readonly MacAlgorithm[];

export const HOST_KEY_ALGORITHMS = [
  'ssh-ed25519',
  'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521',
  'rsa-sha2-512',
  'rsa-sha2-256',
] as const satisfies readonly ServerHostKeyAlgorithm[];

export const COMPRESSION = ['none'] as const satisfies readonly CompressionAlgorithm[];

/** Host-key signature algorithms we can offer for these keys, in our preference order. */
export function hostKeyAlgorithmsFor(keys: readonly ParsedKey[]): ServerHostKeyAlgorithm[] {
  const types = new Set<string>(keys.map((k) => k.type));
  return HOST_KEY_ALGORITHMS.filter((algo) =>
    algo.startsWith('rsa-sha2-') ? types.has('ssh-rsa') : types.has(algo),
  );
}

/** The `algorithms` option for ssh2's Server. */
export function ssh2Algorithms(hostKeyAlgos: readonly ServerHostKeyAlgorithm[]) {
  return {
    kex: [...KEX],
    cipher: [...CIPHERS],
    hmac: [...MACS],
    serverHostKey: [...hostKeyAlgos],
    compress: [...COMPRESSION],
  };
}

/** Is a negotiated set (ssh2 'handshake' event) inside what we offer? Defence in depth. */
export function isAllowedNegotiation(n: {
  kex: string;
  serverHostKey: string;
  cs: { cipher: string; mac: string };
  sc: { cipher: string; mac: string };
}): boolean {
  const macOk = (cipher: string, mac: string) =>
    cipher.includes('gcm') || cipher.startsWith('chacha20') || (MACS as readonly string[]).includes(mac);
  return (
    (KEX as readonly string[]).includes(n.kex) &&
    (HOST_KEY_ALGORITHMS as readonly string[]).includes(n.serverHostKey) &&
    (CIPHERS as readonly string[]).includes(n.cs.cipher) &&
    (CIPHERS as readonly string[]).includes(n.sc.cipher) &&
    macOk(n.cs.cipher, n.cs.mac) &&
    macOk(n.sc.cipher, n.sc.mac)
  );
}
