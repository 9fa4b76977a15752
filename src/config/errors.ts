// The one error type of the config layer. A config file usually has several mistakes at once;
// reporting them all together saves the operator a fix-restart-fix loop, so the error carries a
// list of problems (each already formatted as `FILE:LINE: message`) and its message is that list,
// one problem per line.
export class ConfigError extends Error {
  readonly problems: readonly string[];

  constructor(problems: string | readonly string[]) {
    const list = typeof problems === 'string' ? [problems] : [...problems];
    super(list.join('\n'));
    this.name = 'ConfigError';
    this.problems = list;
  }
}

/** A problem found while reading a file, before it is tied to the file's name. */
export interface Problem {
  line?: number;
  message: string;
}

/** `FILE:LINE: message`, or `FILE: message` when no single line is to blame. */
export function formatProblem(file: string, p: Problem): string {
  return p.line === undefined ? `${file}: ${p.message}` : `${file}:${p.line}: ${p.message}`;
}
