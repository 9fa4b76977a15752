// The node directory (BASEDIR): creating one (`lafsd init`), and opening what it configures —
// the grid backend and the node's secrets. The layout follows a Tahoe-LAFS node:
//   tahoe.cfg, private/convergence, private/accounts, private/ssh_host_ed25519_key(.pub),
//   storage/ (the embedded store).
import { randomBytes } from 'node:crypto';
import { constants as fsc, promises as fsp } from 'node:fs';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { b32decode, b32encode } from '../caps/index.js';
import { ConfigError, CONFIG_FILE, renderDefaultConfig, type NodeConfig } from '../config/index.js';
import { EmbeddedGrid } from '../grid/embedded/index.js';
import type { WebApiGridOptions } from '../grid/webapi/index.js';
import { GridError, type Grid } from '../grid/index.js';

export const PRIVATE_DIR = 'private';
export const CONVERGENCE_FILE = 'private/convergence';
export const ACCOUNTS_FILE = 'private/accounts';
export const HOST_KEY_FILE = 'private/ssh_host_ed25519_key';
export const FTPS_CERT_FILE = 'private/ftpd.crt';
export const FTPS_KEY_FILE = 'private/ftpd.key';

export interface InitOptions {
  /** SFTP endpoint (default tcp:8022:interface=127.0.0.1). */
  sftpPort?: string;
  /** FTP endpoint (default tcp:8021:interface=127.0.0.1). */
  ftpPort?: string;
  /** Metrics and health endpoint (default: off). */
  metricsPort?: string;
}

const ACCOUNTS_HEADER = `# lafsd accounts: one per line.
#   NAME PASSWORD ROOTCAP                       (password plain, or a $scrypt$/$argon2id$/$2b$ hash)
#   NAME ssh-ed25519 AAAA... [comment] ROOTCAP   (public key; ssh-rsa and ecdsa-sha2-* too)
# Add users with: lafsd add-user BASEDIR NAME
`;

async function exists(path: string): Promise<boolean> {
  try {
    await fsp.access(path, fsc.F_OK);
    return true;
  } catch {
    return false;
  }
}

async function writePrivate(path: string, text: string): Promise<void> {
  await fsp.writeFile(path, text, { mode: 0o600, flag: 'wx' });
}

/** Creates a new node directory. Refuses to touch an existing node. */
export async function initNode(basedir: string, opts: InitOptions = {}): Promise<string> {
  const base = resolve(basedir);
  if (await exists(join(base, CONFIG_FILE))) {
    throw new ConfigError(`${base} already holds a node (${CONFIG_FILE} exists); refusing to overwrite it`);
  }
  renderDefaultConfig(opts); // validates the ports before anything is written
  await fsp.mkdir(base, { recursive: true, mode: 0o700 });
  await fsp.mkdir(join(base, PRIVATE_DIR), { mode: 0o700 }).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'EEXIST') throw err;
  });
  const ftpTls = await makeFtpsCertificate(base);
  const config = renderDefaultConfig({ ...opts, ...(ftpTls ? { ftpTls } : {}) });
  // The key generators load ssh2 and the FTP code: only `init` pays for them, not every command
  // that opens the store.
  const { generateHostKeyPair } = await import('../ssh/hostkeys.js');
  const keys = generateHostKeyPair(`lafsd@${base}`);
  await writePrivate(join(base, HOST_KEY_FILE), keys.privateKey);
  await fsp.writeFile(join(base, `${HOST_KEY_FILE}.pub`), keys.publicKey, { mode: 0o644, flag: 'wx' });
  await writePrivate(join(base, ACCOUNTS_FILE), ACCOUNTS_HEADER);
  // Tahoe's format: base32 of 32 random bytes and a newline.
  await writePrivate(join(base, CONVERGENCE_FILE), `${b32encode(randomBytes(32))}\n`);
  // tahoe.cfg last: a node directory without it is visibly incomplete, and init can be rerun.
  await fsp.writeFile(join(base, CONFIG_FILE), config, { mode: 0o644, flag: 'wx' });
  const grid = await EmbeddedGrid.open({ storeDir: join(base, 'storage'), convergenceSecret: await readConvergenceSecret(base) });
  await grid.close();
  return base;
}

/**
 * A self-signed certificate for FTPS (clients will ask to trust it; replace it with a real one
 * by pointing tls_cert_file/tls_key_file elsewhere). Without openssl, FTPS stays off.
 */
async function makeFtpsCertificate(base: string): Promise<{ certFile: string; keyFile: string } | undefined> {
  const { generateSelfSignedCert } = await import('../ftp/cert.js');
  let pair;
  try {
    pair = await generateSelfSignedCert(/^[A-Za-z0-9.-]+$/.test(hostname()) ? hostname() : 'localhost');
  } catch (err) {
    process.emitWarning(`FTPS left off: ${(err as Error).message}`);
    return undefined;
  }
  await writePrivate(join(base, FTPS_KEY_FILE), pair.keyPem);
  await fsp.writeFile(join(base, FTPS_CERT_FILE), pair.certPem, { mode: 0o644, flag: 'wx' });
  return { certFile: FTPS_CERT_FILE, keyFile: FTPS_KEY_FILE };
}

/** The node's convergence secret (private/convergence), created on first use like Tahoe does. */
export async function readConvergenceSecret(basedir: string): Promise<Buffer> {
  const path = join(basedir, CONVERGENCE_FILE);
  let text: string;
  try {
    text = await fsp.readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    await fsp.mkdir(join(basedir, PRIVATE_DIR), { recursive: true, mode: 0o700 });
    text = `${b32encode(randomBytes(32))}\n`;
    await writePrivate(path, text).catch(async (e: NodeJS.ErrnoException) => {
      if (e.code !== 'EEXIST') throw e;
      text = await fsp.readFile(path, 'utf8');
    });
  }
  const secret = b32decode(text.trim());
  if (!secret || secret.length < 16) throw new ConfigError(`${path}: not a convergence secret (expected base32 text)`);
  return secret;
}

export interface OpenGridOptions {
  /**
   * Start even while the Tahoe-LAFS node does not answer (`lafsd run`): `unavailable` hears why
   * (each time it is asked again), `ready` when it first answers; operations meanwhile fail with
   * "unavailable". Without it (the CLI's store commands), an unreachable node is an error.
   */
  background?: { unavailable(err: Error, retryInMs: number): void; ready(): void; failed(err: Error): void };
}

/** The web-API backend's settings from [lafsd]. */
export function webapiOptions(config: NodeConfig): WebApiGridOptions {
  const l = config.lafsd;
  return {
    timeoutMs: l.webapiTimeout,
    idleTimeoutMs: l.webapiTimeout,
    commitTimeoutMs: l.webapiWriteTimeout,
    ...(l.webapiDirectoryUrl !== undefined ? { directoryUrl: l.webapiDirectoryUrl } : {}),
  };
}

/** Opens the grid the config names (the embedded store, or a Tahoe node's web-API). */
export async function openGrid(config: NodeConfig, options: OpenGridOptions = {}): Promise<Grid> {
  if (config.lafsd.grid === 'webapi') {
    const url = config.lafsd.webapiUrl ?? config.nodeUrl;
    if (!url) throw new ConfigError(`${config.file}: [lafsd] webapi.url: required when grid = webapi`);
    // Loaded only here: its HTTP client (undici) adds ~18 MiB to a process that never uses it.
    const { WebApiGrid } = await import('../grid/webapi/index.js');
    const bg = options.background;
    if (!bg) return WebApiGrid.open(url, webapiOptions(config));
    const grid = new WebApiGrid(url, webapiOptions(config));
    try {
      await grid.probe();
    } catch (err) {
      if (!(err instanceof GridError) || err.code !== 'UNAVAILABLE') {
        await grid.close();
        throw new GridError(err instanceof GridError ? err.code : 'INVALID', `cannot open the web-API backend: ${(err as Error).message}`, { cause: err });
      }
      bg.unavailable(err, 1000);
      grid.waitReady((e, retryInMs) => bg.unavailable(e, retryInMs)).then(() => bg.ready(), (e: Error) => bg.failed(e));
      return grid;
    }
    bg.ready();
    return grid;
  }
  return EmbeddedGrid.open({
    storeDir: config.lafsd.storeDir,
    convergenceSecret: await readConvergenceSecret(config.basedir),
    reserveBytes: config.lafsd.storeReserve,
  });
}
