export { EmbeddedGrid, type EmbeddedGridOptions } from './store.js';
export { SEGMENT_SIZE, cachedRunBytes, runBufferCounts } from './objects.js';
export type { GcCounts, GcOptions, GcReport, GcRoot } from './gc.js';
export { SealPool, MAX_IN_FLIGHT } from './sealer.js';
export { GroupSync } from './group-sync.js';
