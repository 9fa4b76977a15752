// `df -P -k /` output, shaped exactly like Tahoe's (tahoe-frontends.md §3.1) but with real
// figures. sshfs runs this command to show free space.
import type { DiskUsage } from './types.js';

export const DF_COMMAND = 'df -P -k /';

const HEADER = 'Filesystem         1024-blocks      Used Available Capacity Mounted on';

/** Two lines, CRLF-terminated; columns right-aligned under the header, never run together. */
export function formatDf(usage: DiskUsage): string {
  const n = (v: number) => String(Math.max(0, Math.floor(Number.isFinite(v) ? v : 0)));
  const used = Number(n(usage.usedKiB));
  const avail = Number(n(usage.availKiB));
  // POSIX: capacity = used / (used + available), rounded up.
  const capacity = used + avail > 0 ? Math.ceil((used * 100) / (used + avail)) : 0;
  const row = [
    'tahoe',
    n(usage.totalKiB).padStart(24),
    n(usage.usedKiB).padStart(9),
    n(usage.availKiB).padStart(9),
    `${capacity}%`.padStart(8),
    '/',
  ].join(' ');
  return `${HEADER}\r\n${row}\r\n`;
}
