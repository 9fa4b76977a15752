// The logging surface auth needs. A pino.Logger satisfies it; tests pass a recording logger.
// Rule for every caller in this folder: log usernames, client addresses, outcomes and
// file:line of problems; never passwords, password hashes, key material or caps.

export interface AuthLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export const silentLogger: AuthLogger = {
  info() {},
  warn() {},
  error() {},
};
