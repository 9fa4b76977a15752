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

export interface ExtraClientNode {
  /** Web-API base URL of the new node. */
  url: string;
  stop(): Promise<void>;
}

/**
 * A second Tahoe-LAFS client node on the same grid (same introducer, same encoding), made with
 * the grid's own `tahoe` (grid.env's TAHOE) in a temp folder and run until `stop()`: two lafsd
 * gateways on two client nodes of one grid. Undefined (with the reason) when the grid did not
 * come from a grid.env that names its tahoe and its client node.
 */
export async function startExtraClient(grid: RealGrid): Promise<ExtraClientNode | string> {
  const { spawn, execFile } = await import('node:child_process');
  const { mkdtempSync, rmSync, writeFileSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { promisify } = await import('node:util');
  const run = promisify(execFile);
  const tahoe = grid.env.TAHOE;
  const nodeDir = grid.env.TAHOE_NODE_DIR;
  if (!tahoe || !nodeDir) return `${grid.source} does not name the tahoe command and its client node (TAHOE, TAHOE_NODE_DIR)`;
  const furl = /furl:\s*(pb:\/\/\S+)/.exec(readFileSync(join(nodeDir, 'private', 'introducers.yaml'), 'utf8'))?.[1];
  if (!furl) return `no introducer FURL in ${nodeDir}/private/introducers.yaml`;
  const dir = join(mkdtempSync(join(tmpdir(), 'lafsd-tahoe-client2-')), 'client2');
  const happy = grid.env.SHARES_HAPPY ?? '3';
  await run(tahoe, [
    'create-client', '--nickname=lafsd-test-client2', `--introducer=${furl}`, '--webport=tcp:0:interface=127.0.0.1',
    `--shares-needed=${grid.env.SHARES_NEEDED ?? '2'}`, `--shares-happy=${happy}`, `--shares-total=${grid.env.SHARES_TOTAL ?? '3'}`, dir,
  ]);
  const cfgPath = join(dir, 'tahoe.cfg');
  if ((grid.env.STORAGE_PROTOCOL ?? 'foolscap') === 'foolscap') {
    writeFileSync(cfgPath, readFileSync(cfgPath, 'utf8').replace(/^\[client\]\n/m, '[client]\nforce_foolscap = true\n'));
  }
  const child = spawn(tahoe, ['run', '--allow-stdin-close', dir], { stdio: 'ignore', detached: true });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      process.kill(-child.pid!, 'SIGTERM');
      const killer = setTimeout(() => process.kill(-child.pid!, 'SIGKILL'), 15_000);
      await exited;
      clearTimeout(killer);
    }
    rmSync(join(dir, '..'), { recursive: true, force: true });
  };
  try {
    const deadline = Date.now() + 120_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`the second Tahoe client node exited ${child.exitCode}`);
      if (Date.now() > deadline) throw new Error('the second Tahoe client node did not connect to its storage servers in 120 s');
      const url = existsSync(join(dir, 'node.url')) ? readFileSync(join(dir, 'node.url'), 'utf8').trim() : '';
      if (url) {
        try {
          const res = await fetch(`${url.replace(/\/?$/, '/')}?t=json`, { signal: AbortSignal.timeout(5000) });
          const body = (await res.json()) as { servers?: Array<{ connection_status?: string }> };
          const connected = (body.servers ?? []).filter((s) => s.connection_status?.startsWith('Connected')).length;
          if (connected >= Number(happy)) return { url: url.replace(/\/?$/, '/'), stop };
        } catch {
          // not answering yet
        }
      }
      await new Promise((r) => setTimeout(r, 500));
    }
  } catch (err) {
    await stop();
    throw err;
  }
}
