// The lafsd half of bench/webapi.sh: a fresh node with `grid = webapi` and the given URL, SFTP
// and FTP on loopback ports, one key account and one password account sharing one root (made on
// that node), run as `lafsd run`.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { shebangNodeFlags } from '../test/helpers/cli.js';

/** lafsd's compiled CLI: LAFSD_MAIN, else the one built beside this file, else dist/. */
function lafsdMain(): string {
  const candidates = [process.env.LAFSD_MAIN, fileURLToPath(new URL('../src/cli/main.js', import.meta.url)), resolve('dist/src/cli/main.js')];
  const found = candidates.find((p): p is string => p !== undefined && p !== '' && existsSync(p));
  if (!found) throw new Error('lafsd is not built: run `npx tsc -b` or set LAFSD_MAIN to its main.js');
  return found;
}
// As bench/sftp.sh: one fast AEAD cipher, so the numbers compare across the benches.
const CIPHER = 'aes128-gcm@openssh.com';

export function exec(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`${cmd} ${args[0] ?? ''} exited ${code}: ${err.trim()}`))));
  });
}

export interface BenchNode {
  sftpPort: number;
  ftpPort: number;
  /** ssh/sftp options for the key account (key, cipher, no host-key prompts). */
  sshArgs: string[];
  keyUser: string;
  user: string;
  password: string;
  peakRssMiB(): number;
  stop(): Promise<void>;
}

/** Starts `lafsd run` on a fresh node using the web-API at `url`; resolves once SFTP and FTP listen. */
export async function startLafsdNode(url: string, work: string): Promise<BenchNode> {
  const MAIN = lafsdMain();
  // The Node options the `lafsd` command runs with (its #! line), so the bench measures what users run.
  const NODE_FLAGS = shebangNodeFlags(MAIN);
  const basedir = join(work, 'node');
  await exec(process.execPath, [MAIN, 'init', basedir, '--sftp-port', 'tcp:0:interface=127.0.0.1', '--ftp-port', 'tcp:0:interface=127.0.0.1']);
  const cfgPath = join(basedir, 'tahoe.cfg');
  writeFileSync(cfgPath, readFileSync(cfgPath, 'utf8').replace(/^grid = embedded$/m, `grid = webapi\nwebapi.url = ${url}`));
  // The embedded store `init` made is never used on this node.
  rmSync(join(basedir, 'storage'), { recursive: true, force: true });
  const key = join(work, 'id_ed25519');
  await exec('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', key]);
  const root = (await exec(process.execPath, [MAIN, 'add-user', basedir, 'bench', '--pubkey', `${key}.pub`])).trim(); // the root is made on the node
  const password = 'bench-password';
  await exec(process.execPath, [MAIN, 'add-user', basedir, 'benchftp', '--password', password, '--root', root]);

  const child = spawn(process.execPath, [...NODE_FLAGS, MAIN, 'run', basedir], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
  };
  let log = '';
  const ports = await new Promise<{ sftp: number; ftp: number }>((resolve, reject) => {
    const found: Record<string, number> = {};
    const timer = setTimeout(() => void stop().then(() => reject(new Error(`lafsd did not start:\n${log}`))), 30_000);
    child.stderr.on('data', (d: Buffer) => (log += d.toString()));
    child.stdout.on('data', (d: Buffer) => {
      log += d.toString();
      for (const line of log.split('\n')) {
        try {
          const j = JSON.parse(line) as { msg?: string; frontend?: string; port?: number };
          if (j.frontend && j.msg?.endsWith(' listening') && j.port) found[j.frontend] = j.port;
        } catch {
          // not a whole JSON line yet
        }
      }
      if (found.sftp && found.ftp) {
        clearTimeout(timer);
        resolve({ sftp: found.sftp, ftp: found.ftp });
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`lafsd exited ${code}:\n${log}`));
    });
  });
  return {
    sftpPort: ports.sftp,
    ftpPort: ports.ftp,
    sshArgs: [
      '-q', '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'BatchMode=yes', '-o', 'LogLevel=ERROR',
      '-c', CIPHER, '-i', key,
    ],
    keyUser: 'bench',
    user: 'benchftp',
    password,
    peakRssMiB: () => {
      try {
        return Math.round(Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))?.[1] ?? 0) / 1024);
      } catch {
        return 0;
      }
    },
    stop,
  };
}
