// The logging surface auth needs. A pino.Logger satisfies it; tests pass a recording logger.
// Rule for every caller in this folder: log usernames, client addresses, outcomes and
// file:line of problems; never passwords, password hashes, key material or caps.

import type { Logger } from '../util/logger.js';

/** Auth logs at three levels only (no debug chatter about logins). */
export type AuthLogger = Pick<Logger, 'info' | 'warn' | 'error'>;

export const silentLogger: AuthLogger = {
  info() {},
  warn() {},
  error() {},
};
