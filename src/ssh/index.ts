// The SSH transport layer: host keys, algorithms, logins, limits, rekey. Hands the `sftp`
// subsystem's byte stream of an authenticated session to the caller.
export { startSshServer } from './server.js';
export { loadHostKeys, generateHostKeyPair, parseHostKey } from './hostkeys.js';
export { assertNativeCrypto, nativeBindingPath } from './native.js';
export { formatDf, DF_COMMAND } from './df.js';
export { REFUSAL } from './session.js';
export { KEX, CIPHERS, MACS, HOST_KEY_ALGORITHMS } from './algorithms.js';
export { DEFAULT_LIMITS } from './types.js';
export type { DiskUsage, Logger, RunningSshServer, SshLimits, SshServerOptions, SshSessionInfo } from './types.js';
