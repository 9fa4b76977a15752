// Public surface of the FTP frontend.
export { startFtpServer } from './server.js';
export { generateSelfSignedCert, type CertificatePair } from './cert.js';
export { DEFAULT_LIMITS, type FtpLimits, type FtpServerOptions, type RunningFtpServer, type Logger } from './types.js';
export { FtpTls, type TlsMode, type TlsMaterial } from './tls.js';
export type { PortRange } from './data.js';
export { ftpSettings, type FtpSettings } from './settings.js';
