// Wires a node together: config → grid → account sources and defence → the enabled frontends.
// Owns start, reload (SIGHUP) and a clean stop (SIGTERM): no new sessions, files that were
// never closed link nothing, and the grid is closed last.
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { LoginDefender, authOptions, sameQuota, type Account, type Protocol } from '../auth/index.js';
import type { NodeConfig } from '../config/index.js';
import type { Grid } from '../grid/index.js';
import { openGrid } from '../node/nodedir.js';
import { ftpSettings, startFtpServer, type RunningFtpServer } from '../ftp/index.js';
import { loadHostKeys, startSshServer, type RunningSshServer } from '../ssh/index.js';
import { runSftpSession } from '../sftp/session.js';
import { AccountUsage, countTree, DEFAULT_MAX_FILE_SIZE, OpenFiles, VfsSession } from '../vfs/index.js';
import { AccountSources } from './accounts.js';
import type { Logger } from './log.js';
import { ProxyTrust } from '../util/proxy-protocol.js';

/** [auth] max_auth_tries and login_grace_time, enforced per connection by both frontends. */
interface LoginLimits {
  maxAuthTries: number;
  loginGraceMs: number;
}

export interface RunningServer {
  grid: Grid;
  sftp?: { host: string; port: number };
  ftp?: { host: string; port: number };
  /** Stops everything; resolves when all connections are closed and the grid is closed. */
  close(): Promise<void>;
  /** Re-reads the accounts files (SIGHUP). */
  reload(): Promise<void>;
}

/** Makes the vfs session of a login: one place, shared by every frontend. */
export class SessionFactory {
  readonly openFiles = new OpenFiles();
  /** Quota usage per account (and root), shared by all sessions of that account. */
  private readonly usage = new Map<string, AccountUsage>();

  constructor(
    private readonly grid: Grid,
    private readonly spillDir: string,
    private readonly logger: Logger,
    private readonly maxFileSize: number = DEFAULT_MAX_FILE_SIZE,
  ) {}

  open(account: Account, protocol: Protocol, remoteAddress: string): VfsSession {
    const log = this.logger.child({ user: account.username, protocol, remote: remoteAddress });
    const usage = this.usageOf(account);
    return new VfsSession({
      grid: this.grid,
      rootCap: account.rootCap,
      username: account.username,
      openFiles: this.openFiles,
      spillDir: this.spillDir,
      limits: { maxFileSize: this.maxFileSize, ...(usage ? { usage } : {}) },
      audit: (event) => log.info(event, event.op),
    });
  }

  private usageOf(account: Account): AccountUsage | undefined {
    if (!account.quota) return undefined;
    const key = `${account.username}\0${account.rootCap}`;
    let usage = this.usage.get(key);
    // A new quota (accounts reloaded) starts a new count; holds of open files go with the old one.
    if (!usage || !sameQuota(usage.quota, account.quota)) {
      usage = new AccountUsage(account.quota, () => countTree(this.grid, account.rootCap));
      this.usage.set(key, usage);
    }
    return usage;
  }
}

export async function startServer(config: NodeConfig, logger: Logger): Promise<RunningServer> {
  // A Tahoe-LAFS node that does not answer yet does not stop the servers: clients get clear
  // errors until it does, and the log says when it is ready.
  const gridLog = logger.child({ component: 'grid' });
  let unavailableLogged = false;
  const grid = await openGrid(config, {
    background: {
      unavailable: (err, retryInMs) => {
        if (!unavailableLogged) gridLog.warn({ reason: err.message }, 'the Tahoe-LAFS node does not answer: serving, with errors for every operation, until it does');
        else gridLog.debug({ reason: err.message, retryInSeconds: retryInMs / 1000 }, 'the Tahoe-LAFS node still does not answer');
        unavailableLogged = true;
      },
      ready: () => gridLog.info({ url: config.lafsd.webapiUrl ?? config.nodeUrl }, 'Tahoe-LAFS node ready'),
      failed: (err) => gridLog.error({ reason: err.message }, 'the web-API URL does not lead to a Tahoe-LAFS node'),
    },
  });
  const spillDir = join(config.basedir, 'tmp');
  // Temporary files of a previous run are ciphertext under keys that died with it: remove them.
  await fsp.rm(spillDir, { recursive: true, force: true });
  await fsp.mkdir(spillDir, { recursive: true, mode: 0o700 });
  const sessions = new SessionFactory(grid, spillDir, logger, config.lafsd.maxFileSize);
  // [auth] applies to both frontends: one defender (a ban covers SFTP and FTP), one set of limits.
  const auth = authOptions(config.auth);
  const sources = new AccountSources(logger.child({ component: 'accounts' }), auth.url, auth.watchAccountsFile);
  const defender = new LoginDefender({ ...auth.defender, logger: logger.child({ component: 'defender' }) });
  const loginLimits = { maxAuthTries: auth.maxAuthTries, loginGraceMs: auth.loginGraceMs };
  const proxy = new ProxyTrust(auth.proxyProtocolFrom);
  const stops: (() => Promise<void>)[] = [];
  const running: RunningServer = {
    grid,
    close: async () => {
      for (const stop of stops.reverse()) await stop().catch((err) => logger.error({ err }, 'error while stopping'));
      await sources.close();
      await grid.close();
      await fsp.rm(spillDir, { recursive: true, force: true });
    },
    reload: async () => {
      // A broken file was logged with its file:line by the file source, which keeps the old accounts.
      if (await sources.reload()) logger.info({}, 'accounts reloaded');
      else logger.warn({}, 'accounts not reloaded; the previous accounts stay in effect');
    },
  };
  try {
    if (config.sftpd.enabled) {
      const ssh = await startSftp(config, grid, sessions, sources, defender, loginLimits, proxy, logger.child({ frontend: 'sftp' }));
      stops.push(() => ssh.close());
      running.sftp = ssh.address;
    }
    if (config.ftpd.enabled) {
      const ftp = await startFtp(config, sessions, sources, defender, loginLimits, proxy, logger.child({ frontend: 'ftp' }));
      stops.push(() => ftp.close());
      running.ftp = ftp.address;
    }
  } catch (err) {
    await running.close();
    throw err;
  }
  return running;
}

async function startSftp(
  config: NodeConfig, grid: Grid, sessions: SessionFactory, sources: AccountSources, defender: LoginDefender,
  loginLimits: LoginLimits, proxy: ProxyTrust, logger: Logger,
): Promise<RunningSshServer> {
  const s = config.sftpd;
  const hostKeys = await loadHostKeys(s.hostPrivkeyFile!, s.hostPubkeyFile);
  const authenticator = await sources.authenticatorFor(s);
  const server = await startSshServer({
    host: s.port.host,
    port: s.port.port,
    ...(s.port.backlog !== undefined ? { backlog: s.port.backlog } : {}),
    hostKeys,
    authenticator,
    defender,
    limits: loginLimits,
    ...(proxy.enabled ? { proxy } : {}),
    logger,
    onSftp: (channel, info) => {
      const vfs = sessions.open(info.account, 'sftp', info.remoteAddress);
      runSftpSession(channel, vfs, {
        cork: info.cork,
        uncork: info.uncork,
        end: info.endChannel,
        logger,
        logFields: { conn: info.connectionId, user: info.account.username },
      });
    },
    diskUsage: async () => {
      const d = await grid.diskUsage();
      return { totalKiB: Math.floor(d.totalBytes / 1024), usedKiB: Math.floor(d.usedBytes / 1024), availKiB: Math.floor(d.availableBytes / 1024) };
    },
  });
  return server;
}

async function startFtp(
  config: NodeConfig, sessions: SessionFactory, sources: AccountSources, defender: LoginDefender,
  loginLimits: LoginLimits, proxy: ProxyTrust, logger: Logger,
): Promise<RunningFtpServer> {
  const settings = await ftpSettings(config.ftpd); // listeners, TLS material, passive ports, timeouts
  return startFtpServer({
    ...settings,
    authenticator: await sources.authenticatorFor(config.ftpd),
    defender,
    openSession: (account, remoteAddress) => sessions.open(account, 'ftp', remoteAddress),
    limits: { ...settings.limits, ...loginLimits },
    ...(proxy.enabled ? { proxy } : {}),
    logger,
  });
}
