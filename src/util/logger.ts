// The logging surface every layer takes: the pino subset lafsd uses, so a pino logger (or a
// child of one) satisfies it and tests can pass a recording object. Rule for every caller:
// log usernames, client addresses, outcomes, redacted paths — never passwords, keys or caps.

export interface Logger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}
