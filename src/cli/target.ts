// Command-line targets `CAP[/PATH]`: a cap (which never contains '/') optionally followed by a
// path inside it, resolved with the same canonicalisation as every frontend.
import { parseCap } from '../caps/index.js';
import { parsePath, type VPath } from '../vfs/index.js';
import { UsageError } from './usage.js';

export interface Target {
  cap: string;
  path: VPath;
}

export function parseTarget(text: string): Target {
  const slash = text.indexOf('/');
  const cap = slash < 0 ? text : text.slice(0, slash);
  if (parseCap(cap).type === 'unknown') throw new UsageError(`not a cap: expected URI:...[/PATH], got ${cap.startsWith('URI:') ? 'a malformed cap' : JSON.stringify(cap.slice(0, 20))}`);
  // As a cap path (/uri/CAP/...), so a file cap alone names that file, as in `tahoe get CAP`.
  const path = parsePath(slash < 0 ? '' : text.slice(slash));
  return { cap, path: { cap: path.cap ?? cap, parts: path.parts } };
}
