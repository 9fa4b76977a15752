// The storage layer's error vocabulary. Messages never contain caps: they may reach clients
// and logs. The vfs translates these codes into its own errors; adapters never see GridError.

export type GridErrorCode =
  | 'NOT_FOUND' // no such child, or the object a cap names is not in this store
  | 'EXISTS' // the name is taken and the replace rule refused
  | 'NOT_WRITABLE' // write through a read-only cap (or an immutable node)
  | 'NOT_A_DIRECTORY' // a directory operation on a file or unknown node
  | 'IS_A_DIRECTORY' // a file operation on a directory
  | 'NOT_EMPTY' // directory still has entries
  | 'CORRUPT' // integrity check failed: stored bytes were altered or truncated
  | 'UNAVAILABLE' // the backend cannot be reached or cannot recover the data right now
  | 'NO_SPACE' // the store's disk is full (the embedded store keeps a reserve for directory changes)
  | 'INVALID' // malformed request: bad name, bad cap kind for the operation, bad argument
  | 'UNSUPPORTED'; // the backend cannot do this at all

export class GridError extends Error {
  readonly code: GridErrorCode;
  constructor(code: GridErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'GridError';
    this.code = code;
  }
}

export function isGridError(err: unknown, code?: GridErrorCode): err is GridError {
  return err instanceof GridError && (code === undefined || err.code === code);
}
