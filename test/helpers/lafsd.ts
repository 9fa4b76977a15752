// Starts a real `lafsd run` (the compiled CLI, as a child process) on a fresh node in a temp
// folder, with ephemeral loopback ports, a password account and a key account, and stops it
// when the test file ends. The ports are read from its JSON log lines.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after } from 'node:test';
import { realTahoeUrl, testBackend, type Backend } from './backend.js';
import { LAFSD, LAFSD_NODE_ENV, LAFSD_NODE_FLAGS, lafsdOk } from './cli.js';
import { startFakeTahoe, type FakeTahoe } from './fake-tahoe/index.js';
import { tempDir } from './tmp.js';

/** A running `lafsd run`. */
export interface RunningLafsd {
  sftpPort: number;
  ftpPort?: number;
  ftpsPort?: number;
  /** The metrics and health listener, when `[lafsd] metrics` is set. */
  metricsPort?: number;
  process: ChildProcess;
  /** Everything the server logged so far (JSON lines). */
  log(): string;
  /** Sends a signal and waits for exit; resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export interface Lafsd extends RunningLafsd {
  basedir: string;
  /** Account with a password. */
  user: string;
  password: string;
  /** Account with an ed25519 key (private key file for `ssh -i`). */
  keyUser: string;
  keyFile: string;
  /** Root caps of the two accounts (the key user's root is the same directory, read-write). */
  rootCap: string;
  backend: Backend;
  /** The stand-in Tahoe node serving the grid (backend webapi): stop/restart it to test outages. */
  fake?: FakeTahoe;
}

export interface StartOptions {
  /** Extra tahoe.cfg text appended to a section, e.g. { ftpd: 'passive_ports = 50000-50010' }. */
  config?: Record<string, string>;
  /** Replaces the default config entirely after init (the accounts are still created). */
  rewriteConfig?: (cfg: string) => string;
  env?: NodeJS.ProcessEnv;
  /** Runs after tahoe.cfg is written and before `lafsd run`, e.g. to add accounts or edit the accounts file. */
  prepare?: (basedir: string) => void | Promise<void>;
  /**
   * embedded: the node's own store. webapi: a stand-in Tahoe node is started, the node is set
   * to `grid = webapi` with its URL before the accounts are made (so their roots live there),
   * and it is closed after lafsd at the end. tahoe: the same with the real node of the opt-in
   * lane. Default: LAFSD_TEST_BACKEND, else embedded.
   */
  backend?: Backend;
}

function appendToSection(cfg: string, section: string, text: string): string {
  const header = `[${section}]\n`;
  const i = cfg.indexOf(header);
  if (i < 0) return `${cfg}\n${header}${text}\n`;
  return cfg.slice(0, i + header.length) + text + '\n' + cfg.slice(i + header.length);
}

export async function startLafsd(options: StartOptions = {}): Promise<Lafsd> {
  const dir = tempDir('lafsd-node-');
  const basedir = join(dir, 'node');
  const backend = options.backend ?? testBackend();
  let fake: FakeTahoe | undefined;
  let stopLafsd: (() => Promise<unknown>) | undefined;
  // One hook, in this order: lafsd goes before the stand-in node it uses.
  after(async () => {
    await stopLafsd?.();
    await fake?.close();
  });
  if (backend === 'webapi') fake = await startFakeTahoe();
  const webapiUrl = backend === 'tahoe' ? await realTahoeUrl() : fake?.url;
  await lafsdOk(['init', basedir, '--sftp-port', 'tcp:0:interface=127.0.0.1', '--ftp-port', 'tcp:0:interface=127.0.0.1']);
  const cfgPath = join(basedir, 'tahoe.cfg');
  // The accounts' root directory is then made on that node (`POST /uri?t=mkdir`): fresh for each node.
  if (webapiUrl) writeFileSync(cfgPath, readFileSync(cfgPath, 'utf8').replace(/^grid = embedded$/m, `grid = webapi\nwebapi.url = ${webapiUrl}`));
  const rootCap = (await lafsdOk(['add-user', basedir, 'alice', '--password', 'correct-horse'])).stdout.toString().trim();
  const keyFile = join(dir, 'id_ed25519');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'test', '-f', keyFile]);
  await lafsdOk(['add-user', basedir, 'bob', '--pubkey', `${keyFile}.pub`, '--root', rootCap]);
  let cfg = readFileSync(cfgPath, 'utf8');
  for (const [section, text] of Object.entries(options.config ?? {})) cfg = appendToSection(cfg, section, text);
  if (options.rewriteConfig) cfg = options.rewriteConfig(cfg);
  writeFileSync(cfgPath, cfg);
  await options.prepare?.(basedir);

  const run = await runLafsd(basedir, options.env ? { env: options.env } : {});
  stopLafsd = () => run.stop('SIGKILL');
  return {
    ...run,
    basedir,
    user: 'alice',
    password: 'correct-horse',
    keyUser: 'bob',
    keyFile,
    rootCap,
    backend,
    ...(fake ? { fake } : {}),
  };
}

/**
 * Runs `lafsd run BASEDIR` on any node directory (one made by startLafsd, or one that looks like
 * a Tahoe-LAFS node's) and resolves once its frontends listen; killed when the test file ends.
 */
export async function runLafsd(basedir: string, options: { env?: NodeJS.ProcessEnv } = {}): Promise<RunningLafsd> {
  const cfg = readFileSync(join(basedir, 'tahoe.cfg'), 'utf8');
  const env = options.env ?? {};
  const child = spawn(process.execPath, [...LAFSD_NODE_FLAGS, LAFSD, 'run', basedir], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...LAFSD_NODE_ENV, LAFSD_LOG_LEVEL: 'debug', ...env },
  });
  let log = '';
  child.stdout!.on('data', (d: Buffer) => (log += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (log += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));

  const ports = await new Promise<{ sftp: number; ftp?: number; ftps?: number; metrics?: number }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`lafsd did not start in time:\n${log}`)), 20_000);
    // Only the lines not yet seen, and only until the ports are found: scanning the whole log
    // on every chunk for the life of the server made a test whose server logs ~100,000 debug
    // lines spend most of a minute here (the limits test of a client ignoring the SSH window).
    const found: Record<string, number> = {};
    let scanned = 0;
    const check = () => {
      const end = log.lastIndexOf('\n') + 1;
      const lines = log.slice(scanned, end).split('\n');
      scanned = Math.max(scanned, end);
      for (const line of lines) {
        if (!line.startsWith('{')) continue;
        try {
          const j = JSON.parse(line) as { msg?: string; frontend?: string; port?: number; implicit?: { port?: number } };
          if (j.msg?.endsWith(' listening') && j.frontend && j.port) found[j.frontend] = j.port;
          if (j.msg?.endsWith(' listening') && j.implicit?.port) found.ftps = j.implicit.port;
          if (j.msg === 'metrics listening' && j.port) found.metrics = j.port;
        } catch {
          // partial line
        }
      }
      const wantFtp = /\[ftpd\][^[]*enabled\s*=\s*true/.test(cfg);
      const wantMetrics = /\[lafsd\][^[]*^metrics\s*=/m.test(cfg);
      if (found.sftp && (!wantFtp || found.ftp) && (!wantMetrics || found.metrics)) {
        clearTimeout(timer);
        child.stdout!.off('data', check);
        resolve({
          sftp: found.sftp,
          ...(found.ftp ? { ftp: found.ftp } : {}),
          ...(found.ftps ? { ftps: found.ftps } : {}),
          ...(found.metrics ? { metrics: found.metrics } : {}),
        });
      }
    };
    child.stdout!.on('data', check);
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`lafsd exited ${code} before listening:\n${log}`));
    });
  });

  const stop = async (signal: NodeJS.Signals = 'SIGTERM') => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    return exited;
  };
  after(() => stop('SIGKILL'));
  return {
    sftpPort: ports.sftp,
    ...(ports.ftp ? { ftpPort: ports.ftp } : {}),
    ...(ports.ftps ? { ftpsPort: ports.ftps } : {}),
    ...(ports.metrics ? { metricsPort: ports.metrics } : {}),
    process: child,
    log: () => log,
    stop,
  };
}

/** SHA256 fingerprint of the node's SSH host key (`SHA256:…`), as PuTTY's -hostkey and curl's --hostpubsha256 take it. */
export function hostKeyFingerprint(node: Lafsd): string {
  const out = execFileSync('ssh-keygen', ['-l', '-f', join(node.basedir, 'private', 'ssh_host_ed25519_key.pub')]).toString();
  return out.split(' ')[1]!;
}

/** An `ftp://` URL of `path` on the node's FTP port, logged in as its password account (or with `password`). */
export function ftpUrlOf(node: Lafsd, path: string, password = node.password): string {
  return `ftp://${node.user}:${encodeURIComponent(password)}@127.0.0.1:${node.ftpPort}${path}`;
}

/** Standard OpenSSH client options for tests: no known_hosts, batch mode, our key. */
export function sshOptions(node: Lafsd): string[] {
  return ['-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'BatchMode=yes', '-o', 'LogLevel=ERROR', '-i', node.keyFile, '-P', String(node.sftpPort)];
}

/**
 * Another `lafsd run` gateway for the same accounts as `first`: a fresh node directory with the
 * same accounts file and SSH host key (as gateways behind one load balancer must have), on the
 * web-API at `webapiUrl` (default: `first`'s), with extra [lafsd] settings. Stopped when the test
 * file ends.
 */
export async function startGateway(first: Lafsd, options: { webapiUrl?: string; lafsd?: string; config?: Record<string, string> } = {}): Promise<RunningLafsd & { basedir: string }> {
  const basedir = join(tempDir('lafsd-gateway-'), 'node');
  await lafsdOk(['init', basedir, '--sftp-port', 'tcp:0:interface=127.0.0.1', '--ftp-port', 'tcp:0:interface=127.0.0.1']);
  const cfgPath = join(basedir, 'tahoe.cfg');
  const firstCfg = readFileSync(join(first.basedir, 'tahoe.cfg'), 'utf8');
  const url = options.webapiUrl ?? /^webapi\.url = (.*)$/m.exec(firstCfg)?.[1];
  if (!url) throw new Error('the first gateway has no webapi.url');
  let cfg = readFileSync(cfgPath, 'utf8').replace(/^grid = embedded$/m, `grid = webapi\nwebapi.url = ${url}${options.lafsd ? `\n${options.lafsd}` : ''}`);
  cfg = cfg.replace(/(\[ftpd\][^[]*?)enabled = \w+/, `$1enabled = ${/\[ftpd\][^[]*enabled\s*=\s*true/.test(firstCfg)}`);
  for (const [section, text] of Object.entries(options.config ?? {})) cfg = appendToSection(cfg, section, text);
  writeFileSync(cfgPath, cfg);
  for (const f of ['private/accounts', 'private/ssh_host_ed25519_key', 'private/ssh_host_ed25519_key.pub']) {
    writeFileSync(join(basedir, f), readFileSync(join(first.basedir, f)), { mode: f.endsWith('.pub') ? 0o644 : 0o600 });
  }
  const run = await runLafsd(basedir);
  return { ...run, basedir };
}

/** The resident memory (VmRSS) of a running lafsd, in bytes. */
export function rssOf(node: RunningLafsd): number {
  return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${node.process.pid}/status`, 'utf8'))![1]) * 1024;
}
