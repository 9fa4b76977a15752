// The one error class of the auth layer. Configuration and accounts-file problems are collected
// and reported together, so an operator fixes every bad line in one pass.

export class AuthError extends Error {
  /** Every problem found, each a complete sentence (`private/accounts:3: …`). */
  readonly problems: readonly string[];

  constructor(summary: string, problems: readonly string[] = []) {
    super(problems.length ? `${summary}\n  ${problems.join('\n  ')}` : summary);
    this.name = 'AuthError';
    this.problems = problems;
  }
}
