// Structured logs: JSON lines on stdout (one per connection, login, transfer or change), made
// human-readable when stdout is a terminal. Caps, passwords and key material never go in: the
// layers below only hand us redacted paths, and these paths are censored as a last guard.
import pino, { type Logger } from 'pino';

export type { Logger };

export interface LogOptions {
  level?: string;
  /** Force pretty (true) or JSON (false); default: pretty on a terminal. */
  pretty?: boolean;
  /** File descriptor to write to (default 1, stdout). */
  fd?: number;
}

const CAP_PATTERN = /(?:ro\.|imm\.)?URI:[A-Za-z0-9-]+:[^\s"'/]*/g;

/** Replaces anything that looks like a cap (last line of defence for free-text fields). */
export function redactCaps(text: string): string {
  return text.replace(CAP_PATTERN, '[cap]');
}

export function createLogger(options: LogOptions = {}): Logger {
  const fd = options.fd ?? 1;
  const pretty = options.pretty ?? Boolean(fd === 1 ? process.stdout.isTTY : process.stderr.isTTY);
  const base: pino.LoggerOptions = {
    level: options.level ?? process.env.LAFSD_LOG_LEVEL ?? 'info',
    base: { pid: process.pid },
    redact: { paths: ['password', 'passwd', 'rootCap', 'cap', '*.password', '*.rootCap'], censor: '[redacted]' },
    formatters: {
      log: (obj) => {
        for (const key of ['msg', 'path', 'to', 'err']) {
          const v = obj[key];
          if (typeof v === 'string') obj[key] = redactCaps(v);
        }
        return obj;
      },
    },
  };
  if (pretty) {
    return pino({ ...base, transport: { target: 'pino-pretty', options: { destination: fd, colorize: true, translateTime: 'SYS:HH:MM:ss', ignore: 'pid,hostname' } } });
  }
  return pino(base, pino.destination({ fd, sync: false }));
}
