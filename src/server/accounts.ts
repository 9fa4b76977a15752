// Builds the account sources each frontend uses from its config section: the accounts file,
// the account service (accounts.url), or both (a user in the file is decided by the file).
// Sources are shared between frontends that name the same file or URL.
import {
  CombinedAuthenticator, FileAuthenticator, UrlAuthenticator,
  type Authenticator, type AuthLogger, type FileAuthenticatorOptions, type UrlAuthenticatorOptions,
} from '../auth/index.js';

/** [auth] accounts.url.* settings, shared by every account service a frontend names. */
export type UrlSettings = Partial<Pick<UrlAuthenticatorOptions, 'timeoutMs' | 'cacheTtlMs' | 'cacheMax' | 'maxRedirects'>>;
/** [auth] settings of every accounts file (watching, the cache of verified passwords). */
export type FileSettings = Partial<Pick<FileAuthenticatorOptions, 'watch' | 'cacheTtlMs' | 'cacheMax'>>;

export interface AccountSourceConfig {
  accountsFile?: string;
  accountsUrl?: string;
}

export class AccountSources {
  private readonly files = new Map<string, Promise<FileAuthenticator>>();
  private readonly urls = new Map<string, UrlAuthenticator>();

  constructor(
    private readonly logger: AuthLogger,
    private readonly urlOptions: UrlSettings = {},
    private readonly fileOptions: FileSettings = {},
    /** Wraps the account service's authenticator, e.g. to record the roots it answers (gc). */
    private readonly wrapService: (service: Authenticator) => Authenticator = (s) => s,
  ) {}

  private file(path: string): Promise<FileAuthenticator> {
    let p = this.files.get(path);
    if (!p) {
      p = FileAuthenticator.open({ path, logger: this.logger, ...this.fileOptions });
      this.files.set(path, p);
    }
    return p;
  }

  private url(url: string): UrlAuthenticator {
    let u = this.urls.get(url);
    if (!u) {
      u = new UrlAuthenticator({ url, logger: this.logger, ...this.urlOptions });
      this.urls.set(url, u);
    }
    return u;
  }

  async authenticatorFor(config: AccountSourceConfig): Promise<Authenticator> {
    const file = config.accountsFile !== undefined ? await this.file(config.accountsFile) : undefined;
    const url = config.accountsUrl !== undefined ? this.wrapService(this.url(config.accountsUrl)) : undefined;
    return new CombinedAuthenticator({ ...(file ? { file } : {}), ...(url ? { url } : {}) });
  }

  /**
   * Re-reads every accounts file (SIGHUP) and forgets cached account-service answers. True when
   * all files were reloaded; a broken file keeps its previous accounts (and logs the error with
   * file:line).
   */
  async reload(): Promise<boolean> {
    for (const u of this.urls.values()) u.clearCache();
    let ok = true;
    for (const p of this.files.values()) if (!(await (await p).reload())) ok = false;
    return ok;
  }

  async close(): Promise<void> {
    for (const p of this.files.values()) (await p.catch(() => undefined))?.close();
  }
}
