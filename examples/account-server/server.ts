// Example account service for `accounts.url`: a small HTTP server backed by SQLite that
// answers lafsd's (and old Tahoe's) login POST with the user's root cap, or `0`.
//
//   node dist/examples/account-server/server.js --db FILE [--listen 127.0.0.1:0]
//        [--add USER PASSWORD ROOTCAP]… [--hash scrypt|argon2id|bcrypt]
//
// The first line on stdout is the bound URL. With --add and no --listen it adds and exits.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { pino } from 'pino';
import { isDirectory, parseCap, formatCap } from '../../src/caps/index.js';
import { hashPassword, verifyDummy, verifyPassword, type HashKind } from '../../src/auth/passwords.js';
import type { AuthLogger } from '../../src/auth/logger.js';
import { silentLogger } from '../../src/auth/logger.js';
import { parseForm } from './form.js';

const MAX_BODY_BYTES = 64 * 1024;

type Db = InstanceType<typeof Database>;

export function openAccountDb(file: string): Db {
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.exec('CREATE TABLE IF NOT EXISTS users (email TEXT PRIMARY KEY, password_hash TEXT NOT NULL, rootcap TEXT NOT NULL)');
  return db;
}

/** Adds or replaces a user. The root cap must be a directory cap; the password is stored hashed. */
export async function addUser(db: Db, email: string, password: string, rootcap: string, kind: HashKind = 'scrypt'): Promise<void> {
  const cap = parseCap(rootcap);
  if (!isDirectory(cap)) throw new Error('root cap must be a directory cap (URI:DIR2…)');
  if (!email || /[\s\u0000-\u001f\u007f]/.test(email)) throw new Error('email must be non-empty, without spaces or control characters');
  const hash = await hashPassword(password, kind);
  db.prepare('INSERT OR REPLACE INTO users (email, password_hash, rootcap) VALUES (?, ?, ?)').run(email, hash, formatCap(cap));
}

export interface AccountServerOptions {
  /** SQLite file (created if missing), or `:memory:`. */
  db: string;
  /** `HOST:PORT`, `[IPV6]:PORT`. Default `127.0.0.1:0` (a free port on loopback). */
  listen?: string;
  logger?: AuthLogger;
  /** Hash kind for addUser. Default scrypt. */
  hashKind?: HashKind;
}

export interface AccountServer {
  /** Base URL to put in `accounts.url`, e.g. `http://127.0.0.1:41234/`. */
  url: string;
  addUser(email: string, password: string, rootcap: string): Promise<void>;
  removeUser(email: string): void;
  close(): Promise<void>;
}

function parseListen(listen: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(listen);
  if (!m || Number(m[3]) > 65535) throw new Error(`--listen must be HOST:PORT, not ${JSON.stringify(listen)}`);
  return { host: m[1] ?? (m[2] || '127.0.0.1'), port: Number(m[3]) };
}

function readBody(req: IncomingMessage): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    req.on('data', (chunk: Buffer) => {
      total += chunk.length;
      if (total > MAX_BODY_BYTES) {
        resolve(undefined);
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function reply(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' });
  res.end(`${text}\n`);
}

export async function startAccountServer(opts: AccountServerOptions): Promise<AccountServer> {
  const log = opts.logger ?? silentLogger;
  const db = openAccountDb(opts.db);
  const lookup = db.prepare<[string], { password_hash: string; rootcap: string }>('SELECT password_hash, rootcap FROM users WHERE email = ?');

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const address = req.socket.remoteAddress;
    if (req.method !== 'POST') return reply(res, 405, 'POST a login form');
    // A declared oversize body is refused before reading it; an undeclared one is cut off.
    if (Number(req.headers['content-length'] ?? 0) > MAX_BODY_BYTES) {
      res.setHeader('connection', 'close');
      return reply(res, 413, 'request too large');
    }
    const body = await readBody(req);
    if (!body) return;
    const form = parseForm(req.headers['content-type'], body);
    if (!form) return reply(res, 400, 'expected multipart/form-data or application/x-www-form-urlencoded');
    if (form.get('action') !== 'authenticate') return reply(res, 400, 'unknown action');
    const email = form.get('email');
    const passwd = form.get('passwd');
    if (email === undefined || passwd === undefined) return reply(res, 400, 'missing email or passwd');
    const row = lookup.get(email);
    // Unknown users cost one hash too, so the answer time does not reveal who exists.
    const ok = row ? await verifyPassword(row.password_hash, passwd) : await verifyDummy(passwd);
    log.info({ user: email, address, result: ok ? 'ok' : row ? 'bad-password' : 'unknown-user' }, 'login');
    reply(res, 200, ok && row ? row.rootcap : '0');
  }

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      log.error({ error: err instanceof Error ? err.message : String(err) }, 'request failed');
      if (!res.headersSent) reply(res, 500, 'internal error');
      else res.destroy();
    });
  });
  const { host, port } = parseListen(opts.listen ?? '127.0.0.1:0');
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const bound = server.address() as AddressInfo;
  const hostText = bound.family === 'IPv6' ? `[${bound.address}]` : bound.address;
  return {
    url: `http://${hostText}:${bound.port}/`,
    addUser: (email, password, rootcap) => addUser(db, email, password, rootcap, opts.hashKind),
    removeUser: (email) => {
      db.prepare('DELETE FROM users WHERE email = ?').run(email);
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => {
          db.close();
          resolve();
        });
        server.closeAllConnections();
      }),
  };
}

interface Cli {
  db?: string;
  listen?: string;
  adds: [string, string, string][];
  hash: HashKind;
}

function parseArgs(argv: string[]): Cli {
  const cli: Cli = { adds: [], hash: 'scrypt' };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const need = (n: number) => {
      if (i + n >= argv.length) throw new Error(`${a} needs ${n} argument(s)`);
      const out = argv.slice(i + 1, i + 1 + n);
      i += n;
      return out;
    };
    if (a === '--db') cli.db = need(1)[0];
    else if (a === '--listen') cli.listen = need(1)[0];
    else if (a === '--add') cli.adds.push(need(3) as [string, string, string]);
    else if (a === '--hash') {
      const h = need(1)[0];
      if (h !== 'scrypt' && h !== 'argon2id' && h !== 'bcrypt') throw new Error('--hash must be scrypt, argon2id or bcrypt');
      cli.hash = h;
    } else throw new Error(`unknown argument ${JSON.stringify(a)}`);
  }
  if (!cli.db) throw new Error('--db FILE is required');
  return cli;
}

async function main(argv: string[]): Promise<void> {
  let cli: Cli;
  try {
    cli = parseArgs(argv);
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\nusage: server.js --db FILE [--listen HOST:PORT] [--add USER PASSWORD ROOTCAP]… [--hash scrypt|argon2id|bcrypt]\n`);
    process.exit(2);
  }
  if (cli.adds.length) {
    const db = openAccountDb(cli.db!);
    for (const [user, pw, cap] of cli.adds) await addUser(db, user, pw, cap, cli.hash);
    db.close();
    if (cli.listen === undefined) return;
  }
  // Logs go to stderr so stdout carries only the URL.
  const logger = pino(pino.destination(2));
  const server = await startAccountServer({ db: cli.db!, listen: cli.listen ?? '127.0.0.1:0', logger, hashKind: cli.hash });
  process.stdout.write(`${server.url}\n`);
  const stop = () => void server.close().then(() => process.exit(0));
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

function isMain(): boolean {
  try {
    return !!process.argv[1] && realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isMain()) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    process.stderr.write(`account server: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
