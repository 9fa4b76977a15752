// The `[auth]` section of tahoe.cfg, as the auth classes want it. Reading and checking the file
// is the config layer's job (src/config/schema.ts has the keys, their types, defaults and docs,
// and the cross-key rules); this only renames the typed values into option objects.
import type { AuthConfig } from '../config/index.js';
import type { DefenderOptions } from './defender.js';
import type { FileAuthenticatorOptions } from './file-authenticator.js';
import type { HashKind } from './passwords.js';
import type { UrlAuthenticatorOptions } from './url-authenticator.js';

export interface ResolvedAuthConfig {
  passwordHash: HashKind;
  watchAccountsFile: boolean;
  file: Required<Pick<FileAuthenticatorOptions, 'cacheTtlMs' | 'cacheMax'>>;
  url: Required<Pick<UrlAuthenticatorOptions, 'timeoutMs' | 'cacheTtlMs' | 'cacheMax' | 'maxRedirects'>>;
  /** Enforced by the frontends (per connection). */
  maxAuthTries: number;
  loginGraceMs: number;
  /** Load balancers that send PROXY protocol headers (both frontends). */
  proxyProtocolFrom: string[];
  defender: Omit<DefenderOptions, 'now' | 'random' | 'logger'>;
}

export function authOptions(a: AuthConfig): ResolvedAuthConfig {
  return {
    passwordHash: a.passwordHash,
    watchAccountsFile: a.accountsWatch,
    file: { cacheTtlMs: a.passwordCacheTtl, cacheMax: a.passwordCacheSize },
    url: { timeoutMs: a.urlTimeout, cacheTtlMs: a.urlCacheTtl, cacheMax: a.urlCacheSize, maxRedirects: a.urlMaxRedirects },
    maxAuthTries: a.maxAuthTries,
    loginGraceMs: a.loginGraceTime,
    proxyProtocolFrom: [...(a.proxyProtocol ?? [])],
    defender: {
      enabled: a.defenderEnabled,
      threshold: a.defenderThreshold,
      observationMs: a.defenderObservationTime,
      banMs: a.defenderBanTime,
      banMultiplier: a.defenderBanTimeMultiplier,
      banMaxMs: a.defenderBanTimeMax,
      offenceMemoryMs: a.defenderOffenceMemory,
      scores: {
        'bad-password': a.scoreBadPassword,
        'unknown-user': a.scoreUnknownUser,
        'bad-key': a.scoreBadKey,
        'grace-timeout': a.scoreGraceTimeout,
        'too-many-attempts': a.scoreTooManyAttempts,
        'protocol-error': a.scoreProtocolError,
      },
      maxHosts: a.defenderMaxHosts,
      ipv6Prefix: a.defenderIpv6Prefix,
      maxStartups: { ...a.maxStartups },
      maxStartupsPerAddress: a.maxStartupsPerAddress,
      maxConnectionsPerAddress: a.maxConnectionsPerAddress,
      maxConnections: a.maxConnections,
    },
  };
}
