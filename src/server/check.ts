// `lafsd check-config BASEDIR`, as `sshd -t`: everything `lafsd run` would refuse at start, and
// what would make it unsafe, found without starting anything or changing any file. Problems
// name file and line where there is one; the exit status says whether `lafsd run` would start.
import { X509Certificate } from 'node:crypto';
import { existsSync, promises as fsp } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { AuthError, parseAccounts } from '../auth/index.js';
import {
  ConfigError, listenerEndpoints, loadNodeConfig, readIni, type Endpoint, type NodeConfig, type SectionName,
} from '../config/index.js';
import { FtpTls, ftpSettings } from '../ftp/index.js';
import { isLocked, readPidFile } from '../node/lock.js';
import { CONVERGENCE_FILE } from '../node/nodedir.js';
import { loadHostKeys } from '../ssh/index.js';

export interface CheckReport {
  /** `lafsd run` would refuse to start, or would run unsafely (world-readable secrets). */
  problems: string[];
  /** Worth fixing, but the node runs. */
  warnings: string[];
  /** What was not checked, and why. */
  notes: string[];
}

export async function checkNode(basedir: string): Promise<CheckReport> {
  const report: CheckReport = { problems: [], warnings: [], notes: [] };
  let config: NodeConfig;
  try {
    config = loadNodeConfig(basedir);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    report.problems.push(...err.problems);
    report.notes.push('accounts, keys and ports were not checked: fix tahoe.cfg first');
    return report;
  }
  const lineOf = await configLines(config);
  await checkAccounts(config, report);
  await checkSecrets(config, report);
  await checkPorts(config, lineOf, report);
  await checkBackend(config, report);
  return report;
}

type LineOf = (section: SectionName, key: string) => string;

async function configLines(config: NodeConfig): Promise<LineOf> {
  const { doc } = readIni(await fsp.readFile(config.file, 'utf8'), config.file);
  return (section, key) => {
    const line = doc.sections.get(section)?.values.get(key)?.line;
    return line === undefined ? config.file : `${config.file}:${line}`;
  };
}

/** The accounts files of the enabled frontends: every bad line, plain passwords, permissions. */
async function checkAccounts(config: NodeConfig, report: CheckReport): Promise<void> {
  const files = new Set<string>();
  if (config.sftpd.enabled && config.sftpd.accountsFile) files.add(config.sftpd.accountsFile);
  if (config.ftpd.enabled && config.ftpd.accountsFile) files.add(config.ftpd.accountsFile);
  for (const file of files) {
    let bytes: Buffer;
    try {
      bytes = await fsp.readFile(file);
    } catch (err) {
      report.problems.push(`${file}: cannot read the accounts file (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
      continue;
    }
    try {
      const parsed = parseAccounts(bytes, file);
      report.warnings.push(...parsed.warnings);
      if (parsed.accounts.size === 0) report.warnings.push(`${file}: no accounts yet (lafsd add-user ${config.basedir} NAME)`);
    } catch (err) {
      if (!(err instanceof AuthError)) throw err;
      report.problems.push(...(err.problems.length ? err.problems : [err.message]));
    }
    await checkMode(file, 'the accounts file (password hashes)', report);
  }
}

/** Host key (and its public half), FTPS certificate and key, convergence secret. */
async function checkSecrets(config: NodeConfig, report: CheckReport): Promise<void> {
  const s = config.sftpd;
  if (s.enabled && s.hostPrivkeyFile) {
    try {
      await loadHostKeys(s.hostPrivkeyFile, s.hostPubkeyFile);
    } catch (err) {
      report.problems.push(`[sftpd] host_privkey_file: ${(err as Error).message}`);
    }
    await checkMode(s.hostPrivkeyFile, 'the SSH host key', report);
  }
  const f = config.ftpd;
  if (f.enabled && f.tlsCertFile && f.tlsKeyFile) {
    const ftpsOn = f.tls !== 'off';
    try {
      const settings = await ftpSettings(f);
      try {
        new FtpTls(settings.tls!); // refuses a key that does not belong to the certificate
      } catch (err) {
        const why = ((err as Error).cause as Error | undefined)?.message ?? (err as Error).message;
        throw new Error(`[ftpd] tls_cert_file, tls_key_file: ${f.tlsCertFile} and ${f.tlsKeyFile} cannot be used: ${why}`);
      }
      const cert = new X509Certificate(settings.tls!.certPem);
      const now = Date.now();
      const expiry = Date.parse(cert.validTo);
      const what = `[ftpd] tls_cert_file: ${f.tlsCertFile}`;
      const notice = (text: string) => (ftpsOn ? report.problems : report.warnings).push(text);
      if (expiry < now) notice(`${what} expired on ${cert.validTo}`);
      else if (Date.parse(cert.validFrom) > now) notice(`${what} is not valid before ${cert.validFrom}`);
      else if (expiry - now < 30 * 86_400_000) report.warnings.push(`${what} expires on ${cert.validTo}`);
    } catch (err) {
      (ftpsOn ? report.problems : report.warnings).push((err as Error).message);
    }
    await checkMode(f.tlsKeyFile, 'the FTPS private key', report);
  }
  if (config.lafsd.grid === 'embedded' && existsSync(join(config.basedir, CONVERGENCE_FILE))) {
    await checkMode(join(config.basedir, CONVERGENCE_FILE), 'the convergence secret', report);
  }
}

/** A secret readable by every user of the machine is a problem; by the group, a warning. */
async function checkMode(path: string, what: string, report: CheckReport): Promise<void> {
  let mode: number;
  try {
    mode = (await fsp.stat(path)).mode & 0o777;
  } catch {
    return; // unreadable or missing files are reported by the check that reads them
  }
  const octal = mode.toString(8).padStart(3, '0');
  if (mode & 0o004) report.problems.push(`${path}: ${what} is readable by every user (mode ${octal}); chmod 600 it`);
  else if (mode & 0o040) report.warnings.push(`${path}: ${what} is readable by its group (mode ${octal}); chmod 600 it unless that is meant`);
}

/** Every listener's address can be bound now, unless this node's server is the one holding them. */
async function checkPorts(config: NodeConfig, lineOf: LineOf, report: CheckReport): Promise<void> {
  let running = false;
  try {
    running = isLocked(config.basedir);
  } catch (err) {
    // Another user may be unable to open the lock file; the ports tell the rest.
    report.notes.push(`could not tell whether lafsd runs on this node (${(err as Error).message})`);
  }
  if (running) {
    const pid = readPidFile(config.basedir);
    report.notes.push(`lafsd${pid === undefined ? '' : ` (PID ${pid})`} is running on this node: its ports were not checked`);
    return;
  }
  for (const [section, key, ep] of listenerEndpoints(config)) {
    if (ep.port === 0) continue; // any free port
    const problem = await bindProblem(ep);
    if (problem) report.problems.push(`${lineOf(section, key)}: [${section}] ${key}: ${ep.text}: ${problem}`);
  }
}

function bindProblem(ep: Endpoint): Promise<string | undefined> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once('error', (err: NodeJS.ErrnoException) => {
      switch (err.code) {
        case 'EADDRINUSE':
          return resolve(`port ${ep.port} is in use by another program`);
        case 'EACCES':
          return resolve(`port ${ep.port} needs privileges (below 1024: give lafsd CAP_NET_BIND_SERVICE, or use a port above 1023)`);
        case 'EADDRNOTAVAIL':
          return resolve(`${ep.host} is not an address of this machine`);
        default:
          return resolve(`cannot listen: ${err.message}`);
      }
    });
    probe.listen({ host: ep.host, port: ep.port, exclusive: true }, () => probe.close(() => resolve(undefined)));
  });
}

/** The embedded store's folder; the Tahoe node of the web-API backend (a warning: it may be down now). */
async function checkBackend(config: NodeConfig, report: CheckReport): Promise<void> {
  if (config.lafsd.grid === 'embedded') {
    if (!existsSync(join(config.lafsd.storeDir, 'store.db'))) report.warnings.push(`${config.lafsd.storeDir}: no store yet; \`lafsd run\` creates it`);
    return;
  }
  const url = config.lafsd.webapiUrl ?? config.nodeUrl;
  if (!url) return; // loadNodeConfig already refused this
  const { WebApiGrid } = await import('../grid/webapi/index.js');
  const grid = new WebApiGrid(url, { timeoutMs: 5_000 });
  try {
    await grid.probe();
  } catch (err) {
    report.warnings.push(`[lafsd] webapi.url: ${(err as Error).message} (\`lafsd run\` refuses to start while it is not reachable)`);
  } finally {
    await grid.close();
  }
}

