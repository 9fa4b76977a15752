// OpenSSH public keys as they appear in an accounts line (`TYPE BASE64 [comment]`). We check the
// blob's wire format here, at load time, so a truncated copy-paste is a startup error naming the
// line instead of a key that silently never matches.

/** Key type words accepted in an accounts file. DSA is refused: OpenSSH dropped it. */
export const KEY_TYPES: readonly string[] = [
  'ssh-ed25519',
  'ssh-rsa',
  'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521',
  'sk-ssh-ed25519@openssh.com',
  'sk-ecdsa-sha2-nistp256@openssh.com',
];

const KEY_TYPE_SET = new Set(KEY_TYPES);

export function isKeyType(word: string): boolean {
  return KEY_TYPE_SET.has(word);
}

/**
 * Words that can only be meant as a key type. They are reserved (the seed documentation says
 * passwords cannot be `ssh-rsa`/`ssh-dss`), so an unsupported one is an error, never a password.
 */
export function looksLikeKeyType(word: string): boolean {
  return /^(ssh-|ecdsa-|sk-)/.test(word);
}

// Uncompressed EC point sizes (0x04 || X || Y) per curve.
const EC_POINT_LENGTH: Record<string, number> = { nistp256: 65, nistp384: 97, nistp521: 133 };

/** Reads SSH wire-format `string` fields (uint32 big-endian length + bytes). */
class WireReader {
  private offset = 0;
  constructor(private readonly buf: Buffer) {}

  string(): Buffer | undefined {
    if (this.offset + 4 > this.buf.length) return undefined;
    const len = this.buf.readUInt32BE(this.offset);
    if (this.offset + 4 + len > this.buf.length) return undefined;
    const out = this.buf.subarray(this.offset + 4, this.offset + 4 + len);
    this.offset += 4 + len;
    return out;
  }

  get done(): boolean {
    return this.offset === this.buf.length;
  }
}

/** Strict, canonical (padded) base64, as ssh-keygen writes it. */
export function decodeBase64Strict(text: string): Buffer | undefined {
  if (text.length === 0 || text.length % 4 !== 0 || !/^[A-Za-z0-9+/]+={0,2}$/.test(text)) return undefined;
  const bytes = Buffer.from(text, 'base64');
  return bytes.toString('base64') === text ? bytes : undefined;
}

/**
 * Decodes and checks a public key blob for `type`. Returns the blob, or a message saying what is
 * wrong (the message never contains the key material).
 */
export function parseKeyBlob(type: string, base64: string): { blob: Buffer } | { error: string } {
  const blob = decodeBase64Strict(base64);
  if (!blob) return { error: 'key is not valid base64' };
  const r = new WireReader(blob);
  const embedded = r.string();
  if (!embedded) return { error: 'key blob is truncated' };
  const embeddedType = embedded.toString('latin1');
  if (embeddedType !== type) {
    return { error: `key type word ${type} does not match the key blob (which is ${JSON.stringify(embeddedType.slice(0, 64))})` };
  }
  const problem = checkKeyBody(type, r);
  if (problem) return { error: problem };
  if (!r.done) return { error: 'key blob has trailing bytes' };
  return { blob };
}

function checkKeyBody(type: string, r: WireReader): string | undefined {
  switch (type) {
    case 'ssh-ed25519':
    case 'sk-ssh-ed25519@openssh.com': {
      const pk = r.string();
      if (!pk || pk.length !== 32) return 'ed25519 key blob is malformed';
      if (type.startsWith('sk-') && !r.string()) return 'security-key blob has no application string';
      return undefined;
    }
    case 'ssh-rsa': {
      const e = r.string();
      const n = r.string();
      if (!e || !n || e.length === 0 || n.length < 64) return 'RSA key blob is malformed';
      return undefined;
    }
    default: {
      // ecdsa-sha2-nistpNNN and sk-ecdsa-sha2-nistp256@openssh.com
      const m = /^(?:sk-)?ecdsa-sha2-(nistp\d+)/.exec(type);
      if (!m) return 'unsupported key type';
      const curve = r.string();
      const point = r.string();
      if (!curve || curve.toString('latin1') !== m[1] || !point || point.length !== EC_POINT_LENGTH[m[1]!] || point[0] !== 4) {
        return 'ECDSA key blob is malformed';
      }
      if (type.startsWith('sk-') && !r.string()) return 'security-key blob has no application string';
      return undefined;
    }
  }
}
