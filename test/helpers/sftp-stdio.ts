// Runs one SFTP session on stdin/stdout over an embedded store, so the real OpenSSH client can
// drive it without an SSH layer:
//   sftp -D "node .../sftp-stdio.js STORE SECRETHEX ROOTCAP" -b batch
// STORE is the store folder, SECRETHEX its convergence secret, ROOTCAP the session's root.
// Logs (JSON lines) go to stderr when LAFSD_SFTP_LOG=debug; stdout carries only SFTP.
// LAFSD_SFTP_CORK=idle|tick|none picks the cork strategy (for measurements).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { finished } from 'node:stream/promises';
import { EmbeddedGrid } from '../../src/grid/embedded/index.js';
import { runSftpSession, type SftpLogger } from '../../src/sftp/session.js';
import { StdioStream } from '../../src/sftp/stdio.js';
import type { CorkStrategy } from '../../src/sftp/output.js';
import { OpenFiles, VfsSession } from '../../src/vfs/index.js';

function stderrLogger(): SftpLogger | undefined {
  if (process.env.LAFSD_SFTP_LOG !== 'debug') return undefined;
  const line = (level: string) => (obj: object, msg = '') => process.stderr.write(`${JSON.stringify({ level, msg, ...obj })}\n`);
  return { debug: line('debug'), info: line('info'), warn: line('warn'), error: line('error') };
}

async function main(): Promise<void> {
  const [storeDir, secretHex, rootCap] = process.argv.slice(2);
  if (!storeDir || !secretHex || !rootCap) {
    process.stderr.write('usage: sftp-stdio.js STORE SECRETHEX ROOTCAP\n');
    process.exit(2);
  }
  const grid = await EmbeddedGrid.open({ storeDir, convergenceSecret: Buffer.from(secretHex, 'hex') });
  const spillDir = mkdtempSync(join(tmpdir(), 'lafsd-sftp-stdio-'));
  const vfs = new VfsSession({ grid, rootCap, username: 'stdio', openFiles: new OpenFiles(), spillDir });
  const stream = StdioStream.ofProcess();
  const output = stream.output;
  const logger = stderrLogger();
  const session = runSftpSession(stream, vfs, {
    ...(logger ? { logger } : {}),
    cork: () => output.cork(),
    uncork: () => output.uncork(),
    corkStrategy: (process.env.LAFSD_SFTP_CORK as CorkStrategy | undefined) ?? 'idle',
  });
  await session.done;
  await finished(output).catch(() => {});
  await grid.close();
  rmSync(spillDir, { recursive: true, force: true });
  process.exit(0);
}

main().catch((err: unknown) => {
  process.stderr.write(`sftp-stdio: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
