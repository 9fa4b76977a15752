// Host key files: load and check them for the server, generate a new pair for `lafsd init`.
import { createPublicKey } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import './ssh2-preload.js'; // first: ssh2's padding from our random pool
import ssh2 from 'ssh2';
import type { ParsedKey } from 'ssh2';

const { utils } = ssh2;

const SUPPORTED_TYPES = new Set(['ssh-ed25519', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521', 'ssh-rsa']);
const MIN_RSA_BITS = 2048;

/** Parse one private host key; throws an Error naming `source` when it is unusable. */
export function parseHostKey(data: Buffer | string, source: string): ParsedKey {
  const parsed = utils.parseKey(data);
  if (parsed instanceof Error) {
    if (/passphrase|encrypted/i.test(parsed.message)) {
      throw new Error(`${source}: the host key is encrypted; host keys must not have a passphrase`);
    }
    throw new Error(`${source}: not a usable private key (${parsed.message})`);
  }
  // OpenSSH files may hold several keys; ssh2 (like sshd) uses the first.
  const key = Array.isArray(parsed) ? (parsed[0] as ParsedKey) : parsed;
  if (!key.isPrivateKey()) throw new Error(`${source}: this is a public key; the host key file must hold the private key`);
  if (!SUPPORTED_TYPES.has(key.type)) throw new Error(`${source}: host key type ${key.type} is not supported (use ed25519, ecdsa or rsa)`);
  if (key.type === 'ssh-rsa') {
    const bits = createPublicKey(key.getPublicPEM()).asymmetricKeyDetails?.modulusLength ?? 0;
    if (bits < MIN_RSA_BITS) throw new Error(`${source}: RSA host key has ${bits} bits; at least ${MIN_RSA_BITS} are needed`);
  }
  return key;
}

/**
 * Read a private host key (and, when given, the matching public key file) and return it in the
 * form `startSshServer({ hostKeys })` takes.
 */
export async function loadHostKeys(privPath: string, pubPath?: string): Promise<Buffer[]> {
  const priv = await readKeyFile(privPath, 'host private key');
  const key = parseHostKey(priv, privPath);
  if (pubPath !== undefined) {
    const pubText = await readKeyFile(pubPath, 'host public key');
    const pub = utils.parseKey(pubText);
    if (pub instanceof Error || Array.isArray(pub)) {
      throw new Error(`${pubPath}: not a public key in OpenSSH format (${pub instanceof Error ? pub.message : 'several keys'})`);
    }
    if (!pub.getPublicSSH().equals(key.getPublicSSH())) {
      throw new Error(`${pubPath}: this public key does not belong to the private key in ${privPath}`);
    }
  }
  return [priv];
}

async function readKeyFile(path: string, what: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? String(err);
    throw new Error(`${path}: cannot read the ${what} (${code})`);
  }
}

/** A fresh ed25519 host key pair: OpenSSH private key text and an `ssh-ed25519 AAAA… comment` line. */
export function generateHostKeyPair(comment = 'lafsd host key'): { privateKey: string; publicKey: string } {
  // ssh2 1.17's keygen strips every leading zero byte of the ed25519 public key, so about one
  // pair in 256 comes out malformed (31-byte key). Check each pair and draw again when broken.
  for (let i = 0; i < 16; i++) {
    const pair = utils.generateKeyPairSync('ed25519', { comment });
    if (isSoundEd25519Pair(pair.private, pair.public)) {
      const nl = (s: string) => (s.endsWith('\n') ? s : `${s}\n`);
      return { privateKey: nl(pair.private), publicKey: nl(pair.public) };
    }
  }
  throw new Error('could not generate a valid ed25519 host key');
}

const ED25519_BLOB_LENGTH = 4 + 'ssh-ed25519'.length + 4 + 32;

function isSoundEd25519Pair(privText: string, pubText: string): boolean {
  const priv = utils.parseKey(privText);
  const pub = utils.parseKey(pubText);
  if (priv instanceof Error || pub instanceof Error || Array.isArray(priv) || Array.isArray(pub)) return false;
  const blob = priv.getPublicSSH();
  if (blob.length !== ED25519_BLOB_LENGTH || !blob.equals(pub.getPublicSSH())) return false;
  const probe = Buffer.from('lafsd host key self-check');
  return pub.verify(probe, priv.sign(probe)) === true;
}
