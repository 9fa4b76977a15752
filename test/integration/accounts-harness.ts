// Shared by the accounts*.test.ts files: password logins with the real clients against
// `lafsd run` (OpenSSH `sftp` through SSH_ASKPASS, `curl` for FTP), optionally from another
// loopback source address, and helpers to read and wait on the server's JSON log.
import { spawn } from 'node:child_process';
import { chmodSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { join } from 'node:path';
import { after } from 'node:test';
import { parseForm } from '../../examples/account-server/form.js';
import type { Lafsd } from '../helpers/lafsd.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';

export { waitFor };

export interface LoginResult {
  ok: boolean;
  code: number | null;
  /** Wall time of the whole client run. */
  ms: number;
  stdout: string;
  stderr: string;
}

const scratch = tempDir('lafsd-accounts-');
const askpass = join(scratch, 'askpass.sh');
// The password comes from the environment, so no password is ever written into a file or argv.
writeFileSync(askpass, '#!/bin/sh\nprintf \'%s\\n\' "$LAFSD_TEST_PASSWORD"\n');
chmodSync(askpass, 0o700);
let batchNo = 0;

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv, input: string | undefined, timeoutMs: number): Promise<LoginResult> {
  const t0 = Date.now();
  const child = spawn(cmd, args, { cwd: scratch, env, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdin.on('error', () => {});
  child.stdin.end(input ?? '');
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  return new Promise((resolve) => {
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ ok: code === 0, code, ms: Date.now() - t0, stdout, stderr });
    });
  });
}

export interface LoginOptions {
  /** Client source address, e.g. 127.0.0.2 (Linux routes all of 127/8 to lo). */
  from?: string;
  /** sftp batch commands; default `pwd` and `ls`. */
  commands?: string[];
  timeoutMs?: number;
  /** Extra `-o` options for sftp; they come first, so they win over the defaults. */
  sshOptions?: string[];
}

/** A password login with OpenSSH's `sftp`: one password attempt, no keys, no agent. */
export function sftpLogin(node: Lafsd, user: string, password: string, opts: LoginOptions = {}): Promise<LoginResult> {
  const batch = join(scratch, `batch-${batchNo++}`);
  writeFileSync(batch, `${(opts.commands ?? ['pwd', 'ls']).join('\n')}\n`);
  // Options before -b win (ssh takes the first value), so BatchMode stays off for askpass.
  const args = [
    ...(opts.sshOptions ?? []).flatMap((o) => ['-o', o]),
    '-o', 'BatchMode=no', '-o', 'PubkeyAuthentication=no', '-o', 'PreferredAuthentications=password',
    '-o', 'NumberOfPasswordPrompts=1', '-o', 'IdentityAgent=none', '-o', 'StrictHostKeyChecking=no',
    '-o', 'UserKnownHostsFile=/dev/null', '-o', 'LogLevel=ERROR',
    ...(opts.from ? ['-o', `BindAddress=${opts.from}`] : []),
    '-P', String(node.sftpPort), '-b', batch, `${user}@127.0.0.1`,
  ];
  const env = { ...process.env, SSH_ASKPASS: askpass, SSH_ASKPASS_REQUIRE: 'force', DISPLAY: ':0', LAFSD_TEST_PASSWORD: password };
  return run('sftp', args, env, undefined, opts.timeoutMs ?? 30_000);
}

/** A password login with `curl` over FTP that lists the root. The credentials go in on stdin. */
export function ftpLogin(node: Lafsd, user: string, password: string, opts: LoginOptions = {}): Promise<LoginResult> {
  const args = ['-sS', '--max-time', String(Math.ceil((opts.timeoutMs ?? 30_000) / 1000)), '-K', '-'];
  if (opts.from) args.push('--interface', opts.from);
  args.push(`ftp://127.0.0.1:${node.ftpPort}/`);
  const config = `user = "${user}:${password}"\n`;
  return run('curl', args, process.env, config, (opts.timeoutMs ?? 30_000) + 5000);
}

export interface LogLine {
  msg?: string;
  level?: number;
  [key: string]: unknown;
}

export function logLines(node: Lafsd): LogLine[] {
  const out: LogLine[] = [];
  for (const line of node.log().split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      out.push(JSON.parse(line) as LogLine);
    } catch {
      // a line still being written
    }
  }
  return out;
}

export function countLog(node: Lafsd, msg: string | RegExp): number {
  return logLines(node).filter((l) => (typeof msg === 'string' ? l.msg === msg : msg.test(l.msg ?? ''))).length;
}

/** Waits until the server logged `msg` more often than `before` times. */
export function waitForLog(node: Lafsd, msg: string | RegExp, before: number, timeoutMs = 10_000): Promise<void> {
  return waitFor(`log ${String(msg)}`, () => countLog(node, msg) > before, timeoutMs);
}

/** Sends SIGHUP and waits for the server's reload verdict; resolves true when it reloaded. */
export async function sighup(node: Lafsd): Promise<boolean> {
  const ok = countLog(node, 'accounts reloaded');
  const bad = countLog(node, /^accounts not reloaded/);
  node.process.kill('SIGHUP');
  await waitFor('a reload after SIGHUP', () => countLog(node, 'accounts reloaded') > ok || countLog(node, /^accounts not reloaded/) > bad);
  return countLog(node, 'accounts reloaded') > ok;
}

export type Behaviour = (res: ServerResponse, req: IncomingMessage) => void;

export interface TestService {
  url: string;
  /** Users asked for, in order. */
  asked: string[];
  close(): Promise<void>;
}

/**
 * A stand-in account service whose answer depends on the user name (`behaviours`); unknown
 * names get `0`. Closed when the test file ends.
 */
export async function startTestService(behaviours: Record<string, Behaviour>): Promise<TestService> {
  const asked: string[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (d: Buffer) => chunks.push(d));
    req.on('end', () => {
      const form = parseForm(req.headers['content-type'], Buffer.concat(chunks));
      const user = form?.get('email') ?? '';
      asked.push(user);
      const b = behaviours[user];
      if (b) b(res, req);
      else res.end('0\n');
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const close = () =>
    new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    });
  after(close);
  return { url: `http://127.0.0.1:${port}/login`, asked, close };
}

/** Fails with the server log when a password shows up in it. */
export function assertNoSecretsLogged(node: Lafsd, secrets: string[]): void {
  const log = node.log();
  for (const s of secrets) {
    if (log.includes(s)) throw new Error(`secret ${JSON.stringify(s)} appears in the server log`);
  }
}
