export * from './caps.js';
export { b32encode, b32decode } from './base32.js';
export { taggedHash, sskReadKey, sskStorageIndex, chkStorageIndex, netstring } from './hashes.js';
