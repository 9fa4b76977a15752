// Starts lafsd's FTP frontend alone on an embedded store, for bench/ftp.sh (until `lafsd run`
// can be used): node .build-ftp/bench/ftp-server.js STORE_DIR USER PASSWORD [PORT]
// Prints one JSON line {"port":N} when listening; stops cleanly on SIGTERM/SIGINT.
// FTP_TLS=1 in the environment adds a self-signed certificate (explicit FTPS, tls = optional).
import { writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { FileAuthenticator, hashPassword } from '../src/auth/index.js';
import { generateSelfSignedCert, startFtpServer, type Logger } from '../src/ftp/index.js';
import { EmbeddedGrid } from '../src/grid/embedded/index.js';
import { OpenFiles, VfsSession } from '../src/vfs/index.js';

const [storeDir, user, password, portText] = process.argv.slice(2);
if (!storeDir || !user || !password) {
  console.error('usage: ftp-server STORE_DIR USER PASSWORD [PORT]');
  process.exit(2);
}

const quiet: Logger = { info() {}, warn() {}, debug() {}, error: (o, m) => console.error(m, JSON.stringify(o)) };
const grid = await EmbeddedGrid.open({ storeDir: join(storeDir, 'store'), convergenceSecret: Buffer.alloc(32, 7) });
const rootCap = await grid.createDirectory();
const spillDir = join(storeDir, 'spill');
mkdirSync(spillDir, { recursive: true, mode: 0o700 });
const accounts = join(storeDir, 'accounts');
writeFileSync(accounts, `${user} ${await hashPassword(password)} ${rootCap}\n`, { mode: 0o600 });
const authenticator = await FileAuthenticator.open({ path: accounts, logger: quiet, watch: false });
const openFiles = new OpenFiles();
const server = await startFtpServer({
  host: '127.0.0.1',
  port: Number(portText ?? 0),
  authenticator,
  openSession: (account) => new VfsSession({ grid, rootCap: account.rootCap, username: account.username, openFiles, spillDir }),
  logger: quiet,
  ...(process.env.FTP_TLS === '1' ? { tls: await generateSelfSignedCert('127.0.0.1') } : {}),
});
console.log(JSON.stringify({ port: server.address.port }));

const stop = async () => {
  await server.close();
  authenticator.close();
  await grid.close();
  process.exit(0);
};
process.on('SIGTERM', () => void stop());
process.on('SIGINT', () => void stop());
