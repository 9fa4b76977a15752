// The opt-in lane's real Tahoe-LAFS grid: found through LAFSD_TAHOE_URL (a web-API URL), or
// through the grid.env that ../shared/tahoe-grid/start-grid.sh writes (LAFSD_TAHOE_GRID_ENV,
// else $GRID_DIR/grid.env, else /tmp/tahoe-grid/grid.env). Without either, the lane is skipped
// with a reason; a grid.env whose node does not answer is skipped too (a grid stopped with
// stop-grid.sh leaves its grid.env behind), while an explicit LAFSD_TAHOE_URL that does not
// answer is a failure.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface RealGrid {
  /** Web-API base URL, ending in `/`. */
  url: string;
  /** grid.env's variables (TAHOE, TAHOE_NODE_DIR, SFTP_PORT, …) when the grid came from one. */
  env: Record<string, string>;
  /** Where the grid was found, for messages. */
  source: string;
}

/** Variables of a shell file of `NAME="value"` lines, as start-grid.sh writes them. */
export function parseGridEnv(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^\s*([A-Z_][A-Z0-9_]*)=(?:"([^"]*)"|'([^']*)'|(\S*))\s*$/.exec(line);
    if (m) out[m[1]!] = m[2] ?? m[3] ?? m[4] ?? '';
  }
  return out;
}

function gridEnvPath(): string {
  if (process.env.LAFSD_TAHOE_GRID_ENV) return process.env.LAFSD_TAHOE_GRID_ENV;
  return join(process.env.GRID_DIR || '/tmp/tahoe-grid', 'grid.env');
}

async function answers(url: string): Promise<boolean> {
  try {
    const res = await fetch(`${url}?t=json`, { signal: AbortSignal.timeout(10_000) });
    const body = (await res.json()) as { servers?: unknown };
    return res.ok && Array.isArray(body.servers);
  } catch {
    return false;
  }
}

let found: Promise<RealGrid | string> | undefined;

/** The real grid of this run, or the reason the opt-in lane is skipped. */
export function realGrid(): Promise<RealGrid | string> {
  found ??= (async () => {
    const explicit = process.env.LAFSD_TAHOE_URL;
    const path = gridEnvPath();
    const env = existsSync(path) ? parseGridEnv(readFileSync(path, 'utf8')) : {};
    if (explicit) {
      const url = explicit.endsWith('/') ? explicit : `${explicit}/`;
      if (!(await answers(url))) throw new Error(`LAFSD_TAHOE_URL=${explicit}: no Tahoe-LAFS web-API answers there`);
      // grid.env's extras (the tahoe CLI, Tahoe's own sftpd) only when it describes this node.
      return { url, env: env.TAHOE_WEB_URL === url ? env : {}, source: 'LAFSD_TAHOE_URL' };
    }
    if (!env.TAHOE_WEB_URL) return `no real Tahoe-LAFS grid: set LAFSD_TAHOE_URL or run ../shared/tahoe-grid/start-grid.sh (no ${path})`;
    const url = env.TAHOE_WEB_URL.endsWith('/') ? env.TAHOE_WEB_URL : `${env.TAHOE_WEB_URL}/`;
    if (!(await answers(url))) return `${path} names ${url}, which does not answer (grid stopped?)`;
    return { url, env, source: path };
  })();
  return found;
}

/** The grid, or undefined after printing why the lane is skipped. */
export async function realGridOrSkip(): Promise<RealGrid | undefined> {
  const g = await realGrid();
  return typeof g === 'string' ? undefined : g;
}

/** Why the lane is skipped (undefined when a grid is there). */
export async function skipReason(): Promise<string | undefined> {
  const g = await realGrid();
  return typeof g === 'string' ? g : undefined;
}

/**
 * Runs a real-client suite written for any backend (one of test/integration's files) on the
 * real node: the file is imported with LAFSD_TEST_BACKEND=tahoe inside one suite, or one skipped
 * test says why there is no grid.
 */
export async function onRealGrid(title: string, load: () => Promise<unknown>): Promise<void> {
  const { describe, test } = await import('node:test');
  const reason = await skipReason();
  if (reason !== undefined) {
    test(`${title} on a real Tahoe-LAFS node`, { skip: reason }, () => {});
    return;
  }
  process.env.LAFSD_TEST_BACKEND = 'tahoe';
  describe(`real Tahoe-LAFS node (${(await realGridOrSkip())!.url})`, { timeout: Infinity }, async () => {
    await load();
  });
}
