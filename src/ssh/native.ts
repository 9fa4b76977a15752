// ssh2's native crypto binding (sshcrypto.node). Without it AES-GCM and, worse, chacha20-poly1305
// (which OpenSSH clients pick first) run on a slow path: 32–45% less throughput, 50–150% more CPU
// (node-libs.md §2). We refuse to start rather than run slow without saying so.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const require = createRequire(import.meta.url);

/** Where ssh2's install script puts the binding. */
export function nativeBindingPath(): string {
  return join(dirname(require.resolve('ssh2')), 'protocol', 'crypto', 'build', 'Release', 'sshcrypto.node');
}

/** Throws a clear error unless the binding file exists and ssh2 loaded it. */
export function assertNativeCrypto(path: string = nativeBindingPath(), loaded?: boolean): void {
  const hint = 'rebuild it with `npm rebuild ssh2` (needs python3, make and g++)';
  if (!existsSync(path)) {
    throw new Error(`ssh2 native crypto binding is missing (${path}); ${hint}`);
  }
  const isLoaded =
    loaded ?? (require('ssh2/lib/protocol/crypto.js') as { bindingAvailable?: boolean }).bindingAvailable === true;
  if (!isLoaded) {
    throw new Error(`ssh2 native crypto binding at ${path} failed to load (built for another Node?); ${hint}`);
  }
}
