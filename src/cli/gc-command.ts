// `lafsd gc BASEDIR [--dry-run] [--ignore-damaged]`: collects the embedded store's garbage and
// prints what was (or would be) freed and what was kept. Counts and sizes only, never caps.
// Exit status 0 when the run finished, 1 when it stopped early or could not run.
import type { Writable } from 'node:stream';
import { loadNodeConfig } from '../config/index.js';
import { EmbeddedGrid, type GcCounts } from '../grid/embedded/index.js';
import { runGc, WEBAPI_GC_MESSAGE, type GcOutcome } from '../node/gc.js';
import { openGrid } from '../node/nodedir.js';
import { redactCaps } from '../server/log.js';

function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

function duration(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  return `${ms / 1000}s`;
}

function mib(bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(1)} MiB`;
}

function counts(c: GcCounts, withEntries: boolean): string {
  const dirs = plural(c.dirs, 'directory', 'directories') + (withEntries && c.entries ? ` (${plural(c.entries, 'entry', 'entries')})` : '');
  return `${dirs}, ${plural(c.mutables, 'mutable file')}, ${plural(c.objects, 'object')}, ${c.bytes} bytes (${mib(c.bytes)})`;
}

export function formatGcReport({ report: r, roots }: GcOutcome): string {
  const lines = [
    `roots:      ${plural(roots.accounts, 'account')}, ${plural(roots.kept, 'kept cap')}, ${plural(roots.service, 'account-service root')}`,
    `reachable:  ${counts(r.reachable, false)}`,
    `${r.dryRun ? 'would free:' : 'freed:     '} ${counts(r.freed, true)}; ${r.freed.fileBytes} bytes of object files`,
    `young:      ${counts(r.young, false)}, unreachable but within the grace period (${duration(r.graceMs)})`,
  ];
  for (const p of r.problems) lines.push(`damaged:    ${redactCaps(p)}`); // a name may look like a cap
  if (r.stopped) lines.push(`stopped:    ${r.stopped}`);
  if (r.dryRun) lines.push('dry run:    nothing was deleted');
  lines.push(`took:       ${r.durationMs} ms`);
  return `${lines.join('\n')}\n`;
}

export async function gcCommand(basedir: string, opts: { dryRun: boolean; ignoreDamaged: boolean }, out: Writable, err: Writable): Promise<number> {
  const config = loadNodeConfig(basedir);
  if (config.lafsd.grid !== 'embedded') {
    err.write(`lafsd gc: ${WEBAPI_GC_MESSAGE}\n`);
    return 1;
  }
  const grid = await openGrid(config);
  try {
    const outcome = await runGc(config, grid as EmbeddedGrid, opts);
    out.write(formatGcReport(outcome));
    return outcome.report.complete ? 0 : 1;
  } finally {
    await grid.close();
  }
}
