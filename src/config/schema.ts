// THE table of everything lafsd reads from tahoe.cfg. Validation, the typed NodeConfig and the
// README's configuration reference are all derived from it, so adding a key is one `opt(...)`
// line here (plus a cross-key rule below if it depends on other keys).
import type { Endpoint } from './endpoint.js';
import type { Problem } from './errors.js';
import * as t from './types.js';

export interface OptionSpec<T, HasDefault extends boolean = boolean> {
  /** The key as written in tahoe.cfg (lowercase). */
  readonly key: string;
  readonly type: t.ValueType<T>;
  /** The default, written as config text and parsed like a configured value. */
  readonly default: HasDefault extends true ? string : undefined;
  readonly hasDefault: HasDefault;
  /** One sentence for the README. */
  readonly doc: string;
}

export function opt<T>(key: string, type: t.ValueType<T>, dflt: string, doc: string): OptionSpec<T, true>;
export function opt<T>(key: string, type: t.ValueType<T>, dflt: undefined, doc: string): OptionSpec<T, false>;
export function opt<T>(key: string, type: t.ValueType<T>, dflt: string | undefined, doc: string): OptionSpec<T> {
  return { key, type, default: dflt, hasDefault: dflt !== undefined, doc } as OptionSpec<T>;
}

// Property names are what code reads (config.sftpd.hostPrivkeyFile); `key` is what users write.
export const SCHEMA = {
  lafsd: {
    grid: opt('grid', t.oneOf('embedded', 'webapi'), 'embedded',
      'Where files are kept: `embedded` is an encrypted store inside BASEDIR that needs no other process; `webapi` uses a running Tahoe-LAFS node through its web-API. In an existing Tahoe-LAFS node directory (one with `node.url`) the default is `webapi` with that URL.'),
    webapiUrl: opt('webapi.url', t.url, undefined,
      'Web-API URL of the Tahoe-LAFS node to use, e.g. `http://127.0.0.1:3456/`; required when `grid = webapi`, unless BASEDIR holds the node\'s `node.url`.'),
    webapiDirectoryUrl: opt('webapi.directory_url', t.url, undefined,
      'Web-API URL of the Tahoe-LAFS node that makes every directory change (links, unlinks, renames, mkdir); unset: `webapi.url`. Tahoe serializes the changes of one directory within one node only: gateways on several client nodes of one grid set this to the same node, or concurrent changes of a directory through different nodes can be lost (see "Several gateways").'),
    webapiTimeout: opt('webapi.timeout', t.duration({ minMs: 1000, maxMs: 3_600_000 }), '30s',
      'Longest wait for the Tahoe-LAFS node: to connect, to answer a request, between the bytes of a transfer, and (while it stores an upload, publishes a mutable file or updates a directory) to answer its status page or show progress on an upload; then the operation fails as "unavailable" (SFTP failure, FTP 451).'),
    webapiWriteTimeout: opt('webapi.write_timeout', t.duration({ minMs: 1000, maxMs: 86_400_000 }), '10m',
      'Longest a directory update, a mutable-file publish, or the storing of an upload whose progress the node does not show may take while the node keeps answering (Tahoe retries a conflicting directory update for about 30 s); uploads the node shows progressing are waited for as long as they progress.'),
    storeDir: opt('store', t.path, 'storage',
      'Folder of the embedded store, relative to BASEDIR unless absolute.'),
    // At least 4M: a fresh reading of the free space does not count what the sealer
    // has in hand (up to 4 MiB, src/grid/embedded/space.ts), which the reserve must cover.
    storeReserve: opt('store.reserve', t.byteSize({ min: 4 * 1024 * 1024 }), '64M',
      'Free space of the embedded store\'s filesystem that file data never takes, so deletes and renames still work when the disk is full; `df` and `statvfs` report free space without it. Uploads that would need it fail with "no space" (SFTP failure, FTP 452). At least 4M.'),
    // 8M, not 32M: four sessions still get OpenSSH's full 2 MiB window each, eight get 1 MiB.
    // 8 OpenSSH clients × 256 MiB at once peaked at 114–123 MiB RSS against 143–147 with 32M, at
    // the same speed (6.8–7.6 s against 7.0–8.0); one 1 GiB upload and 8 downloads at once ran
    // as fast either way (bench/README.md, ninth session).
    transferMemory: opt('transfer_memory', t.byteSize({ min: 1024 * 1024 }), '8M',
      'Memory all sessions together may hold for data in flight (SFTP READ/WRITE payloads and replies, FTP upload queues, out-of-order writes). When it is used up, the sessions holding more than an equal part of it are slowed (they stop reading from their clients) until there is room; nobody fails for it. The SSH windows granted to all SFTP sessions together (what clients may send before they are asked for more) are bounded by it too: each session gets an equal part, at most 2 MiB (what OpenSSH grants) and at least 64 KiB, so up to four sessions get a full window. Raise it for many clients on long fast links, where a session\'s window limits its speed (window / round-trip time).'),
    idleCollect: opt('idle_collect', t.byteSize(), '16M',
      'Once the JavaScript heap and buffers have grown by this much since the last full collection, lafsd collects them when the last open session ends (at most once a second) and when the event loop has been idle for a second (then idle buffers kept for reuse, the SFTP input slabs and the sealer\'s spare segments, are let go and count too, and the collection compacts the heap, 10-55 ms); a second later, if still idle, it hands the freed memory back to the system (glibc\'s malloc_trim, 5-20 ms). While busy, once the heap alone has grown by twice this much, it collects without compacting (10-20 ms, at most once a second), so a long burst of small requests does not fill the heap with garbage. So a long-running server gives back what a burst of transfers left instead of carrying it into the next. 0 turns it off.'),
    maxFileSize: opt('max_file_size', t.byteSize({ min: 1 }), '100G',
      'Largest file a client may create: a write, truncate or resume beyond it is refused before any work (SFTP failure "file too large", FTP 552). Raise it for bigger files.'),
    // Garbage collection of the embedded store (`lafsd gc`; src/grid/embedded/gc.ts).
    gcGracePeriod: opt('gc.grace_period', t.duration({ minMs: 1000 }), '168h',
      'Garbage collection deletes unreachable data only when it was last stored, linked or uploaded again longer ago than this. It protects uploads not linked yet, the directory of an account being added and caps about to be linked again; a week, so that slow clients and clock corrections never lose anything. Space of replaced and deleted files comes back this long after.'),
    gcInterval: opt('gc.interval', t.duration({ minMs: 1000 }), undefined,
      'Run garbage collection inside `lafsd run` this often (e.g. `24h`; the next run is due this long after the last one finished). Unset: only `lafsd gc` collects. Off by default because deleting is final: first make sure every cap handed out without a link is in `gc.keep_file`. Embedded store only.'),
    gcAccountRootRetention: opt('gc.account_root_retention', t.duration({ minMs: 1000, maxMs: 10 * 365 * 86_400_000 }), '2160h',
      'With `accounts.url`, garbage collection keeps each root cap the account service answered for this long (90 days) after that user\'s last login; lafsd records them in `private/account-service-roots`. Until roots have been recorded for this long, gc refuses to run, since it cannot know every account yet.'),
    gcKeepFile: opt('gc.keep_file', t.path, 'private/gc-keep',
      'Caps that garbage collection keeps, with everything they reach: one per line, `#` starts a comment. `lafsd put` and `lafsd mkdir` without a path add the cap they print (unless `--no-keep`). Caps are secrets: keep this file private.'),
    metrics: opt('metrics', t.endpoint, undefined,
      'HTTP listener for Prometheus metrics (`/metrics`) and health checks (`/healthz`, `/readyz`), e.g. `tcp:9464:interface=127.0.0.1`; unset: off. It needs no login and shows counts and sizes (never names, paths, addresses or caps): keep it on 127.0.0.1 or a private network.'),
  },
  sftpd: {
    enabled: opt('enabled', t.boolean, 'false',
      'Run the SFTP server; it then needs `host_privkey_file` and `accounts.file` or `accounts.url`.'),
    port: opt('port', t.endpoint, 'tcp:8022:interface=127.0.0.1',
      'Address to listen on (`tcp:PORT[:interface=ADDR]` or `tcp6:...`); the default accepts connections from this machine only.'),
    hostPubkeyFile: opt('host_pubkey_file', t.path, undefined,
      'OpenSSH public host key file; optional, since it can be derived from the private key, but it must exist when given.'),
    hostPrivkeyFile: opt('host_privkey_file', t.path, undefined,
      'OpenSSH private host key file (no passphrase); required when SFTP is enabled. `lafsd init` creates one.'),
    accountsFile: opt('accounts.file', t.path, undefined,
      'Accounts file: `NAME PASSWORD ROOTCAP [OPTION…]` or `NAME KEYTYPE BASE64 [comment] ROOTCAP [OPTION…]` lines (options: `quota=SIZE`, `quota_files=N`). SFTP needs this or `accounts.url`.'),
    accountsUrl: opt('accounts.url', t.url, undefined,
      'Account server that decides logins not found in `accounts.file` (HTTP POST; answers a root cap or `0`); its timeout and cache are set once for both frontends in `[auth]`.'),
  },
  ftpd: {
    enabled: opt('enabled', t.boolean, 'false',
      'Run the FTP server; it then needs `accounts.file` or `accounts.url`. FTP sends passwords and data in clear text unless the client uses FTPS.'),
    port: opt('port', t.endpoint, 'tcp:8021:interface=127.0.0.1',
      'Address of the control connection (`tcp:PORT[:interface=ADDR]` or `tcp6:...`); the default accepts connections from this machine only.'),
    accountsFile: opt('accounts.file', t.path, undefined,
      'Accounts file (same format as for SFTP; key lines do not apply to FTP). FTP needs this or `accounts.url`.'),
    accountsUrl: opt('accounts.url', t.url, undefined,
      'Account server that decides logins not found in `accounts.file`; its timeout and cache are set in `[auth]`.'),
    passivePorts: opt('passive_ports', t.portRange, undefined,
      'Ports for passive-mode data connections, `LOW-HIGH` within 1024-65535 (open them in the firewall); unset means any free port.'),
    passiveAddress: opt('passive_address', t.ipAddress, undefined,
      'Address announced to clients in PASV replies, for servers behind NAT; unset means the address the client connected to.'),
    tls: opt('tls', t.oneOf('off', 'optional', 'required'), undefined,
      'FTPS on `port`: `off`; `optional` (clients may switch to TLS with AUTH TLS); `required` (USER/PASS are refused before AUTH TLS and data connections must use PROT P). Unset: `optional` when `tls_cert_file` is set, else `off`.'),
    tlsCertFile: opt('tls_cert_file', t.path, undefined,
      'PEM certificate (chain) for FTPS; needs `tls_key_file`. `lafsd init` creates a self-signed pair.'),
    tlsKeyFile: opt('tls_key_file', t.path, undefined,
      'PEM private key of `tls_cert_file`, without a passphrase; keep it readable by the node only.'),
    tlsRequireSessionReuse: opt('tls_require_session_reuse', t.boolean, 'true',
      'A protected data connection must resume the TLS session of its own control connection, so nobody else can take it (as vsftpd `require_ssl_reuse`); clients that cannot (Python ftplib `FTP_TLS`, rclone with more than one connection) get 522 and need `false`, which leaves passive data connections checked by client address only, as in plain FTP.'),
    implicitPort: opt('implicit_port', t.endpoint, undefined,
      'Address of an implicit-FTPS listener (TLS from the first byte, traditionally port 990), e.g. `tcp:8990:interface=127.0.0.1`; needs `tls_cert_file`. Unset: no implicit FTPS.'),
    idleTimeout: opt('idle_timeout', t.duration({ minMs: 10_000 }), undefined,
      'A logged-in FTP connection with no command and no transfer for this long is closed (`30s`, `10m`, `1h`; default 10m).'),
    dataTimeout: opt('data_timeout', t.duration({ minMs: 1000, maxMs: 600_000 }), undefined,
      'Longest wait for a data connection to be set up (passive accept, active connect, TLS handshake); an unused passive port closes after it (default 30s).'),
  },
  // Logins of both frontends: one section, so SFTP and FTP share one defender, one account-service
  // client and one set of limits (these keys are not accepted in [sftpd] or [ftpd]).
  auth: {
    passwordHash: opt('password_hash', t.oneOf('scrypt', 'argon2id', 'bcrypt'), 'scrypt',
      'Hash that `lafsd add-user` and `lafsd passwd` write: scrypt (ln=15,r=8,p=1, 32 MiB) costs 63-160 ms of CPU per login (it is bound by memory speed), argon2id (m=32 MiB, t=8) 54-70 ms, bcrypt (cost 10) ~60 ms; existing hashes of every kind, and plain passwords, keep working.'),
    accountsWatch: opt('accounts.watch', t.boolean, 'true',
      'Reload the accounts file when it changes (SIGHUP always reloads); a broken file keeps the previous accounts and the error is logged with file and line.'),
    passwordCacheTtl: opt('password_cache_ttl', t.duration({ maxMs: 86_400_000 }), '15m',
      'How long a password that `accounts.file` verified is remembered, so the same user logging in again with it (FTP clients connect once per transfer) skips the hash (63-160 ms of CPU and 32 MiB for scrypt). Only an HMAC under a per-process key is kept, never the password; a reload of the file forgets them all, so a changed password takes effect at once; 0 disables the cache.'),
    passwordCacheSize: opt('password_cache_size', t.integer({ max: 1_000_000 }), '1000',
      'Most verified passwords remembered.'),
    urlTimeout: opt('accounts.url.timeout', t.duration({ minMs: 1000, maxMs: 300_000 }), '10s',
      'Time allowed for the account service (`accounts.url`) to answer, redirects included; no answer in time refuses the login.'),
    urlCacheTtl: opt('accounts.url.cache_ttl', t.duration({ maxMs: 86_400_000 }), '60s',
      'How long a successful account-service answer is reused for the same user, password and client address, so a password change at the service takes effect within this time; 0 disables the cache.'),
    urlCacheSize: opt('accounts.url.cache_size', t.integer({ max: 1_000_000 }), '1000',
      'Most account-service answers kept in the cache.'),
    urlMaxRedirects: opt('accounts.url.max_redirects', t.number({ integer: true, max: 10 }), '3',
      'Same-host redirects of the account service followed; a redirect to another host always refuses the login.'),
    maxAuthTries: opt('max_auth_tries', t.integer({ max: 100 }), '6',
      'Failed logins allowed on one SFTP or FTP connection before it is closed (scored as too_many_attempts).'),
    loginGraceTime: opt('login_grace_time', t.duration({ minMs: 1000, maxMs: 3_600_000 }), '120s',
      'Time from connect to a successful login before the connection is closed (scored as grace_timeout).'),
    proxyProtocol: opt('proxy_protocol', t.ipAddressList, undefined,
      'Addresses of TCP load balancers (HAProxy `send-proxy` or `send-proxy-v2`) in front of the SFTP and FTP ports and FTP\'s passive ports: their connections must start with a PROXY protocol header (v1 or v2), whose client address then counts for the defender, the per-address limits, the logs and FTP\'s data-connection checks. Other addresses connect directly. Unset: no balancer.'),
    maxStartups: opt('max_startups', t.maxStartups, '10:30:100',
      'Connections not yet logged in, in total, as OpenSSH MaxStartups: from `start` on, new ones are refused with probability `rate`%, rising to 100% at `full`; a single number is a hard limit.'),
    maxStartupsPerAddress: opt('max_startups_per_address', t.integer({ max: 100_000 }), '10',
      'Connections not yet logged in from one client address (IPv6: one network of `defender.ipv6_prefix` bits).'),
    maxConnectionsPerAddress: opt('max_connections_per_address', t.number({ integer: true, max: 1_000_000 }), '20',
      'Connections open at once from one client address (IPv6: one network of `defender.ipv6_prefix` bits), logged in or not, SFTP and FTP together (FTP data connections not counted); one more is closed at once (SSH: before the banner; FTP: `421 There are too many connections from your address`). 20, as SFTPGo; raise it for many users behind one NAT address. 0: no limit.'),
    maxConnections: opt('max_connections', t.number({ integer: true, max: 10_000_000 }), '0',
      'Connections open at once in total, logged in or not, SFTP and FTP together; one more is closed at once (FTP: `421 There are too many connected users`). 0: no limit.'),
    defenderEnabled: opt('defender.enabled', t.boolean, 'true',
      'Score login failures per client address and ban addresses that reach the threshold; the connection limits apply either way.'),
    defenderThreshold: opt('defender.threshold', t.number({ min: 1, max: 1_000_000 }), '15',
      'Score within `defender.observation_time` that bans an address.'),
    defenderObservationTime: opt('defender.observation_time', t.duration({ minMs: 1000 }), '10m',
      'Failures older than this no longer count towards a ban.'),
    defenderBanTime: opt('defender.ban_time', t.duration({ minMs: 1000 }), '5m',
      'Length of a first ban; a banned address is disconnected before any SSH key exchange or FTP greeting, and a correct password does not lift a ban.'),
    defenderBanTimeMultiplier: opt('defender.ban_time_multiplier', t.number({ min: 1, max: 100 }), '2',
      'Each repeat ban (within `defender.offence_memory` of the previous one) lasts this many times longer.'),
    defenderBanTimeMax: opt('defender.ban_time_max', t.duration({ minMs: 1000 }), '1h',
      'Longest ban, however often an address offends; at least `defender.ban_time`.'),
    defenderOffenceMemory: opt('defender.offence_memory', t.duration({ minMs: 1000 }), '24h',
      'How long a past ban makes the next one a repeat.'),
    scoreBadPassword: opt('defender.score.bad_password', t.number({ max: 1000 }), '3',
      'Score of a refused password; a login as a user that does not exist scores the same, since the frontends do not tell the two apart.'),
    scoreUnknownUser: opt('defender.score.unknown_user', t.number({ max: 1000 }), '3',
      'Score of a login as a user that does not exist, for frontends that report it separately (SFTP and FTP score it as bad_password).'),
    scoreBadKey: opt('defender.score.bad_key', t.number({ max: 1000 }), '1',
      'Score of an SSH connection whose offered public keys were all refused (counted once per connection).'),
    scoreGraceTimeout: opt('defender.score.grace_timeout', t.number({ max: 1000 }), '2',
      'Score of a connection that did not log in within `login_grace_time`.'),
    scoreTooManyAttempts: opt('defender.score.too_many_attempts', t.number({ max: 1000 }), '5',
      'Score of a connection closed after `max_auth_tries` failures (on top of the failures themselves).'),
    scoreProtocolError: opt('defender.score.protocol_error', t.number({ max: 1000 }), '1',
      'Score of a connection that broke the protocol before logging in.'),
    defenderMaxHosts: opt('defender.max_hosts', t.integer({ max: 10_000_000 }), '10000',
      'Most client addresses tracked (scores and bans); when full, idle entries go first and active bans last.'),
    defenderIpv6Prefix: opt('defender.ipv6_prefix', t.integer({ max: 128 }), '64',
      'IPv6 clients are scored, banned and limited per network of this prefix length (128: per address); IPv4-mapped IPv6 addresses count as their IPv4 address.'),
  },
} as const;

export type Schema = typeof SCHEMA;
export type SectionName = keyof Schema;

type ValueOf<O> = O extends OptionSpec<infer T> ? T : never;
type Simplify<T> = { [K in keyof T]: T[K] } & {};

/** A section's typed values: keys with a default are always present, the others optional. */
export type SectionConfig<S> = Simplify<
  { [P in keyof S as S[P] extends OptionSpec<unknown, true> ? P : never]: ValueOf<S[P]> } & {
    [P in keyof S as S[P] extends OptionSpec<unknown, true> ? never : P]?: ValueOf<S[P]>;
  }
>;

export type SchemaConfig = { [S in SectionName]: SectionConfig<Schema[S]> };

/** Finds the line of a key (or of its section) for error messages. */
export type LineOf = (section: SectionName, key?: string) => number | undefined;

// Rules that involve more than one key. Each returns problems in the usual `[section] key:` form.
export function crossKeyProblems(cfg: SchemaConfig, lineOf: LineOf, context: { hasNodeUrl?: boolean } = {}): Problem[] {
  const out: Problem[] = [];
  const at = (section: SectionName, key: string) => lineOf(section, key) ?? lineOf(section);

  if (cfg.lafsd.grid === 'webapi' && cfg.lafsd.gcInterval !== undefined) {
    out.push({
      line: at('lafsd', 'gc.interval'),
      message: '[lafsd] gc.interval: garbage collection is for grid = embedded; on a Tahoe-LAFS grid, Tahoe\'s own lease-based garbage collection applies',
    });
  }
  if (cfg.lafsd.grid === 'webapi' && cfg.lafsd.webapiUrl === undefined && !context.hasNodeUrl) {
    out.push({ line: at('lafsd', 'grid'), message: '[lafsd] webapi.url: required when grid = webapi' });
  }
  if (cfg.lafsd.webapiTimeout > cfg.lafsd.webapiWriteTimeout) {
    out.push({ line: at('lafsd', 'webapi.write_timeout'), message: '[lafsd] webapi.write_timeout: must be at least webapi.timeout' });
  }
  for (const section of ['sftpd', 'ftpd'] as const) {
    const s = cfg[section];
    if (s.enabled && s.accountsFile === undefined && s.accountsUrl === undefined) {
      out.push({
        line: at(section, 'enabled'),
        message: `[${section}] enabled: must provide accounts.file or accounts.url`,
      });
    }
  }
  if (cfg.auth.defenderBanTimeMax < cfg.auth.defenderBanTime) {
    out.push({
      line: lineOf('auth', 'defender.ban_time_max') ?? at('auth', 'defender.ban_time'),
      message: '[auth] defender.ban_time_max: must be at least defender.ban_time',
    });
  }
  const ftp = cfg.ftpd;
  const ftpCert = ftp.tlsCertFile !== undefined;
  if (ftpCert !== (ftp.tlsKeyFile !== undefined)) {
    out.push({ line: at('ftpd', ftpCert ? 'tls_cert_file' : 'tls_key_file'), message: '[ftpd] tls_cert_file, tls_key_file: set both or neither' });
  }
  if (!ftpCert && (ftp.tls === 'optional' || ftp.tls === 'required')) {
    out.push({ line: at('ftpd', 'tls'), message: `[ftpd] tls: ${ftp.tls} needs tls_cert_file and tls_key_file (\`lafsd init\` creates a self-signed pair)` });
  }
  if (ftp.implicitPort !== undefined && (!ftpCert || ftp.tls === 'off')) {
    out.push({ line: at('ftpd', 'implicit_port'), message: '[ftpd] implicit_port: implicit FTPS needs tls_cert_file and tls_key_file, and tls not off' });
  }
  out.push(...sharedListenerProblems(cfg, at));
  if (cfg.sftpd.enabled && cfg.sftpd.hostPrivkeyFile === undefined) {
    out.push({
      line: at('sftpd', 'enabled'),
      message: '[sftpd] host_privkey_file: required when enabled = true (the SSH host key; `lafsd init` creates one)',
    });
  }
  return out;
}

/** The listeners a node would open, in config order: [section, key, endpoint]. */
export function listenerEndpoints(cfg: SchemaConfig): [SectionName, string, Endpoint][] {
  const out: [SectionName, string, Endpoint][] = [];
  if (cfg.lafsd.metrics) out.push(['lafsd', 'metrics', cfg.lafsd.metrics]);
  if (cfg.sftpd.enabled) out.push(['sftpd', 'port', cfg.sftpd.port]);
  if (cfg.ftpd.enabled) out.push(['ftpd', 'port', cfg.ftpd.port]);
  if (cfg.ftpd.enabled && cfg.ftpd.implicitPort) out.push(['ftpd', 'implicit_port', cfg.ftpd.implicitPort]);
  return out;
}

// Two enabled listeners on one port of one address (or of all addresses) cannot both start.
function sharedListenerProblems(cfg: SchemaConfig, at: (section: SectionName, key: string) => number | undefined): Problem[] {
  const out: Problem[] = [];
  const seen: [SectionName, string, Endpoint][] = [];
  const wildcard = (host: string) => host === '0.0.0.0' || host === '::';
  for (const [section, key, ep] of listenerEndpoints(cfg)) {
    const clash = ep.port !== 0 && seen.find(([, , o]) => o.port === ep.port && (o.host === ep.host || wildcard(o.host) || wildcard(ep.host)));
    if (clash) out.push({ line: at(section, key), message: `[${section}] ${key}: port ${ep.port} is also [${clash[0]}] ${clash[1]}; give each listener its own port` });
    seen.push([section, key, ep]);
  }
  return out;
}

// Sections of a real Tahoe-LAFS node's tahoe.cfg (client, storage, introducer or helper node,
// old and new releases). They are accepted and ignored so that `lafsd run` works on an existing
// Tahoe node directory.
export const TAHOE_SECTIONS: readonly string[] = [
  'node', 'client', 'storage', 'helper', 'connections', 'tor', 'i2p', 'http',
  'magic_folder', 'drop_upload', 'grid_managers', 'grid_manager_certificates',
];
export const TAHOE_SECTION_PREFIXES: readonly string[] = ['storageclient.plugins.', 'storageserver.plugins.'];

export function isTahoeSection(name: string): boolean {
  return TAHOE_SECTIONS.includes(name) || TAHOE_SECTION_PREFIXES.some((p) => name.startsWith(p));
}
