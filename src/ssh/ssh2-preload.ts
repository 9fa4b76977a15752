// Loads ssh2 with its packet padding drawn from our random pool (src/util/random.ts). ssh2 pads
// every packet it sends with crypto.randomFillSync(packet, offset, 4..255): one OpenSSL call of
// 3-7 µs each (its DRBG lock), 280 ms of the event loop's ~3.3 s in a profile of 2,000 small
// SFTP uploads and 6,000 downloads, and one call per 32 KiB of a big download. ssh2 takes
// randomFillSync from node:crypto once, when its modules load; loading them here with the pooled
// function in place (the original is put back at once) gives the pool to ssh2 and nothing else.
// Every module that loads ssh2 imports this module first. The bytes are the same CSPRNG output,
// drawn 4 KiB at a time, each handed out once.
import { createRequire } from 'node:module';
import { randomFillPooled } from '../util/random.js';

const require = createRequire(import.meta.url);

function load(): boolean {
  // Loaded before this module ran (an import order this file's users must avoid): keep it.
  if (require.cache[require.resolve('ssh2/lib/protocol/crypto.js')]) return false;
  const crypto = require('node:crypto') as { randomFillSync: unknown };
  const original = crypto.randomFillSync;
  crypto.randomFillSync = randomFillPooled;
  try {
    require('ssh2');
  } finally {
    crypto.randomFillSync = original;
  }
  return true;
}

/** Whether ssh2's padding comes from the pool (false: ssh2 was loaded before this module). */
export const ssh2PaddingPooled = load();
