// The keep file (`[lafsd] gc.keep_file`, default private/gc-keep): caps that garbage collection
// keeps with everything they reach, for things nothing links, such as what `lafsd put` and
// `lafsd mkdir` without a path print. One cap per line; `#` starts a comment, at the start of a
// line or after the cap. Caps are secrets: the file is private (0600) and messages about it
// name lines, never caps.
import { promises as fsp } from 'node:fs';
import { isVerifier, parseCap } from '../caps/index.js';
import { ConfigError } from '../config/index.js';

const HEADER = `# Caps that \`lafsd gc\` keeps, with everything they reach: one per line, # starts a comment.
# \`lafsd put\` and \`lafsd mkdir\` without a path add the cap they print. Caps are secrets.
`;

export interface KeptCap {
  cap: string;
  line: number;
}

/** The caps of a keep file; none when it does not exist. A line that is not a cap is an error. */
export async function readKeepFile(path: string): Promise<KeptCap[]> {
  let text: string;
  try {
    text = await fsp.readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const caps: KeptCap[] = [];
  const problems: string[] = [];
  text.split(/\r\n|\r|\n/).forEach((raw, i) => {
    const words = raw.replace(/#.*$/, '').trim().split(/\s+/).filter(Boolean);
    if (words.length === 0) return;
    const cap = parseCap(words[0]!);
    if (words.length > 1 || cap.type === 'unknown') problems.push(`${path}:${i + 1}: not a cap (one cap per line; # starts a comment)`);
    else if (isVerifier(cap)) problems.push(`${path}:${i + 1}: a verify cap cannot keep anything; give a read or write cap`);
    else caps.push({ cap: words[0]!, line: i + 1 });
  });
  if (problems.length) throw new ConfigError(problems);
  return caps;
}

/** Appends a cap (with a note after `#`), creating the file privately if needed; durable on return. */
export async function addToKeepFile(path: string, cap: string, note: string): Promise<void> {
  const fh = await fsp.open(path, 'a', 0o600);
  try {
    const { size } = await fh.stat();
    await fh.write(`${size === 0 ? HEADER : ''}${cap}  # ${note.replace(/[\r\n]/g, ' ')}\n`);
    await fh.sync();
  } finally {
    await fh.close();
  }
}
