// Every place where we reach past ssh2's public API lives here, so an ssh2 upgrade has one file
// to re-check. Each helper checks the shape it expects and degrades to "not done" otherwise.
import { createRequire } from 'node:module';
import type { Connection } from 'ssh2';

const require = createRequire(import.meta.url);

interface KexInitCtor {
  new (lists: object): object;
}

interface ProtocolInternals {
  _offer?: { lists?: unknown };
  _strictMode?: boolean;
}

/**
 * A KEXINIT offer built from exactly these lists. ssh2's Server always appends `ssh-rsa`
 * (SHA-1 signatures) for an RSA host key, whatever `algorithms.serverHostKey` says; swapping
 * the per-connection offer is the only way to keep it out of the list.
 */
export function buildOffer(algos: {
  kex: string[];
  serverHostKey: string[];
  cipher: string[];
  hmac: string[];
  compress: string[];
}): object {
  const { KexInit } = require('ssh2/lib/protocol/kex.js') as { KexInit: KexInitCtor };
  const dir = { cipher: algos.cipher, mac: algos.hmac, compress: algos.compress, lang: [] as string[] };
  return new KexInit({
    // The strict-kex marker (Terrapin countermeasure) that ssh2's Server would add itself.
    kex: [...algos.kex, 'kex-strict-s-v00@openssh.com'],
    serverHostKey: algos.serverHostKey,
    cs: dir,
    sc: { ...dir },
  });
}

/**
 * Install `offer` on a connection whose KEXINIT has not been sent yet. ssh2 emits the server
 * 'connection' event synchronously just before it sends its KEXINIT, so that is the place.
 */
export function replaceOffer(client: Connection, offer: object): boolean {
  const proto = (client as unknown as { _protocol?: ProtocolInternals })._protocol;
  if (!proto || typeof proto._offer !== 'object' || proto._offer === null || !('lists' in proto._offer)) return false;
  proto._offer = offer as ProtocolInternals['_offer'];
  return true;
}

/** Whether strict key exchange (kex-strict-*-v00@openssh.com) is in force; undefined = unknown. */
export function strictKexEnabled(client: Connection): boolean | undefined {
  const proto = (client as unknown as { _protocol?: ProtocolInternals })._protocol;
  return typeof proto?._strictMode === 'boolean' ? proto._strictMode : undefined;
}
