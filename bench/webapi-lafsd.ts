// The end-to-end half of bench/webapi.sh: a real `lafsd run` on the web-API backend (a fresh
// node with `grid = webapi` and the given URL, its account's root made on that node), and the
// OpenSSH `sftp` client uploading and downloading one file through it. Times are wall-clock
// times of whole `sftp -b` runs (SSH handshake included, as curl's connection is in its time).
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** lafsd's compiled CLI: LAFSD_MAIN, else the one built beside this file, else dist/. */
function lafsdMain(): string {
  const candidates = [process.env.LAFSD_MAIN, fileURLToPath(new URL('../src/cli/main.js', import.meta.url)), resolve('dist/src/cli/main.js')];
  const found = candidates.find((p): p is string => p !== undefined && p !== '' && existsSync(p));
  if (!found) throw new Error('lafsd is not built: run `npx tsc -b` or set LAFSD_MAIN to its main.js');
  return found;
}
// As bench/sftp.sh: one fast AEAD cipher, so the numbers compare across the benches.
const CIPHER = 'aes128-gcm@openssh.com';

export interface LafsdSftpTimes {
  upMs: number;
  downMs: number;
}

function exec(cmd: string, args: string[]): Promise<string> {
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

async function sha256(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** Starts `lafsd run` and resolves with its SFTP port once it listens. */
function startLafsd(main: string, basedir: string): Promise<{ port: number; stop(): Promise<void> }> {
  const child = spawn(process.execPath, [main, 'run', basedir], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
  };
  let log = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => void stop().then(() => reject(new Error(`lafsd did not start:\n${log}`))), 20_000);
    child.stderr.on('data', (d: Buffer) => (log += d.toString()));
    child.stdout.on('data', (d: Buffer) => {
      log += d.toString();
      for (const line of log.split('\n')) {
        try {
          const j = JSON.parse(line) as { msg?: string; frontend?: string; port?: number };
          if (j.frontend === 'sftp' && j.msg?.endsWith(' listening') && j.port) {
            clearTimeout(timer);
            resolve({ port: j.port, stop });
            return;
          }
        } catch {
          // not a whole JSON line yet
        }
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`lafsd exited ${code}:\n${log}`));
    });
  });
}

/** Uploads `file` through lafsd on the web-API at `url` with OpenSSH sftp, downloads it back, checks it. */
export async function benchLafsdSftp(url: string, file: string, digest: string, work: string): Promise<LafsdSftpTimes> {
  const MAIN = lafsdMain();
  const basedir = join(work, 'node');
  await exec(process.execPath, [MAIN, 'init', basedir, '--sftp-port', 'tcp:0:interface=127.0.0.1', '--ftp-port', 'tcp:0:interface=127.0.0.1']);
  const cfgPath = join(basedir, 'tahoe.cfg');
  const cfg = readFileSync(cfgPath, 'utf8')
    .replace(/^grid = embedded$/m, `grid = webapi\nwebapi.url = ${url}`)
    .replace(/(\[ftpd\][^[]*?)enabled = true/, '$1enabled = false');
  writeFileSync(cfgPath, cfg);
  // The embedded store `init` made is never used on this node.
  rmSync(join(basedir, 'storage'), { recursive: true, force: true });
  const key = join(work, 'id_ed25519');
  await exec('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', key]);
  await exec(process.execPath, [MAIN, 'add-user', basedir, 'bench', '--pubkey', `${key}.pub`]); // the root is made on the node
  const lafsd = await startLafsd(MAIN, basedir);
  try {
    const sftp = async (command: string): Promise<number> => {
      const batch = join(work, 'batch');
      writeFileSync(batch, `${command}\n`);
      const t0 = process.hrtime.bigint();
      await exec('sftp', [
        '-q', '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'BatchMode=yes', '-o', 'LogLevel=ERROR',
        '-o', `Ciphers=${CIPHER}`, '-i', key, '-P', String(lafsd.port), '-b', batch, 'bench@127.0.0.1',
      ]);
      return Number(process.hrtime.bigint() - t0) / 1e6;
    };
    const down = join(work, 'down.bin');
    const upMs = await sftp(`put ${file} data.bin`);
    const downMs = await sftp(`get data.bin ${down}`);
    if ((await sha256(down)) !== digest) throw new Error('the file downloaded through lafsd differs from the one uploaded');
    rmSync(down);
    return { upMs, downMs };
  } finally {
    await lafsd.stop();
  }
}
