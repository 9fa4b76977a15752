// Shared fixture for the FTP integration tests: the real FTP server in-process on 127.0.0.1:0,
// over a real embedded store holding Tahoe's fixture tree, with a real FileAuthenticator (hashed
// passwords in a temp accounts file), a recording logger, and a raw control-connection client
// for the protocol-level checks. Real clients (curl, lftp, basic-ftp) are driven by the tests.
import { writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { after } from 'node:test';
import { FileAuthenticator, hashPassword, type AdmitResult, type Defender, type FailureReason } from '../../src/auth/index.js';
import { readCapOf } from '../../src/caps/index.js';
import { generateSelfSignedCert, startFtpServer, type CertificatePair, type FtpLimits, type RunningFtpServer, type TlsMode } from '../../src/ftp/index.js';
import { OpenFiles, VfsSession, parsePath } from '../../src/vfs/index.js';
import { openTestGrid, testBackend, type Backend } from '../helpers/backend.js';
import type { FakeTahoe } from '../helpers/fake-tahoe/index.js';
import { buildFixture, buildTree, type FixtureTree } from '../helpers/fixture.js';
import { tempDir } from '../helpers/tmp.js';

export const HOST = '127.0.0.1';
export const ALICE = { user: 'alice', password: 'correct horse battery staple' };
/** Logs into a read-only cap of the same root. */
export const READER = { user: 'reader', password: 'only looking' };
/** Has only a public key: cannot log into FTP. */
export const KEYONLY = { user: 'keyonly' };
const ED25519 = 'AAAAC3NzaC1lZDI1NTE5AAAAIKe1qA+JIq+aZp+LDj+l0Swzem7zJNvjhlGgXlb7vfET';

import { RecordingLogger } from '../helpers/recording-logger.js';

export { RecordingLogger, type LogEntry } from '../helpers/recording-logger.js';

export class RecordingDefender implements Defender {
  admitAll = true;
  readonly failures: { addr: string; reason: FailureReason }[] = [];
  readonly releases: { addr: string; authenticated: boolean }[] = [];
  readonly admits: string[] = [];
  readonly closes: string[] = [];
  admission(addr: string): AdmitResult {
    this.admits.push(addr);
    return this.admitAll ? 'ok' : 'banned';
  }
  closed(addr: string) {
    this.closes.push(addr);
  }
  release(addr: string, authenticated: boolean) {
    this.releases.push({ addr, authenticated });
  }
  recordFailure(addr: string, reason: FailureReason) {
    this.failures.push({ addr, reason });
  }
  recordSuccess() {}
}

let certPromise: Promise<CertificatePair> | undefined;
export function testCert(): Promise<CertificatePair> {
  certPromise ??= generateSelfSignedCert('127.0.0.1');
  return certPromise;
}

export interface HarnessOptions {
  tls?: boolean;
  tlsMode?: TlsMode;
  /** Server option tlsRequireSessionReuse (default: the server's, true). */
  tlsRequireSessionReuse?: boolean;
  implicit?: boolean;
  limits?: Partial<FtpLimits>;
  passivePorts?: { min: number; max: number };
  defender?: Defender;
  /** Grid under the server (default: LAFSD_TEST_BACKEND, else embedded). */
  backend?: Backend;
}

export interface Harness {
  f: FixtureTree;
  server: RunningFtpServer;
  port: number;
  implicitPort?: number;
  openFiles: OpenFiles;
  logger: RecordingLogger;
  defender: RecordingDefender;
  sessions: VfsSession[];
  /** A vfs session of alice's, to check what the server did. */
  check: VfsSession;
  /** The stand-in Tahoe node when the backend is webapi. */
  fake?: FakeTahoe;
  url(path?: string, user?: { user: string; password: string }): string;
  /** Bytes of a file as the vfs sees them (to check what the server stored). */
  content(path: string): Promise<Buffer>;
}

/** Starts a server on a fresh fixture tree; everything is stopped when the test file ends. */
export async function startHarness(opts: HarnessOptions = {}): Promise<Harness> {
  const backend = opts.backend ?? testBackend();
  const webapi = backend !== 'embedded' ? await openTestGrid(backend) : undefined;
  let f: FixtureTree;
  try {
    f = webapi ? await buildTree(webapi.grid) : await buildFixture();
  } catch (err) {
    await webapi?.close(); // the stand-in node and its temp folder go even when the tree fails
    throw err;
  }
  const dir = tempDir('lafsd-ftp-');
  const accounts = join(dir, 'accounts');
  writeFileSync(
    accounts,
    [
      `${ALICE.user} ${await hashPassword(ALICE.password)} ${f.root}`,
      `${READER.user} ${await hashPassword(READER.password)} ${readCapOf(f.root)}`,
      `${KEYONLY.user} ssh-ed25519 ${ED25519} laptop ${f.root}`,
      '',
    ].join('\n'),
    { mode: 0o600 },
  );
  const logger = new RecordingLogger();
  const authenticator = await FileAuthenticator.open({ path: accounts, logger, watch: false });
  const openFiles = new OpenFiles();
  const spillDir = tempDir('lafsd-ftp-spill-');
  const sessions: VfsSession[] = [];
  const defender = (opts.defender as RecordingDefender | undefined) ?? new RecordingDefender();
  const cert = opts.tls || opts.implicit ? await testCert() : undefined;
  const server = await startFtpServer({
    host: HOST,
    port: 0,
    ...(opts.implicit ? { implicit: { host: HOST, port: 0 } } : {}),
    authenticator,
    defender,
    openSession: (account) => {
      const s = new VfsSession({ grid: f.grid, rootCap: account.rootCap, username: account.username, openFiles, spillDir });
      sessions.push(s);
      return s;
    },
    ...(cert ? { tls: cert } : {}),
    ...(opts.tlsMode ? { tlsMode: opts.tlsMode } : {}),
    ...(opts.tlsRequireSessionReuse !== undefined ? { tlsRequireSessionReuse: opts.tlsRequireSessionReuse } : {}),
    ...(opts.passivePorts ? { passivePorts: opts.passivePorts } : {}),
    limits: { loginGraceMs: 20_000, ...opts.limits },
    logger,
  });
  const check = new VfsSession({ grid: f.grid, rootCap: f.root, username: 'check', openFiles, spillDir });
  after(async () => {
    await server.close();
    await check.close();
    authenticator.close();
    await (webapi ? webapi.close() : f.grid.close());
  });
  const port = server.address.port;
  return {
    f, server, port, openFiles, logger, defender, sessions, check,
    ...(webapi?.fake ? { fake: webapi.fake } : {}),
    ...(server.implicitAddress ? { implicitPort: server.implicitAddress.port } : {}),
    url: (path = '/', user = ALICE) => `ftp://${encodeURIComponent(user.user)}:${encodeURIComponent(user.password)}@${HOST}:${port}${path}`,
    content: async (path) => {
      const file = await check.open(parsePath(path), { read: true });
      try {
        return await file.read(0, 1 << 30);
      } finally {
        await check.closeFile(file);
      }
    },
  };
}

// --- running client programs -----------------------------------------------------------------

/** Runs a program (never a shell) and collects its output; killed after `timeoutMs`. */
import { run, type RunResult } from '../helpers/run.js';

export { run, type RunResult };

export function curl(args: string[], opts: { timeoutMs?: number; input?: Buffer; cwd?: string } = {}): Promise<RunResult> {
  return run('curl', ['-sS', '--connect-timeout', '10', '--max-time', '60', ...args], opts);
}

/** lftp with a script; `tls` forces FTPS with our self-signed certificate. */
export function lftp(port: number, user: { user: string; password: string }, script: string, opts: { tls?: boolean; cwd?: string; timeoutMs?: number } = {}): Promise<RunResult> {
  const settings = [
    'set net:max-retries 1',
    'set net:timeout 20',
    'set cmd:fail-exit true',
    opts.tls ? 'set ftp:ssl-force true; set ftp:ssl-protect-data true; set ssl:verify-certificate no' : 'set ftp:ssl-allow no',
  ];
  return run('lftp', ['-u', `${user.user},${user.password}`, '-p', String(port), '-e', `${settings.join('; ')}; ${script}; quit`, HOST], {
    ...(opts.cwd ? { cwd: opts.cwd } : {}),
    timeoutMs: opts.timeoutMs ?? 120_000,
  });
}

// --- a raw control connection ----------------------------------------------------------------

export interface Reply {
  code: number;
  /** Every line of the reply, without CRLF (CR NUL and NUL left as sent). */
  lines: string[];
  /** The text of a one-line reply (after `NNN `). */
  text: string;
}

/** A minimal FTP client that shows exactly what the server sends. */
export class RawFtp {
  private buf = '';
  private waiters: (() => void)[] = [];
  closed = false;

  private constructor(public sock: Socket | TLSSocket) {
    this.listen(sock);
  }

  private listen(sock: Socket | TLSSocket): void {
    sock.setEncoding('utf8');
    sock.on('data', (d: string) => {
      this.buf += d;
      this.wake();
    });
    sock.on('error', () => {});
    sock.on('close', () => {
      this.closed = true;
      this.wake();
    });
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  static async connect(port: number, opts: { localAddress?: string; tls?: boolean } = {}): Promise<RawFtp> {
    const sock = await new Promise<Socket | TLSSocket>((resolve, reject) => {
      const s = opts.tls
        ? tlsConnect({ host: HOST, port, rejectUnauthorized: false, ...(opts.localAddress ? { localAddress: opts.localAddress } : {}) }, () => resolve(s))
        : connect({ host: HOST, port, ...(opts.localAddress ? { localAddress: opts.localAddress } : {}) }, () => resolve(s));
      s.once('error', reject);
    });
    const c = new RawFtp(sock);
    return c;
  }

  /** Connects and reads the greeting. */
  static async open(port: number, opts: { localAddress?: string; tls?: boolean } = {}): Promise<RawFtp> {
    const c = await RawFtp.connect(port, opts);
    const greeting = await c.read();
    if (greeting.code !== 220) throw new Error(`greeting ${greeting.lines.join('|')}`);
    return c;
  }

  /** The next complete reply; rejects when the connection closes first or after `timeoutMs`. */
  async read(timeoutMs = 10_000): Promise<Reply> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const r = this.parse();
      if (r) return r;
      if (this.closed) throw new Error(`connection closed; unread: ${JSON.stringify(this.buf)}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no reply in time; unread: ${JSON.stringify(this.buf)}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  private parse(): Reply | undefined {
    const lines: string[] = [];
    let pos = 0;
    for (;;) {
      const end = this.buf.indexOf('\r\n', pos);
      if (end < 0) return undefined;
      const line = this.buf.slice(pos, end);
      pos = end + 2;
      lines.push(line);
      const first = lines[0]!;
      const m = /^(\d{3})([ -])/.exec(first);
      if (!m) throw new Error(`bad reply line ${JSON.stringify(first)}`);
      if (m[2] === ' ' || (lines.length > 1 && line.startsWith(`${m[1]} `))) {
        this.buf = this.buf.slice(pos);
        return { code: Number(m[1]), lines, text: lines.length === 1 ? first.slice(4) : '' };
      }
    }
  }

  /** Bytes left unread (for checking nothing else was sent). */
  get pending(): string {
    return this.buf;
  }

  write(data: string | Buffer): void {
    this.sock.write(data);
  }

  async cmd(line: string | Buffer): Promise<Reply> {
    this.write(typeof line === 'string' ? `${line}\r\n` : Buffer.concat([line, Buffer.from('\r\n')]));
    return this.read();
  }

  async login(user: { user: string; password: string } = ALICE): Promise<void> {
    const u = await this.cmd(`USER ${user.user}`);
    if (u.code !== 331) throw new Error(`USER: ${u.lines.join('|')}`);
    const p = await this.cmd(`PASS ${user.password}`);
    if (p.code !== 230) throw new Error(`PASS: ${p.lines.join('|')}`);
  }

  /** EPSV and the port it names. */
  async epsv(): Promise<number> {
    const r = await this.cmd('EPSV');
    const m = /\(\|\|\|(\d+)\|\)/.exec(r.text);
    if (r.code !== 229 || !m) throw new Error(`EPSV: ${r.lines.join('|')}`);
    return Number(m[1]);
  }

  /** AUTH TLS on this connection (RFC 4217). */
  async startTls(): Promise<void> {
    const r = await this.cmd('AUTH TLS');
    if (r.code !== 234) throw new Error(`AUTH TLS: ${r.lines.join('|')}`);
    const plain = this.sock as Socket;
    plain.removeAllListeners('data');
    plain.removeAllListeners('close');
    const secure = await new Promise<TLSSocket>((resolve, reject) => {
      const s = tlsConnect({ socket: plain, rejectUnauthorized: false }, () => resolve(s));
      s.once('error', reject);
    });
    this.sock = secure;
    this.listen(secure);
  }

  close(): void {
    this.sock.destroy();
  }
}

/** Opens a data connection to `port` and collects everything it sends. */
export async function dataConnect(port: number, opts: { localAddress?: string } = {}): Promise<{ sock: Socket; received: Promise<Buffer> }> {
  const sock = await new Promise<Socket>((resolve, reject) => {
    const s = connect({ host: HOST, port, ...(opts.localAddress ? { localAddress: opts.localAddress } : {}) }, () => resolve(s));
    s.once('error', reject);
  });
  const received = new Promise<Buffer>((resolve) => {
    const chunks: Buffer[] = [];
    sock.on('data', (d: Buffer) => chunks.push(d));
    sock.on('error', () => {});
    sock.on('close', () => resolve(Buffer.concat(chunks)));
  });
  return { sock, received };
}

export function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** STOR/APPE/STOU over EPSV: the opening reply and the final one (or the refusal twice). */
export async function upload(c: RawFtp, verb: string, data: Buffer): Promise<{ opening: Reply; done: Reply }> {
  const port = await c.epsv();
  const d = await dataConnect(port);
  const opening = await c.cmd(verb);
  if (opening.code !== 150) {
    d.sock.destroy();
    return { opening, done: opening };
  }
  d.sock.on('error', () => {}); // the server may close first when it refuses mid-transfer
  d.sock.end(data);
  return { opening, done: await c.read() };
}
