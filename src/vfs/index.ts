export * from './errors.js';
export * from './paths.js';
export * from './attrs.js';
export { OpenFiles, type OpenWriter } from './openfiles.js';
export { VfsSession, DEFAULT_MAX_OPEN_FILES, type VfsSessionOptions, type OpenFlags, type ListEntry, type AuditEvent } from './session.js';
export type { VfsFile, SetAttrs } from './handles.js';
export { MAX_PENDING } from './content.js';
export { AccountUsage, countTree, DEFAULT_MAX_FILE_SIZE, type Quota, type VfsLimits } from './limits.js';
export { ListingBudget, ListingShare, DEFAULT_MAX_LISTED_ENTRIES, DEFAULT_MAX_SESSION_LISTED_ENTRIES } from './listing-budget.js';
