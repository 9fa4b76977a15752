// The version of lafsd: the one in package.json, read at run time so it cannot drift.
import { readFileSync } from 'node:fs';

/** From the package.json three folders above dist/src/util (two above src/util when run from sources). */
function readVersion(): string {
  for (const rel of ['../../../package.json', '../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'lafsd' && typeof pkg.version === 'string') return pkg.version;
    } catch {
      // try the next candidate
    }
  }
  return 'unknown';
}

export const VERSION = readVersion();
