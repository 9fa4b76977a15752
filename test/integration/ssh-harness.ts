// Shared fixture for the SSH integration tests: a real server in-process on 127.0.0.1:0 with a
// small Authenticator (one password user, one key user), a recording Defender and logger, and
// an SFTP stand-in that counts and hashes what it receives (or sends data on request).
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import ssh2 from 'ssh2';
import type { Account, AccountKey, AdmitResult, Authenticator, Defender, FailureReason, LoginAttempt } from '../../src/auth/types.js';
import { generateHostKeyPair, startSshServer } from '../../src/ssh/index.js';
import type { DiskUsage, SshLimits, SshSessionInfo } from '../../src/ssh/index.js';

export const PASSWORD_USER = 'alice';
export const PASSWORD = 'correct horse battery staple';
export const KEY_USER = 'bob';
export const ROOT_CAP = 'URI:DIR2:testtesttesttesttesttesttest:testtesttesttesttesttesttesttesttesttesttesttest';
export const DISK: DiskUsage = { totalKiB: 1048576, usedKiB: 262144, availKiB: 786432 };

import { RecordingLogger } from '../helpers/recording-logger.js';

export { RecordingLogger, type LogEntry } from '../helpers/recording-logger.js';

export class RecordingDefender implements Defender {
  admitAll = true;
  readonly calls: string[] = [];
  readonly failures: FailureReason[] = [];
  readonly releases: boolean[] = [];
  admission(addr: string): AdmitResult {
    this.calls.push(`admit ${addr}`);
    return this.admitAll ? 'ok' : 'banned';
  }
  closed(addr: string) {
    this.calls.push(`closed ${addr}`);
  }
  release(addr: string, authenticated: boolean) {
    this.calls.push(`release ${addr} ${authenticated}`);
    this.releases.push(authenticated);
  }
  recordFailure(addr: string, reason: FailureReason) {
    this.calls.push(`failure ${addr} ${reason}`);
    this.failures.push(reason);
  }
  recordSuccess(addr: string) {
    this.calls.push(`success ${addr}`);
  }
}

/** One password user and one key user; every call takes the same fixed time, as the real one must. */
export class TestAuthenticator implements Authenticator {
  readonly passwordCalls: LoginAttempt[] = [];
  readonly keyCalls: { attempt: LoginAttempt; type: string }[] = [];
  constructor(private readonly keys: AccountKey[], private readonly delayMs = 20) {}
  async checkPassword(attempt: LoginAttempt, password: string): Promise<Account | undefined> {
    this.passwordCalls.push(attempt);
    await delay(this.delayMs);
    return attempt.username === PASSWORD_USER && password === PASSWORD ? { username: PASSWORD_USER, rootCap: ROOT_CAP } : undefined;
  }
  async findKey(attempt: LoginAttempt, type: string, blob: Buffer): Promise<Account | undefined> {
    this.keyCalls.push({ attempt, type });
    await delay(this.delayMs);
    const listed = attempt.username === KEY_USER && this.keys.some((k) => k.type === type && k.blob.equals(blob));
    return listed ? { username: KEY_USER, rootCap: ROOT_CAP } : undefined;
  }
}

export const delay = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export { waitFor } from '../helpers/wait.js';

export interface ClientKey {
  path: string;
  privateKey: Buffer;
  key: AccountKey;
}

export class TempDir {
  readonly path = mkdtempSync(join(tmpdir(), 'lafsd-ssh-test-'));
  /** `ssh-keygen` a client key pair; returns the private key path and the accounts-file form. */
  keygen(name: string, type = 'ed25519', extra: string[] = []): ClientKey {
    const path = join(this.path, name);
    execFileSync('ssh-keygen', ['-q', '-t', type, '-N', '', '-C', name, '-f', path, ...extra]);
    const [kt, b64] = readFileSync(`${path}.pub`, 'utf8').trim().split(/\s+/);
    return { path, privateKey: readFileSync(path), key: { type: kt!, blob: Buffer.from(b64!, 'base64') } };
  }
  write(name: string, content: string | Buffer, mode?: number): string {
    const path = join(this.path, name);
    writeFileSync(path, content);
    if (mode !== undefined) chmodSync(path, mode);
    return path;
  }
  remove() {
    rmSync(this.path, { recursive: true, force: true });
  }
}

export interface SftpRecord {
  info: SshSessionInfo;
  /** The server's side of the channel. */
  channel: Duplex;
  bytes: number;
}

/**
 * The stand-in SFTP handler. A channel whose first line is `GET <n>` receives n deterministic
 * bytes and then EOF; any other channel is a sink that answers `<count> <sha256>\n` at EOF.
 */
export function testSftpHandler(records: SftpRecord[]) {
  return (channel: Duplex, info: SshSessionInfo) => {
    const record: SftpRecord = { info, channel, bytes: 0 };
    records.push(record);
    const hash = createHash('sha256');
    let head: Buffer | undefined = Buffer.alloc(0);
    let sending = false;
    channel.on('data', (chunk: Buffer) => {
      // Exercise the cork API the real SFTP session uses: hold writes for this tick.
      info.cork();
      process.nextTick(() => info.uncork());
      if (head !== undefined) {
        head = Buffer.concat([head, chunk]);
        const m = /^GET (\d+)\n/.exec(head.subarray(0, 32).toString('latin1'));
        if (m) {
          head = undefined;
          sending = true;
          void sendPattern(channel, Number(m[1]));
          return;
        }
        if (head.length < 32 && !head.includes(10)) return;
        chunk = head;
        head = undefined;
      }
      record.bytes += chunk.length;
      hash.update(chunk);
    });
    channel.on('end', () => {
      if (sending) return; // the client's EOF after `GET n`; we end when the data is out
      if (head !== undefined) {
        record.bytes += head.length;
        hash.update(head);
      }
      channel.end(`${record.bytes} ${hash.digest('hex')}\n`);
    });
    channel.on('error', () => {});
  };
}

/** Deterministic bytes: block i is 64 KiB of (i mod 251). */
export function pattern(n: number): Buffer {
  const out = Buffer.alloc(n);
  for (let off = 0, i = 0; off < n; off += 65536, i++) out.fill(i % 251, off, Math.min(n, off + 65536));
  return out;
}

async function sendPattern(channel: Duplex, n: number) {
  const block = 65536;
  for (let off = 0, i = 0; off < n; off += block, i++) {
    const chunk = Buffer.alloc(Math.min(block, n - off), i % 251);
    if (!channel.write(chunk)) await new Promise((r) => channel.once('drain', r));
  }
  channel.end();
}

export function sha256(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

export interface TestServer {
  port: number;
  logger: RecordingLogger;
  defender: RecordingDefender;
  auth: TestAuthenticator;
  sftp: SftpRecord[];
  dir: TempDir;
  userKey: ClientKey;
  otherKey: ClientKey;
  hostPublicKey: string;
  close(): Promise<void>;
}

export interface ServerOverrides {
  limits?: Partial<SshLimits>;
  hostKeys?: Buffer[];
  authDelayMs?: number;
  diskUsage?: () => Promise<DiskUsage>;
}

export async function startTestServer(o: ServerOverrides = {}): Promise<TestServer> {
  const dir = new TempDir();
  const userKey = dir.keygen('user_ed25519');
  const otherKey = dir.keygen('other_ed25519');
  const logger = new RecordingLogger();
  const defender = new RecordingDefender();
  const auth = new TestAuthenticator([userKey.key], o.authDelayMs);
  const sftp: SftpRecord[] = [];
  const host = generateHostKeyPair();
  try {
    const server = await startSshServer({
      host: '127.0.0.1',
      port: 0,
      hostKeys: o.hostKeys ?? [Buffer.from(host.privateKey)],
      authenticator: auth,
      defender,
      logger,
      onSftp: testSftpHandler(sftp),
      diskUsage: o.diskUsage ?? (async () => DISK),
      limits: o.limits,
    });
    return {
      port: server.address.port,
      logger,
      defender,
      auth,
      sftp,
      dir,
      userKey,
      otherKey,
      hostPublicKey: host.publicKey,
      async close() {
        await server.close();
        dir.remove();
      },
    };
  } catch (err) {
    dir.remove();
    throw err;
  }
}

/** Options every OpenSSH invocation gets: no user config, no agent, no host-key prompts. */
export function sshBaseArgs(port: number): string[] {
  return [
    '-F', '/dev/null',
    '-o', 'StrictHostKeyChecking=no',
    '-o', 'UserKnownHostsFile=/dev/null',
    '-o', 'GlobalKnownHostsFile=/dev/null',
    '-o', 'IdentityAgent=none',
    '-o', 'IdentitiesOnly=yes',
    '-o', 'ConnectTimeout=10',
    '-p', String(port),
  ];
}

/** `ssh` with key auth as the key user (BatchMode), plus extra args. */
export function sshKeyArgs(s: TestServer, extra: string[], key = s.userKey.path, user = KEY_USER): string[] {
  return [...sshBaseArgs(s.port), '-o', 'BatchMode=yes', '-i', key, '-l', user, ...extra];
}

import { run, type RunResult } from '../helpers/run.js';

export { run, type RunResult };

/** A raw TCP connection; collects everything received until the server closes it. */
export function rawConnect(port: number): Promise<{ sock: Socket; received: () => Buffer; closed: Promise<number> }> {
  return new Promise((resolve, reject) => {
    const sock = connect({ host: '127.0.0.1', port });
    const chunks: Buffer[] = [];
    const start = Date.now();
    sock.on('data', (c: Buffer) => chunks.push(c));
    const closed = new Promise<number>((r) => sock.on('close', () => r(Date.now() - start)));
    sock.on('error', () => {});
    sock.once('connect', () => resolve({ sock, received: () => Buffer.concat(chunks), closed }));
    sock.once('error', reject);
  });
}

export const { Client, BaseAgent, utils } = ssh2;
export type ConnectConfig = ssh2.ConnectConfig;

/** Connect an ssh2 Client; resolves on 'ready', rejects on the first error or a close before it. */
export function clientConnect(cfg: ConnectConfig): Promise<ssh2.Client> {
  return new Promise((resolve, reject) => {
    const c = new Client();
    c.once('ready', () => resolve(c));
    // ssh2 may emit several errors (e.g. an agent error, then "all methods failed"): keep
    // listening so none is uncaught; the first one decides.
    c.on('error', (e) => {
      reject(e);
      c.end();
    });
    c.once('close', () => reject(new Error('closed before ready')));
    c.connect({ host: '127.0.0.1', readyTimeout: 10_000, ...cfg });
  });
}

/** Runs `fn` with a fresh server, closed afterwards whatever happens. */
export async function withServer(fn: (s: TestServer) => Promise<void>, o?: ServerOverrides): Promise<void> {
  const s = await startTestServer(o);
  try {
    await fn(s);
  } finally {
    await s.close();
  }
}
