// Public surface of the auth layer.
export type { Account, AccountKey, AccountQuota, Authenticator, Defender, FailureReason, LoginAttempt, LoginObserver, Protocol } from './types.js';
export { AuthError } from './errors.js';
export { type AuthLogger, silentLogger } from './logger.js';
export { parseAccounts, usernameProblem, MAX_USERNAME_BYTES, type AccountRecord, type ParsedAccounts } from './accounts-file.js';
export { KEY_TYPES, parseKeyBlob } from './ssh-keys.js';
export {
  hashPassword, verifyPassword, verifyDummy, parsePasswordField, passwordChecks,
  DEFAULT_SCRYPT, DEFAULT_ARGON2, DEFAULT_BCRYPT_COST, type HashKind, type PasswordSpec,
} from './passwords.js';
export {
  FileAuthenticator, FILE_CACHE_DEFAULTS, MAX_PASSWORD_BYTES, passwordVerifications, type FileAuthenticatorOptions,
} from './file-authenticator.js';
export { LoginCache } from './login-cache.js';
export { UrlAuthenticator, URL_DEFAULTS, multipartBody, type UrlAuthenticatorOptions } from './url-authenticator.js';
export { CombinedAuthenticator, type AccountSources } from './combined.js';
export {
  LoginDefender, DEFENDER_DEFAULTS, DEFAULT_SCORES, defenderOptionProblems,
  type DefenderOptions, type AdmitResult, type HostStatus,
} from './defender.js';
export type { MaxStartups } from './connection-limits.js';
export { addressKey } from './address-key.js';
export { authOptions, type ResolvedAuthConfig } from './config-keys.js';
export { parseAccountOptions, sameQuota, splitOptions, type AccountOptions } from './account-options.js';
