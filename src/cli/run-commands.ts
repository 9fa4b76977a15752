// `lafsd run`, `lafsd quickstart` (what `npm start` runs) and `lafsd sftp-server --stdio`.
import { promises as fsp } from 'node:fs';
import { userInfo } from 'node:os';
import { join, resolve } from 'node:path';
import type { Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { parseAccounts } from '../auth/index.js';
import { CONFIG_FILE, loadNodeConfig } from '../config/index.js';
import { initNode, openGrid } from '../node/nodedir.js';
import { createLogger } from '../server/log.js';
import { checkNode } from '../server/check.js';
import { SessionFactory, startServer, type RunningServer } from '../server/server.js';
import { runSftpSession } from '../sftp/session.js';
import { StdioStream } from '../sftp/stdio.js';
import { addUserCommand, accountsFileOf } from './account-commands.js';
import { UsageError } from './usage.js';

/**
 * Runs until SIGTERM/SIGINT; SIGHUP reloads accounts. Resolves with the exit status. The signal
 * handlers are in place before anything starts: a SIGTERM during startup stops the server as
 * soon as it is up (cleanly, rather than by the default action), and a SIGHUP then is ignored
 * (the accounts are being read anyway) instead of killing the process.
 */
export async function runCommand(basedir: string): Promise<number> {
  const config = loadNodeConfig(basedir);
  const logger = createLogger();
  let server: RunningServer | undefined;
  let requested: string | undefined;
  let stop: ((signal: string) => void) | undefined;
  const onStop = (signal: string) => (stop ? stop(signal) : (requested ??= signal));
  const onReload = () => {
    if (server) void server.reload().catch((err) => logger.error({ err }, 'reload failed'));
  };
  process.on('SIGTERM', () => onStop('SIGTERM'));
  process.on('SIGINT', () => onStop('SIGINT'));
  process.on('SIGHUP', onReload);
  server = await startServer(config, logger);
  const running = server;
  if (!config.sftpd.enabled && !config.ftpd.enabled) logger.warn({}, 'no frontend is enabled in tahoe.cfg: nothing to serve');
  return new Promise((resolve) => {
    let stopping = false;
    stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      logger.info({ signal }, 'stopping');
      running.close().then(
        () => {
          logger.info({}, 'stopped');
          logger.flush?.();
          resolve(0);
        },
        (err) => {
          logger.error({ err }, 'stop failed');
          resolve(1);
        },
      );
    };
    if (requested) stop(requested);
  });
}

/**
 * `lafsd check-config BASEDIR`: checks what `lafsd run` would check, and more, without starting
 * anything. Problems (stderr) make the exit status 1; warnings alone leave it 0.
 */
export async function checkConfigCommand(basedir: string, out: Writable, err: Writable): Promise<number> {
  const report = await checkNode(basedir);
  for (const p of report.problems) err.write(`${p}\n`);
  for (const w of report.warnings) err.write(`warning: ${w}\n`);
  for (const n of report.notes) err.write(`note: ${n}\n`);
  const base = resolve(basedir);
  if (report.problems.length) {
    err.write(`${base}: ${report.problems.length} problem${report.problems.length === 1 ? '' : 's'}; \`lafsd run\` would refuse to start or run unsafely\n`);
    return 1;
  }
  out.write(`${base}: configuration OK\n`);
  return 0;
}

/** `npm start`: a ready node in BASEDIR (created with a first account when missing), then run. */
export async function quickstartCommand(basedir: string): Promise<number> {
  const exists = await fsp.access(join(basedir, CONFIG_FILE)).then(() => true, () => false);
  if (!exists) {
    await initNode(basedir);
    const name = userInfo().username.replace(/\s+/g, '_') || 'user';
    process.stderr.write(`created node ${basedir} with an account for ${name}:\n`);
    await addUserCommand(basedir, name, {}, process.stdin, { write: () => true } as never, process.stderr);
    const config = loadNodeConfig(basedir);
    process.stderr.write(
      `\nconnect with:\n  sftp -P ${config.sftpd.port.port} ${name}@127.0.0.1\n` +
        `  lftp -u ${name} ftp://127.0.0.1:${config.ftpd.port.port}\n` +
        `accounts: ${accountsFileOf(config)} (lafsd add-user ${basedir} NAME adds more)\n\n`,
    );
  }
  return runCommand(basedir);
}

/**
 * One SFTP session over stdin/stdout for an account of the node, so lafsd can run as an
 * OpenSSH `Subsystem sftp` (OpenSSH authenticated the user) or under `sftp -D`.
 */
export async function sftpStdioCommand(basedir: string, username: string): Promise<number> {
  const config = loadNodeConfig(basedir);
  // stdout carries the protocol: logs go to stderr.
  const logger = createLogger({ pretty: false, fd: 2, level: process.env.LAFSD_LOG_LEVEL ?? 'warn' }).child({ frontend: 'sftp-stdio' });
  const accountsFile = accountsFileOf(config);
  const rootCap = parseAccounts(await fsp.readFile(accountsFile), accountsFile).accounts.get(username)?.rootCap;
  if (!rootCap) throw new UsageError(`no account named ${username} in ${accountsFile}`);
  const grid = await openGrid(config);
  const spillDir = join(config.basedir, 'tmp');
  const sessions = new SessionFactory(grid, spillDir, logger, config.lafsd.maxFileSize, config.lafsd.transferMemory);
  const vfs = sessions.open({ username, rootCap }, 'sftp', 'stdio');
  const stream = StdioStream.ofProcess();
  const output = stream.output;
  await runSftpSession(stream, vfs, { logger, cork: () => output.cork(), uncork: () => output.uncork() }).done;
  await finished(output).catch(() => {});
  await grid.close();
  // `sftp -D` waits for this process to exit; nothing else may keep it alive.
  process.exit(0);
}
