// Both account sources at once (DESIGN.md "accounts.url"). A user listed in the accounts file is
// decided by the file alone: a wrong password there is final and never falls through to the
// service, so the service cannot widen what the file says. Everyone else asks the service.
// Public keys only ever come from the file.
import type { Account, Authenticator, LoginAttempt } from './types.js';
import type { FileAuthenticator } from './file-authenticator.js';
import { AuthError } from './errors.js';

export interface AccountSources {
  file?: Pick<FileAuthenticator, 'has' | 'checkPassword' | 'findKey'>;
  url?: Authenticator;
}

export class CombinedAuthenticator implements Authenticator {
  constructor(private readonly sources: AccountSources) {
    if (!sources.file && !sources.url) throw new AuthError('no account source: configure accounts.file or accounts.url');
  }

  checkPassword(attempt: LoginAttempt, password: string): Promise<Account | undefined> {
    const { file, url } = this.sources;
    if (file && (file.has(attempt.username) || !url)) return file.checkPassword(attempt, password);
    return url!.checkPassword(attempt, password);
  }

  async findKey(attempt: LoginAttempt, keyType: string, keyBlob: Buffer): Promise<Account | undefined> {
    return this.sources.file ? this.sources.file.findKey(attempt, keyType, keyBlob) : undefined;
  }
}
