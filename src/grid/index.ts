export * from './types.js';
export * from './errors.js';
export { nodeInfoFromCap, updateLinkMetadata, patchUserMetadata, checkReplace, capsForLink, nowSeconds } from './links.js';
export { packChildren, unpackChildren, type PackedChild } from './dirpack.js';
