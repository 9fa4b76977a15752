// Where garbage collection's roots come from (src/grid/embedded/gc.ts marks from them):
//   - every account's root cap in the accounts files the config names (and the default
//     private/accounts that `lafsd add-user` writes, if it exists);
//   - the keep file (keep-file.ts);
//   - with `accounts.url`, the roots the account service answered within the retention window
//     (service-roots.ts), and only once roots have been recorded for that long.
// A file that cannot be read or parsed stops gc: a missing root would lose a whole tree.
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { parseAccounts } from '../auth/index.js';
import { ConfigError, type NodeConfig } from '../config/index.js';
import type { GcRoot } from '../grid/embedded/index.js';
import { readKeepFile } from './keep-file.js';
import { ACCOUNTS_FILE } from './nodedir.js';
import { readServiceRoots, serviceRootsPath } from './service-roots.js';

export interface RootCounts {
  accounts: number;
  kept: number;
  service: number;
}

export interface CollectedRoots {
  roots: GcRoot[];
  counts: RootCounts;
}

function usesAccountService(config: NodeConfig): boolean {
  return config.sftpd.accountsUrl !== undefined || config.ftpd.accountsUrl !== undefined;
}

/** A time span for messages: 42s, 17m, 5h, 90 days. */
function span(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 120) return `${s}s`;
  const m = Math.round(s / 60);
  if (m < 120) return `${m}m`;
  const h = Math.round(m / 60);
  return h < 72 ? `${h}h` : `${Math.round(h / 24)} days`;
}

/** Throws unless the account service's roots have been recorded for a whole retention window. */
export async function checkServiceRootsComplete(config: NodeConfig, now = Date.now()): Promise<void> {
  if (!usesAccountService(config)) return;
  const retention = config.lafsd.gcAccountRootRetention;
  const recorded = await readServiceRoots(serviceRootsPath(config.basedir));
  const age = recorded ? now - recorded.since : 0;
  if (age < retention) {
    throw new ConfigError(
      `garbage collection refused: with accounts.url, an account's root is only known once its user logs in, and `
        + `lafsd has recorded logins for ${span(age)} of the ${span(retention)} gc.account_root_retention; `
        + `run gc when a whole retention window has been recorded, or list those roots in the keep file and lower the retention`,
    );
  }
}

export async function collectRoots(config: NodeConfig, now = Date.now()): Promise<CollectedRoots> {
  const roots: GcRoot[] = [];
  const counts: RootCounts = { accounts: 0, kept: 0, service: 0 };
  const configured = [config.sftpd.accountsFile, config.ftpd.accountsFile].filter((f): f is string => f !== undefined);
  const files = new Set(configured);
  const defaultFile = join(config.basedir, ACCOUNTS_FILE);
  if (!files.has(defaultFile) && (await fsp.access(defaultFile).then(() => true, () => false))) files.add(defaultFile);
  for (const file of files) {
    let text: Buffer;
    try {
      text = await fsp.readFile(file);
    } catch (err) {
      throw new ConfigError(`${file}: cannot be read (${(err as NodeJS.ErrnoException).code}); gc needs every account's root`);
    }
    for (const account of parseAccounts(text, file).accounts.values()) {
      roots.push({ cap: account.rootCap, where: `${account.username}'s root` });
      counts.accounts++;
    }
  }
  for (const kept of await readKeepFile(config.lafsd.gcKeepFile)) {
    roots.push({ cap: kept.cap, where: `keep file line ${kept.line}` });
    counts.kept++;
  }
  if (usesAccountService(config)) {
    await checkServiceRootsComplete(config, now);
    const recorded = (await readServiceRoots(serviceRootsPath(config.basedir)))!;
    for (const [cap, seen] of recorded.lastSeen) {
      if (seen < now - config.lafsd.gcAccountRootRetention) continue;
      roots.push({ cap, where: `account-service root last seen ${new Date(seen).toISOString()}` });
      counts.service++;
    }
  }
  return { roots, counts };
}
