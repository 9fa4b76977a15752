// One `session` channel of an authenticated connection. We run exactly one thing on it: the
// `sftp` subsystem, or `df -P -k /` (sshfs asks for it). Everything else gets a one-line
// refusal on stderr and exit status 1, as Tahoe's frontend does.
import type { ServerChannel, Session } from 'ssh2';
import { DF_COMMAND, formatDf } from './df.js';
import type { Logger, SshServerOptions, SshSessionInfo } from './types.js';

export const REFUSAL =
  'This server supports only the SFTP protocol. It does not support SCP, interactive shell sessions, ' +
  'or commands other than one needed by sshfs.\r\n';

export interface SessionContext {
  logger: Logger;
  connectionId: string;
  onSftp: SshServerOptions['onSftp'];
  diskUsage: SshServerOptions['diskUsage'];
  /** Logs a refusal (the first of its kind on the connection; the others are counted). */
  refused(msg: string, fields: Record<string, string>): void;
  /** Builds the per-channel info (with its own cork accounting) once a channel exists. */
  makeInfo(channel: ServerChannel): SshSessionInfo;
}

export function serveSession(session: Session, ctx: SessionContext): void {
  const log = (fields: object, msg: string) => ctx.logger.info({ conn: ctx.connectionId, ...fields }, msg);
  const accept = (a: (() => void) | undefined) => a?.();
  const refuse = (r: (() => void) | undefined) => r?.();

  // Terminal set-up that OpenSSH and sshfs may send first: harmless, so accepted as no-ops.
  session.on('pty', (a) => accept(a));
  session.on('window-change', (a) => accept(a));
  // No environment, no agent or X11 forwarding, no signals (as Tahoe: no handler → refused).
  session.on('env', (_a, r) => refuse(r));
  session.on('auth-agent', (_a, r) => refuse(r));
  session.on('x11', (_a, r) => refuse(r));
  session.on('signal', (_a, r) => refuse(r));

  session.on('subsystem', (a, r, info) => {
    if (info.name !== 'sftp') {
      ctx.refused('ssh subsystem refused', { subsystem: bounded(info.name) });
      refuse(r);
      return;
    }
    const channel = a();
    if (!channel) return;
    const sessionInfo = ctx.makeInfo(channel);
    log({}, 'ssh sftp session started');
    try {
      ctx.onSftp(channel, sessionInfo);
    } catch (err) {
      ctx.logger.error({ conn: ctx.connectionId, err: String(err) }, 'ssh sftp handler threw');
      channel.destroy();
    }
  });

  session.on('exec', (a, _r, info) => {
    const channel = a();
    if (!channel) return;
    if (info.command.trim() === DF_COMMAND) {
      answerDf(channel, ctx);
      return;
    }
    ctx.refused('ssh exec refused', { command: bounded(info.command) });
    refuseChannel(channel);
  });

  session.on('shell', (a) => {
    const channel = a();
    if (!channel) return;
    ctx.refused('ssh shell refused', {});
    refuseChannel(channel);
  });
}

function answerDf(channel: ServerChannel, ctx: SessionContext): void {
  ctx
    .diskUsage(ctx.makeInfo(channel))
    .then(
      (usage) => {
        channel.write(formatDf(usage));
        endChannel(channel, 0);
      },
      (err: unknown) => {
        ctx.logger.warn({ conn: ctx.connectionId, err: String(err) }, 'ssh df: disk usage unavailable');
        channel.stderr.write('df: cannot read the disk usage of the store\r\n');
        endChannel(channel, 1);
      },
    )
    .catch((err: unknown) => ctx.logger.error({ conn: ctx.connectionId, err: String(err) }, 'ssh df failed'));
}

function refuseChannel(channel: ServerChannel): void {
  channel.stderr.write(REFUSAL);
  endChannel(channel, 1);
}

/**
 * exit-status, then EOF and CLOSE (ssh2's end() on a server channel sends both), as sshd ends
 * every session channel; without the status, `ssh` exits 255 and scp/restic report failure.
 */
export function endChannel(channel: ServerChannel, status: number): void {
  channel.exit(status);
  channel.end();
}

function bounded(s: string): string {
  return s.length > 200 ? `${s.slice(0, 200)}…` : s;
}
