// Garbage collection of a node's embedded store, as `lafsd gc` and `lafsd run` (gc.interval)
// run it: the node's roots (gc-roots.ts), its grace period, the store's mark and sweep. Also
// the small duties of commands that hand out caps nothing links.
import { parseCap } from '../caps/index.js';
import type { NodeConfig } from '../config/index.js';
import { EmbeddedGrid, type GcReport } from '../grid/embedded/index.js';
import { checkServiceRootsComplete, collectRoots, type RootCounts } from './gc-roots.js';
import { addToKeepFile } from './keep-file.js';
import { openGrid } from './nodedir.js';

export interface GcOutcome {
  report: GcReport;
  roots: RootCounts;
}

export interface RunGcOptions {
  dryRun?: boolean;
  ignoreDamaged?: boolean;
  signal?: AbortSignal;
}

export const WEBAPI_GC_MESSAGE = 'this node keeps its files on a Tahoe-LAFS grid (grid = webapi): there Tahoe\'s own lease-based '
  + 'garbage collection applies (storage servers expire shares whose leases are not renewed, e.g. by `tahoe deep-check --add-lease`); '
  + 'lafsd gc only collects the embedded store';

export async function runGc(config: NodeConfig, grid: EmbeddedGrid, opts: RunGcOptions = {}): Promise<GcOutcome> {
  await checkServiceRootsComplete(config); // before anything starts, for a clear refusal
  let roots: RootCounts = { accounts: 0, kept: 0, service: 0 };
  const report = await grid.collectGarbage({
    roots: async () => {
      const collected = await collectRoots(config);
      roots = collected.counts;
      return collected.roots;
    },
    graceMs: config.lafsd.gcGracePeriod,
    ...(opts.dryRun ? { dryRun: true } : {}),
    ...(opts.ignoreDamaged ? { ignoreDamaged: true } : {}),
    ...(opts.signal ? { signal: opts.signal } : {}),
  });
  return { report, roots };
}

/** `lafsd put`/`mkdir` without a path: keep what nothing links (embedded store only). */
export async function keepUnlinked(config: NodeConfig, cap: string, command: string): Promise<void> {
  if (config.lafsd.grid !== 'embedded' || parseCap(cap).type === 'LIT') return; // LIT caps have no storage
  await addToKeepFile(config.lafsd.gcKeepFile, cap, `${command}, ${new Date().toISOString()}`);
}

/**
 * A root just written to an accounts file: tell the store it is in use, *after* the write, so a
 * gc running now either read the file or sees this (src/grid/embedded/gc.ts, ROOTS).
 */
export async function noteRootInUse(config: NodeConfig, cap: string): Promise<void> {
  if (config.lafsd.grid !== 'embedded') return;
  const grid = await openGrid(config);
  try {
    if (grid instanceof EmbeddedGrid) await grid.noteInUse(cap);
  } finally {
    await grid.close();
  }
}
