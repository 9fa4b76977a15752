// Mutable files made by Tahoe itself (`tahoe put --mutable`, SDMF and MDMF), overwritten through
// lafsd over SFTP (OpenSSH sftp) and over FTP (curl): each keeps its cap and format, and Tahoe
// (its CLI, by cap) serves the new content, longer or shorter than before. Opt-in lane: needs a
// real grid whose grid.env names the tahoe command and its client node.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pseudoRandom } from '../helpers/data.js';
import { startLafsd } from '../helpers/lafsd.js';
import { run } from '../helpers/run.js';
import { realGridOrSkip, skipReason } from '../helpers/tahoe-grid.js';
import { tempDir } from '../helpers/tmp.js';

const grid = await realGridOrSkip();
const why = !grid ? await skipReason() : !grid.env.TAHOE || !grid.env.TAHOE_NODE_DIR ? `${grid.source} does not name the tahoe command (TAHOE, TAHOE_NODE_DIR)` : undefined;

if (why !== undefined || !grid) {
  test('mutable files made by tahoe put --mutable, overwritten through lafsd', { skip: why }, () => {});
} else {
  const tahoe = (args: string[], input?: Buffer) => run(grid.env.TAHOE!, ['-d', grid.env.TAHOE_NODE_DIR!, ...args], { timeoutMs: 120_000, ...(input ? { input } : {}) });

  test('SDMF and MDMF files from tahoe put --mutable keep their cap and format when overwritten over SFTP and FTP, and Tahoe serves the new content', { timeout: 600_000 }, async () => {
    const node = await startLafsd({ backend: 'tahoe' });
    const local = tempDir('lafsd-mutable-');
    const cases = [
      { name: 'sdmf-sftp.txt', format: 'SDMF', via: 'sftp' },
      { name: 'sdmf-ftp.txt', format: 'SDMF', via: 'ftp' },
      { name: 'mdmf-sftp.bin', format: 'MDMF', via: 'sftp' },
      { name: 'mdmf-ftp.bin', format: 'MDMF', via: 'ftp' },
    ] as const;
    for (const c of cases) {
      const first = pseudoRandom(`${c.name}-v1`, 200_000);
      writeFileSync(join(local, c.name), first);
      const put = await tahoe(['put', '--mutable', `--format=${c.format}`, join(local, c.name), `${node.rootCap}/${c.name}`]);
      assert.equal(put.code, 0, put.stderr);
      const cap = put.stdout.toString().trim().split(/\s+/).pop()!;
      assert.match(cap, c.format === 'SDMF' ? /^URI:SSK:/ : /^URI:MDMF:/);

      for (const [round, size] of [[2, 350_000], [3, 1234]] as const) {
        const next = pseudoRandom(`${c.name}-v${round}`, size);
        const file = join(local, `${c.name}.v${round}`);
        writeFileSync(file, next);
        if (c.via === 'sftp') {
          const batch = join(local, 'batch');
          writeFileSync(batch, `put ${file} ${c.name}\n`);
          const r = await run('sftp', [
            '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'BatchMode=yes', '-o', 'LogLevel=ERROR',
            '-i', node.keyFile, '-P', String(node.sftpPort), '-b', batch, `${node.keyUser}@127.0.0.1`,
          ], { timeoutMs: 120_000 });
          assert.equal(r.code, 0, r.stderr);
        } else {
          const r = await run('curl', ['-sS', '-T', file, `ftp://${node.user}:${encodeURIComponent(node.password)}@127.0.0.1:${node.ftpPort}/${c.name}`], { timeoutMs: 120_000 });
          assert.equal(r.code, 0, r.stderr);
        }
        // The same cap, the same format, still mutable, as Tahoe lists it...
        const json = JSON.parse((await tahoe(['ls', '--json', `${node.rootCap}/${c.name}`])).stdout.toString()) as [string, { rw_uri?: string; mutable?: boolean; format?: string }];
        assert.deepEqual([json[0], json[1].rw_uri, json[1].mutable, json[1].format], ['filenode', cap, true, c.format], `${c.name} round ${round}`);
        // ...and Tahoe serves the new bytes by that cap.
        const got = await tahoe(['get', cap]);
        assert.equal(got.code, 0, got.stderr);
        assert.ok(got.stdout.equals(next), `${c.name} round ${round}: Tahoe serves the new content (${got.stdout.length} bytes)`);
      }
    }
  });
}
