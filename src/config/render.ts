// Text generated from the schema: the README's configuration reference and the tahoe.cfg that
// `lafsd init` writes. Both come from code so they cannot drift from what the loader accepts.
import { parseEndpoint } from './endpoint.js';
import { SCHEMA, TAHOE_SECTIONS, TAHOE_SECTION_PREFIXES, type OptionSpec } from './schema.js';

const cell = (text: string) => text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
const code = (text: string) => `\`${text}\``;

/** The configuration reference as a Markdown table (section, key, type, default, meaning). */
export function renderConfigReference(): string {
  const rows = ['| Section | Key | Type | Default | Meaning |', '|---|---|---|---|---|'];
  for (const [section, options] of Object.entries(SCHEMA)) {
    for (const spec of Object.values(options) as OptionSpec<unknown>[]) {
      const dflt = spec.default === undefined ? '(unset)' : code(spec.default);
      rows.push(`| ${code(`[${section}]`)} | ${code(spec.key)} | ${cell(spec.type.doc)} | ${cell(dflt)} | ${cell(spec.doc)} |`);
    }
  }
  const tahoe = [...TAHOE_SECTIONS.map((s) => `[${s}]`), ...TAHOE_SECTION_PREFIXES.map((p) => `[${p}*]`)];
  return [
    ...rows,
    '',
    'Relative paths are resolved against BASEDIR (`~` is not expanded). An empty value leaves a key '
      + 'without a default unset. Unknown keys in these sections, and unknown sections, are errors. '
      + `Tahoe-LAFS's own sections (${tahoe.map(code).join(', ')}) are accepted and ignored, so an `
      + 'existing Tahoe-LAFS node directory can be used as BASEDIR.',
    '',
  ].join('\n');
}

export interface DefaultConfigOptions {
  /** Endpoint for SFTP; default `tcp:8022:interface=127.0.0.1`. */
  sftpPort?: string;
  /** Endpoint for FTP; default `tcp:8021:interface=127.0.0.1`. */
  ftpPort?: string;
  /** Certificate and key files for FTPS (relative to BASEDIR); without them FTPS stays off. */
  ftpTls?: { certFile: string; keyFile: string };
  /** Endpoint of the metrics and health listener; default: off (a commented example line). */
  metricsPort?: string;
}

/** The tahoe.cfg that `lafsd init` writes. Throws ConfigError if a given port is not an endpoint. */
export function renderDefaultConfig(opts: DefaultConfigOptions = {}): string {
  const sftpPort = opts.sftpPort ?? SCHEMA.sftpd.port.default;
  const ftpPort = opts.ftpPort ?? SCHEMA.ftpd.port.default;
  parseEndpoint(sftpPort); // refuse here rather than write a node that cannot start
  parseEndpoint(ftpPort);
  if (opts.metricsPort !== undefined) parseEndpoint(opts.metricsPort);
  return `# lafsd node configuration, in Tahoe-LAFS's tahoe.cfg format.
# Relative paths are relative to this directory. Every key is described in the README.

[lafsd]
# embedded: files are kept encrypted in this directory, no other process needed.
# webapi: use a Tahoe-LAFS node instead (then also set webapi.url = http://127.0.0.1:3456/).
grid = embedded
# Folder of the embedded store.
#store = storage
# Garbage collection of the store (\`lafsd gc\`, see the README): unreachable data older than
# gc.grace_period is deleted; set gc.interval to collect inside \`lafsd run\` (off until set).
#gc.grace_period = 168h
#gc.interval = 24h
# Prometheus metrics and health checks (/metrics, /healthz, /readyz) over HTTP; off when unset.
${opts.metricsPort !== undefined ? `metrics = ${opts.metricsPort}` : '#metrics = tcp:9464:interface=127.0.0.1'}

[sftpd]
enabled = true
# interface=127.0.0.1 accepts connections from this machine only.
port = ${sftpPort}
# The server's SSH host key pair, created by lafsd init (no passphrase).
host_pubkey_file = private/ssh_host_ed25519_key.pub
host_privkey_file = private/ssh_host_ed25519_key
# Who may log in, and the root directory cap of each user.
accounts.file = private/accounts

[ftpd]
# Plain FTP is unencrypted: keep it on 127.0.0.1 unless clients use FTPS (AUTH TLS).
enabled = true
port = ${ftpPort}
accounts.file = private/accounts
${opts.ftpTls ? `# FTPS: lafsd init made a self-signed certificate. tls = optional offers AUTH TLS (clients
# must then trust this certificate: lftp, for one, refuses an unknown issuer unless told
# \`set ssl:verify-certificate no\`); tls = required refuses clear text. Off by default, as in
# vsftpd and ProFTPD, so every stock client works out of the box.
tls = off
tls_cert_file = ${opts.ftpTls.certFile}
tls_key_file = ${opts.ftpTls.keyFile}` : `# FTPS: set tls_cert_file and tls_key_file (PEM), then tls = optional or required.
#tls = optional`}
# Implicit FTPS (TLS from the first byte) on its own port:
#implicit_port = tcp:8990:interface=127.0.0.1
# FTPS data connections must resume the control connection's TLS session (no one else can take
# them); Python's ftplib and rclone with several connections cannot, and need:
#tls_require_session_reuse = false
# Ports for passive data connections (open them in the firewall when not on localhost).
#passive_ports = 50000-50100

[auth]
# Logins of both frontends: password hashes, accounts.url timeout and cache, login limits and
# the brute-force defence (on by default). Every key and its default is in the README.
#password_hash = scrypt
#defender.ban_time = 5m
`;
}
