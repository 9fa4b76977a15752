// Wires a node together: the node lock → config → grid → account sources and defence → the
// enabled frontends, and the metrics and health listener when configured. Owns start, reload
// (SIGHUP) and a clean stop (SIGTERM): no new sessions, files that were never closed link
// nothing, the grid is closed after the frontends, and the lock is released last.
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { LoginDefender, authOptions, sameQuota, type Account, type Defender, type LoginObserver, type Protocol } from '../auth/index.js';
import type { Endpoint, NodeConfig } from '../config/index.js';
import type { Grid } from '../grid/index.js';
import { EmbeddedGrid, runBufferCounts } from '../grid/embedded/index.js';
import { lockDirs, lockedDirs } from '../node/lock.js';
import { openGrid } from '../node/nodedir.js';
import { ftpSettings, startFtpServer, type RunningFtpServer } from '../ftp/index.js';
import { loadHostKeys, startSshServer, type RunningSshServer } from '../ssh/index.js';
import { runSftpSession } from '../sftp/session.js';
import { VERSION } from '../util/version.js';
import { AccountUsage, ChangeActivity, countTree, ListingBudget, OpenFiles, VfsSession, type AuditEvent, type VfsSessionOptions } from '../vfs/index.js';
import { serviceRootsPath } from '../node/service-roots.js';
import { AccountSources } from './accounts.js';
import { MemoryBudget } from '../util/memory-budget.js';
import { scheduleGc } from './gc-schedule.js';
import { ServiceRootRecorder } from './service-root-recorder.js';
import type { Logger } from './log.js';
import { DEFAULT_IDLE_COLLECTION, startIdleCollection } from '../util/idle-collection.js';
import { MALLOC_TRIM_ADDON, mallocTrimAvailable } from '../util/malloc-trim.js';
import { POOL_SLEEP_ADDON, poolSleepAvailable } from '../util/pool-sleep.js';
import { TCP_QUICKACK_ADDON, quickAckAvailable } from '../util/tcp-quickack.js';
import type { Metrics, StoreFigures } from './metrics.js';
import { sampled } from '../util/sampled.js';
import { startStatusServer, type RunningStatusServer } from './status-http.js';
import { ProxyTrust } from '../util/proxy-protocol.js';
import { withTimeout } from '../util/timeout.js';

/** [auth] max_auth_tries and login_grace_time, enforced per connection by both frontends. */
interface LoginLimits {
  maxAuthTries: number;
  loginGraceMs: number;
}

export interface RunningServer {
  grid: Grid;
  sftp?: { host: string; port: number };
  ftp?: { host: string; port: number };
  /** The metrics and health listener, when `[lafsd] metrics` is set. */
  metrics?: { host: string; port: number };
  /** Stops everything; resolves when all connections are closed and the grid is closed. */
  close(): Promise<void>;
  /** Re-reads the accounts files (SIGHUP). */
  reload(): Promise<void>;
}

/** A vfs session that tells its factory when it ends (the factory counts open sessions). */
class TrackedSession extends VfsSession {
  constructor(options: VfsSessionOptions, private readonly onEnded: () => void) {
    super(options);
  }

  override async close(): Promise<void> {
    try {
      await super.close();
    } finally {
      this.onEnded();
    }
  }
}

/** Makes the vfs session of a login: one place, shared by every frontend. */
export class SessionFactory {
  readonly openFiles = new OpenFiles();
  /** Changes under way and which sessions made them lately: the embedded store shares its syncs while there are several. */
  readonly changes = new ChangeActivity();
  /** Quota usage per account (and root), shared by all sessions of that account. */
  private readonly usage = new Map<string, AccountUsage>();
  /** Transfer data in memory, for all sessions of the process together (util/memory-budget.ts). */
  readonly memory: MemoryBudget;
  private readonly sessions = new Set<{ protocol: Protocol; session: VfsSession }>();
  /** Directory entries that open directory handles of all sessions may hold. */
  private readonly listings = new ListingBudget();
  /** Told each time the last open session ends. */
  allEnded: (() => void) | undefined;

  constructor(
    private readonly grid: Grid,
    private readonly spillDir: string,
    private readonly logger: Logger,
    private readonly maxFileSize: number,
    /** [lafsd] transfer_memory: the budget all sessions made here share. */
    transferMemory: number,
    /** Also told every audit event (metrics). */
    private readonly onAudit?: (protocol: Protocol, event: AuditEvent) => void,
  ) {
    this.memory = new MemoryBudget(transferMemory);
  }

  open(account: Account, protocol: Protocol, remoteAddress: string): VfsSession {
    const log = this.logger.child({ user: account.username, protocol, remote: remoteAddress });
    const usage = this.usageOf(account);
    const options: VfsSessionOptions = {
      grid: this.grid,
      rootCap: account.rootCap,
      username: account.username,
      openFiles: this.openFiles,
      changes: this.changes,
      spillDir: this.spillDir,
      limits: { maxFileSize: this.maxFileSize, ...(usage ? { usage } : {}) },
      memory: this.memory.share(),
      listings: this.listings.share(),
      audit: (event) => {
        log.info(event, event.op);
        this.onAudit?.(protocol, event);
      },
    };
    const entry = { protocol, session: undefined as unknown as VfsSession };
    entry.session = new TrackedSession(options, () => {
      this.sessions.delete(entry);
      if (this.sessions.size === 0) this.allEnded?.();
    });
    this.sessions.add(entry);
    return entry.session;
  }

  /** Sessions open now, with how many files each has open. */
  *live(): Iterable<{ frontend: Protocol; openFiles: number }> {
    for (const { protocol, session } of this.sessions) yield { frontend: protocol, openFiles: session.openFileCount };
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

/** What the frontends report to (metrics), when metrics are on. */
interface FrontendHooks {
  defender: Defender;
  onLogin?: LoginObserver;
}

export async function startServer(config: NodeConfig, logger: Logger): Promise<RunningServer> {
  // One server per node and store: refuses at once, naming the PID of the one already running.
  const lock = lockDirs(lockedDirs(config.basedir, config.lafsd.grid === 'embedded' ? config.lafsd.storeDir : undefined));
  // A Tahoe-LAFS node that does not answer yet does not stop the servers: clients get clear
  // errors until it does, and the log says when it is ready.
  const gridLog = logger.child({ component: 'grid' });
  let unavailableLogged = false;
  let rawGrid: Grid;
  try {
    rawGrid = await openGrid(config, {
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
  } catch (err) {
    lock.release();
    throw err;
  }
  // prom-client (and the OpenTelemetry API it loads) is imported only when metrics are on: ~60
  // modules that made an idle `lafsd run` without metrics 2 MiB larger (67.0-67.2 MiB against
  // 65.2-65.5 on Node 20).
  const metrics = config.lafsd.metrics ? new (await import('./metrics.js')).Metrics(config.lafsd.grid, { version: VERSION }) : undefined;
  const grid = metrics ? metrics.grid(rawGrid) : rawGrid;
  const spillDir = join(config.basedir, 'tmp');
  // Temporary files of a previous run are ciphertext under keys that died with it: remove them.
  await fsp.rm(spillDir, { recursive: true, force: true });
  await fsp.mkdir(spillDir, { recursive: true, mode: 0o700 });
  const sessions = new SessionFactory(grid, spillDir, logger, config.lafsd.maxFileSize, config.lafsd.transferMemory, metrics && ((p, e) => metrics.audit(p, e)));
  // A commit syncs on the event loop only while it is the only change under way (group-sync.ts).
  if (rawGrid instanceof EmbeddedGrid) rawGrid.shareSyncsWhile(() => !sessions.changes.alone);
  // [auth] applies to both frontends: one defender (a ban covers SFTP and FTP), one set of limits.
  const auth = authOptions(config.auth);
  const recorder = await serviceRootRecorder(config, rawGrid, logger).catch(async (err) => {
    await grid.close();
    throw err;
  });
  const sources = new AccountSources(
    logger.child({ component: 'accounts' }), auth.url, { watch: auth.watchAccountsFile, ...auth.file }, (s) => recorder?.wrap(s) ?? s,
  );
  const defender = new LoginDefender({ ...auth.defender, logger: logger.child({ component: 'defender' }) });
  const loginLimits = { maxAuthTries: auth.maxAuthTries, loginGraceMs: auth.loginGraceMs };
  const hooks = (frontend: Protocol): FrontendHooks =>
    metrics ? { defender: metrics.defender(defender, frontend), onLogin: metrics.loginObserver(frontend) } : { defender };
  const proxy = new ProxyTrust(auth.proxyProtocolFrom);
  const stops: (() => Promise<void>)[] = [];
  let state: 'starting' | 'ready' | 'stopping' = 'starting';
  let status: RunningStatusServer | undefined;
  let closed: Promise<void> | undefined;
  const running: RunningServer = {
    grid,
    close: () =>
      (closed ??= (async () => {
        state = 'stopping';
        for (const stop of stops.reverse()) await stop().catch((err) => logger.error({ err }, 'error while stopping'));
        await sources.close();
        await grid.close();
        await fsp.rm(spillDir, { recursive: true, force: true });
        await status?.close();
        lock.release();
      })()),
    reload: async () => {
      // A broken file was logged with its file:line by the file source, which keeps the old accounts.
      if (await sources.reload()) logger.info({}, 'accounts reloaded');
      else logger.warn({}, 'accounts not reloaded; the previous accounts stay in effect');
    },
  };
  try {
    const gc = scheduleGc(config, rawGrid, logger);
    if (gc) stops.push(() => gc.stop());
    if (config.lafsd.idleCollect > 0) {
      if (!mallocTrimAvailable()) {
        logger.info({ addon: MALLOC_TRIM_ADDON }, 'malloc_trim addon not built (npm install builds it): memory freed after a burst goes back to the system only as glibc decides');
      }
      const idle = startIdleCollection(
        {
          collected: ({ why, ms, before, after }) =>
            logger.debug(
              { ms: Math.round(ms), beforeMiB: mib(before), afterMiB: mib(after) },
              why === 'idle' ? 'idle: heap collected' : why === 'busy' ? 'busy: heap collected, it had grown' : 'all sessions ended: heap collected',
            ),
          released: ({ ms, gave, rssBefore, rssAfter }) =>
            logger.debug({ ms: Math.round(ms), gave, rssBeforeMiB: mib(rssBefore), rssAfterMiB: mib(rssAfter) }, 'idle: free memory returned'),
        },
        { ...DEFAULT_IDLE_COLLECTION, growthBytes: config.lafsd.idleCollect, busyGrowthBytes: 2 * config.lafsd.idleCollect },
      );
      sessions.allEnded = () => idle.sessionsEnded();
      stops.push(async () => idle.stop());
    }
    if (metrics && config.lafsd.metrics) {
      metrics.watchSessions(() => sessions.live());
      metrics.watchTransferMemory(sessions.memory);
      metrics.watchDefender(defender);
      if (rawGrid instanceof EmbeddedGrid) {
        metrics.watchStore(storeFigures(rawGrid));
        metrics.watchReadBuffers(runBufferCounts);
        metrics.watchLogSyncs(() => rawGrid.logSyncs());
      }
      status = await startStatus(config.lafsd.metrics, metrics, rawGrid, () => state, logger.child({ component: 'metrics' }));
      running.metrics = status.address;
    }
    if (config.sftpd.enabled) {
      if (!quickAckAvailable()) {
        logger.info({ addon: TCP_QUICKACK_ADDON }, 'TCP_QUICKACK addon not built (npm install builds it): SFTP clients that keep Nagle on (paramiko, ssh2) wait up to 40 ms on each WRITE larger than their packets');
      }
      const ssh = await startSftp(config, grid, sessions, sources, hooks('sftp'), loginLimits, proxy, logger.child({ frontend: 'sftp' }));
      stops.push(() => ssh.close());
      running.sftp = ssh.address;
    }
    if (config.ftpd.enabled) {
      if (!poolSleepAvailable()) {
        logger.info({ addon: POOL_SLEEP_ADDON }, 'pool-sleep addon not built (npm install builds it): FTP clients on this host get their passive answers 2 ms late instead of 0.5 ms');
      }
      const ftp = await startFtp(config, sessions, sources, hooks('ftp'), loginLimits, proxy, logger.child({ frontend: 'ftp' }));
      stops.push(() => ftp.close());
      running.ftp = ftp.address;
    }
  } catch (err) {
    await running.close();
    throw err;
  }
  state = 'ready';
  return running;
}

/** With an account service and the embedded store: record the roots it answers, for gc. */
async function serviceRootRecorder(config: NodeConfig, grid: Grid, logger: Logger): Promise<ServiceRootRecorder | undefined> {
  if (!(grid instanceof EmbeddedGrid)) return undefined;
  if (config.sftpd.accountsUrl === undefined && config.ftpd.accountsUrl === undefined) return undefined;
  return ServiceRootRecorder.open(
    serviceRootsPath(config.basedir), config.lafsd.gcAccountRootRetention, (cap) => grid.noteInUse(cap), logger.child({ component: 'gc' }),
  );
}

/** The metrics and health listener; ready once the server is, and while the backend answers. */
function startStatus(
  ep: Endpoint, metrics: Metrics, grid: Grid, state: () => 'starting' | 'ready' | 'stopping', logger: Logger,
): Promise<RunningStatusServer> {
  const probe = readinessProbe(grid);
  return startStatusServer({
    host: ep.host,
    port: ep.port,
    ...(ep.backlog !== undefined ? { backlog: ep.backlog } : {}),
    logger,
    source: {
      metrics: () => metrics.scrape(),
      readiness: async () => {
        const now = state();
        if (now !== 'ready') return now === 'starting' ? 'starting: the listeners are not bound yet' : 'stopping';
        return probe();
      },
    },
  });
}

/** Longest wait for the store or the Tahoe node before /readyz says it is not reachable. */
const READINESS_TIMEOUT_MS = 5_000;

/**
 * Whether the backend answers: the embedded store's filesystem (statfs of its folder), or the
 * Tahoe node's welcome page (GET /?t=json). Calls made while one is running share its answer.
 */
function readinessProbe(grid: Grid): () => Promise<string | undefined> {
  // Duck-typed: the web-API module (and its HTTP client) is only loaded when it is used.
  const webapi = 'probe' in grid && typeof grid.probe === 'function' ? (grid as Grid & { probe(): Promise<void> }) : undefined;
  const check = webapi ? () => webapi.probe() : () => grid.diskUsage().then(() => undefined);
  const what = webapi ? 'the Tahoe-LAFS node (web-API)' : 'the embedded store';
  let running: Promise<string | undefined> | undefined;
  return () =>
    (running ??= (async () => {
      try {
        await withTimeout(check(), READINESS_TIMEOUT_MS, () => new Error(`no answer within ${READINESS_TIMEOUT_MS / 1000} s`));
        return undefined;
      } catch (err) {
        return `${what} is not reachable: ${(err as Error).message}`;
      } finally {
        running = undefined;
      }
    })());
}

/** The store gauges: free space at every scrape; the store's contents, sampled. */
function storeFigures(grid: EmbeddedGrid): () => Promise<StoreFigures> {
  const contents = sampled(() => grid.contents());
  return async () => {
    const [usage, held] = await Promise.all([grid.diskUsage(), contents()]);
    return { freeBytes: usage.availableBytes, sizeBytes: held.bytes, objects: held.objects };
  };
}

async function startSftp(
  config: NodeConfig, grid: Grid, sessions: SessionFactory, sources: AccountSources, hooks: FrontendHooks,
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
    ...hooks,
    limits: loginLimits,
    ...(proxy.enabled ? { proxy } : {}),
    // What clients may send unasked counts against the same budget as what sessions hold.
    windowMemory: config.lafsd.transferMemory,
    logger,
    onSftp: (channel, info) => {
      const vfs = sessions.open(info.account, 'sftp', info.remoteAddress);
      runSftpSession(channel, vfs, {
        cork: info.cork,
        uncork: info.uncork,
        end: info.endChannel,
        ...(info.windowGate ? { inputGate: info.windowGate } : {}),
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
  config: NodeConfig, sessions: SessionFactory, sources: AccountSources, hooks: FrontendHooks,
  loginLimits: LoginLimits, proxy: ProxyTrust, logger: Logger,
): Promise<RunningFtpServer> {
  const settings = await ftpSettings(config.ftpd); // listeners, TLS material, passive ports, timeouts
  return startFtpServer({
    ...settings,
    authenticator: await sources.authenticatorFor(config.ftpd),
    ...hooks,
    openSession: (account, remoteAddress) => sessions.open(account, 'ftp', remoteAddress),
    limits: { ...settings.limits, ...loginLimits },
    ...(proxy.enabled ? { proxy } : {}),
    logger,
  });
}

/** Bytes as MiB with one decimal, for logs. */
function mib(bytes: number): number {
  return Math.round(bytes / 104_857.6) / 10;
}
