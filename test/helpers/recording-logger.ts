// A Logger that keeps every line, for tests that check what a layer logs (and what it never
// logs: caps, passwords, key material).
import type { Logger } from '../../src/util/logger.js';

export interface LogEntry {
  level: 'info' | 'warn' | 'error' | 'debug';
  obj: Record<string, unknown>;
  msg: string;
}

export class RecordingLogger implements Logger {
  readonly entries: LogEntry[] = [];
  info(obj: object, msg = '') { this.entries.push({ level: 'info', obj: obj as Record<string, unknown>, msg }); }
  warn(obj: object, msg = '') { this.entries.push({ level: 'warn', obj: obj as Record<string, unknown>, msg }); }
  error(obj: object, msg = '') { this.entries.push({ level: 'error', obj: obj as Record<string, unknown>, msg }); }
  debug(obj: object, msg = '') { this.entries.push({ level: 'debug', obj: obj as Record<string, unknown>, msg }); }
  /** Entries with exactly this message. */
  with(msg: string): LogEntry[] {
    return this.entries.filter((e) => e.msg === msg);
  }
  /** Everything logged, one line per entry. */
  text(): string {
    return this.entries.map((e) => `${e.level} ${e.msg} ${JSON.stringify(e.obj)}`).join('\n');
  }
}
