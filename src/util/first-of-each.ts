// Log lines a client can cause at will, bounded per connection.
import type { Logger } from './logger.js';

/**
 * Logs the first occurrence of each message on one connection and counts the others: a client
 * may repeat a refused request (a forwarding, a PORT to a foreign host) as fast as it can, and
 * the log must not grow with it. The counts belong in the connection's closing line.
 */
export class FirstOfEach {
  private readonly counts = new Map<string, number>();

  constructor(private readonly logger: Pick<Logger, 'info' | 'warn'>) {}

  note(level: 'info' | 'warn', fields: object, msg: string): void {
    const seen = this.counts.get(msg) ?? 0;
    this.counts.set(msg, seen + 1);
    if (seen === 0) this.logger[level](fields, msg);
  }

  /** `{ refused: { message: times } }` for the closing line; empty when nothing was noted. */
  summary(): { refused?: Record<string, number> } {
    return this.counts.size > 0 ? { refused: Object.fromEntries(this.counts) } : {};
  }
}
