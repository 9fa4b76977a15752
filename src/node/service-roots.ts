// Root caps the account service (`accounts.url`) answered, with when each was last seen:
// BASEDIR/private/account-service-roots. `lafsd run` writes it on logins, `lafsd gc` keeps the
// roots seen within `[lafsd] gc.account_root_retention`. `since` is when recording began: before
// a whole retention window has passed, gc cannot know every account, so it refuses to run.
// Caps are secrets: the file is private (0600), replaced atomically, and never logged.
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { writeAtomically } from '../auth/accounts-edit.js';
import { isDirectory, parseCap } from '../caps/index.js';
import { ConfigError } from '../config/index.js';

export const SERVICE_ROOTS_FILE = 'private/account-service-roots';

export function serviceRootsPath(basedir: string): string {
  return join(basedir, SERVICE_ROOTS_FILE);
}

export interface ServiceRoots {
  /** When recording began (ms). */
  since: number;
  /** Root cap → last login that answered it (ms). */
  lastSeen: Map<string, number>;
}

const HEADER = `# Root caps the account service (accounts.url) answered, and when each was last seen.
# Written by \`lafsd run\`, read by \`lafsd gc\`. Caps are secrets: keep this file private.
`;

/** The recorded roots; undefined when nothing was ever recorded. */
export async function readServiceRoots(path: string): Promise<ServiceRoots | undefined> {
  let text: string;
  try {
    text = await fsp.readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  let since: number | undefined;
  const lastSeen = new Map<string, number>();
  const problems: string[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const [first, second, ...more] = line.split(/\s+/);
    const time = Date.parse(first === 'since' ? (second ?? '') : first!);
    if (first === 'since' && !Number.isNaN(time) && more.length === 0) since = time;
    else if (!Number.isNaN(time) && second && more.length === 0 && isDirectory(parseCap(second))) lastSeen.set(second, time);
    else problems.push(`${path}:${i + 1}: expected "since TIME" or "TIME ROOTCAP"`);
  });
  if (since === undefined) problems.push(`${path}: no "since" line`);
  if (problems.length) throw new ConfigError(problems);
  return { since: since!, lastSeen };
}

export async function writeServiceRoots(path: string, roots: ServiceRoots): Promise<void> {
  const lines = [`since ${new Date(roots.since).toISOString()}`];
  for (const [cap, seen] of roots.lastSeen) lines.push(`${new Date(seen).toISOString()} ${cap}`);
  await writeAtomically(path, `${HEADER}${lines.join('\n')}\n`);
}
