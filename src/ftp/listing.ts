// What listings and time commands show: MLSD/MLST facts (RFC 3659 §7), LIST lines (the vfs's
// `ls -l` line, shared with SFTP), NLST names, and MDTM/MFMT times. Pure functions.
import { lsLine, type ListEntry, type VfsAttrs } from '../vfs/index.js';

/** Facts we can show, in FEAT order; `*` in FEAT marks the ones shown until OPTS MLST says otherwise. */
export const MLST_FACTS = ['type', 'size', 'modify', 'perm', 'unique', 'UNIX.mode'] as const;
export type MlstFact = (typeof MLST_FACTS)[number];
export const DEFAULT_MLST_FACTS: ReadonlySet<MlstFact> = new Set<MlstFact>(['type', 'size', 'modify', 'perm', 'unique']);

/** The FEAT line: `MLST type*;size*;modify*;perm*;unique*;UNIX.mode;`. */
export function mlstFeature(): string {
  return 'MLST ' + MLST_FACTS.map((f) => `${f}${DEFAULT_MLST_FACTS.has(f) ? '*' : ''};`).join('');
}

/** OPTS MLST: the facts asked for that we know (case-insensitive), in our spelling. */
export function selectFacts(text: string): Set<MlstFact> {
  const wanted = new Set(text.split(';').map((f) => f.trim().toLowerCase()).filter(Boolean));
  return new Set(MLST_FACTS.filter((f) => wanted.has(f.toLowerCase())));
}

/** `YYYYMMDDHHMMSS` in UTC (MDTM, MLSx `modify`). */
export function formatTimeVal(seconds: number): string {
  const d = new Date(Math.floor(seconds) * 1000);
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${p(d.getUTCFullYear(), 4)}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}`;
}

/** `YYYYMMDDHHMMSS[.sss]` (UTC) → seconds, or undefined when it is not a real time. */
export function parseTimeVal(text: string): number | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(?:\.(\d{1,3}))?$/.exec(text);
  if (!m) return undefined;
  const [y, mo, d, h, mi, s] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  const t = Date.UTC(y, mo - 1, d, h, mi, s);
  const back = new Date(t);
  // Date.UTC rolls over (Feb 30 → Mar 2); a real time survives the round trip.
  if (back.getUTCFullYear() !== y || back.getUTCMonth() !== mo - 1 || back.getUTCDate() !== d || back.getUTCHours() !== h || back.getUTCMinutes() !== mi || back.getUTCSeconds() !== s) {
    return undefined;
  }
  return t / 1000 + (m[7] ? Number(m[7].padEnd(3, '0')) / 1000 : 0);
}

/**
 * RFC 3659 §7.5.5 permissions. In Tahoe, deleting and renaming depend on the directory holding
 * the link (`parentWritable`), writing depends on the node itself (`noWrite`).
 */
export function permFact(attrs: VfsAttrs, parentWritable: boolean): string {
  const link = parentWritable ? 'df' : '';
  if (attrs.kind === 'dir') return sortPerm(link + 'el' + (attrs.noWrite ? '' : 'cmp'));
  if (attrs.kind === 'file') return sortPerm(link + 'r' + (attrs.noWrite ? '' : 'aw'));
  return link;
}

function sortPerm(p: string): string {
  return [...p].sort().join('');
}

export type MlsxType = 'file' | 'dir' | 'cdir' | 'pdir';

/** One MLSD line / MLST fact line (without the leading space MLST adds). */
export function mlsxLine(name: string, attrs: VfsAttrs, facts: ReadonlySet<MlstFact>, opts: { parentWritable: boolean; type?: MlsxType }): string {
  let out = '';
  const type = attrs.kind === 'unknown' ? 'OS.tahoe=unknown' : (opts.type ?? attrs.kind);
  if (facts.has('type')) out += `type=${type};`;
  if (facts.has('size') && attrs.kind === 'file' && attrs.size !== undefined) out += `size=${attrs.size};`;
  if (facts.has('modify') && attrs.mtime !== undefined) out += `modify=${formatTimeVal(attrs.mtime)};`;
  if (facts.has('perm')) out += `perm=${opts.type === 'pdir' ? 'el' : permFact(attrs, opts.parentWritable && opts.type !== 'cdir')};`;
  if (facts.has('unique') && attrs.unique !== undefined) out += `unique=${attrs.unique};`;
  if (facts.has('UNIX.mode') && attrs.kind !== 'unknown') out += `UNIX.mode=0${(attrs.mode & 0o777).toString(8)};`;
  return `${out} ${name}`;
}

/** Entries sorted by name (code-unit order, as `ls` in the C locale). */
export function sortEntries(entries: readonly ListEntry[]): ListEntry[] {
  return [...entries].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** LIST lines for a directory listing. */
export function listLines(entries: readonly ListEntry[], now = Date.now() / 1000): string[] {
  return sortEntries(entries).map((e) => lsLine(e.name, e.attrs, now));
}

/**
 * LIST and NLST arguments often start with `ls` options (`-a`, `-la`, `-l dir`); clients expect
 * them ignored. Options are removed only while they look like options (a dash and letters).
 */
export function stripListOptions(arg: Buffer): Buffer {
  let rest = arg;
  for (;;) {
    const m = /^-[a-zA-Z]+(?: +|$)/.exec(rest.toString('latin1'));
    if (!m) return rest;
    rest = rest.subarray(m[0].length);
  }
}
