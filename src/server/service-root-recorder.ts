// Records the root cap of every login the account service (`accounts.url`) accepts, with the
// time, in private/account-service-roots (src/node/service-roots.ts), so that `lafsd gc` keeps
// the trees of users who logged in within the retention window. A root is rewritten at most
// once per refresh period; entries older than the retention window are dropped. After writing
// the file, the root is noted as in use in the store (src/grid/embedded/gc.ts, ROOTS), so a gc
// running at that moment either read the root or stops. Never fails a login; never logs a cap.
import type { Account, Authenticator } from '../auth/index.js';
import { readServiceRoots, writeServiceRoots, type ServiceRoots } from '../node/service-roots.js';
import type { Logger } from './log.js';

const MAX_REFRESH_MS = 3_600_000;

export class ServiceRootRecorder {
  private writing: Promise<void> = Promise.resolve();

  private constructor(
    private readonly path: string,
    private readonly roots: ServiceRoots,
    private readonly retentionMs: number,
    private readonly noteInUse: (cap: string) => Promise<void>,
    private readonly logger: Logger,
  ) {}

  /** Loads the file, or starts it: recording begins now (its `since`). */
  static async open(path: string, retentionMs: number, noteInUse: (cap: string) => Promise<void>, logger: Logger): Promise<ServiceRootRecorder> {
    let roots = await readServiceRoots(path);
    if (!roots) {
      roots = { since: Date.now(), lastSeen: new Map() };
      await writeServiceRoots(path, roots);
    }
    return new ServiceRootRecorder(path, roots, retentionMs, noteInUse, logger);
  }

  /** An authenticator that records the accounts `inner` (the account service) accepts. */
  wrap(inner: Authenticator): Authenticator {
    return {
      checkPassword: async (attempt, password) => {
        const account = await inner.checkPassword(attempt, password);
        if (account) await this.seen(account);
        return account;
      },
      findKey: (attempt, keyType, keyBlob) => inner.findKey(attempt, keyType, keyBlob),
    };
  }

  async seen(account: Account): Promise<void> {
    const now = Date.now();
    const last = this.roots.lastSeen.get(account.rootCap);
    if (last !== undefined && now - last < Math.min(MAX_REFRESH_MS, this.retentionMs / 4)) return;
    this.roots.lastSeen.set(account.rootCap, now);
    for (const [cap, seen] of this.roots.lastSeen) if (seen < now - this.retentionMs) this.roots.lastSeen.delete(cap);
    const write = this.writing.then(async () => {
      await writeServiceRoots(this.path, this.roots);
      await this.noteInUse(account.rootCap);
    });
    this.writing = write.catch(() => {});
    try {
      await write;
    } catch (err) {
      this.logger.warn({ user: account.username, err: (err as Error).message }, 'could not record the account-service root of a login (gc may not keep it)');
    }
  }
}
