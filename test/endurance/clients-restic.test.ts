// restic (0.14, Go's pkg/sftp over the OpenSSH client, key login) against the real `lafsd run`:
// a repository on lafsd through a whole life — init, two backups of the tree with the 20 MiB
// file, check --read-data, restore, forget --prune, check. restic gives up on a channel that
// closes without an exit status (issue #9), and writes with many requests in flight.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startLafsd } from '../helpers/lafsd.js';
import { run, type RunResult } from '../helpers/run.js';
import { assertSameTree, clientTree, succeeded } from '../helpers/client-tree.js';
import { tempDir } from '../helpers/tmp.js';

const node = await startLafsd();
const cache = tempDir('lafsd-restic-cache-');

// restic starts the OpenSSH client itself: the key user, no known_hosts, the SFTP subsystem.
const ssh = [
  'ssh', '-p', String(node.sftpPort), '-i', node.keyFile, '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null',
  '-o', 'BatchMode=yes', '-o', 'LogLevel=ERROR', `${node.keyUser}@127.0.0.1`, '-s', 'sftp',
].join(' ');

function restic(args: string[]): Promise<RunResult> {
  return run('restic', ['-r', `sftp:${node.keyUser}@127.0.0.1:/restic-repo`, '-o', `sftp.command=${ssh}`, '--cache-dir', cache, ...args], {
    env: { ...process.env, RESTIC_PASSWORD: 'restic test password' },
    timeoutMs: 180_000,
  });
}

test('restic over SFTP: init, backup twice, check --read-data, restore, forget --prune, check', async () => {
  const t = clientTree('restic');
  succeeded(await restic(['init']), 'restic init');
  succeeded(await restic(['backup', '--host', 'test', t.tree]), 'restic backup 1');
  writeFileSync(join(t.tree, 'sub', 'second.txt'), 'in the second snapshot only\n');
  succeeded(await restic(['backup', '--host', 'test', t.tree]), 'restic backup 2');
  const snapshots = JSON.parse(succeeded(await restic(['snapshots', '--json']), 'restic snapshots').stdout.toString()) as { id: string }[];
  assert.equal(snapshots.length, 2);
  succeeded(await restic(['check', '--read-data']), 'restic check --read-data');

  const target = tempDir('lafsd-restic-restore-');
  succeeded(await restic(['restore', 'latest', '--target', target]), 'restic restore');
  assertSameTree(join(target, t.tree), t.tree, 'restic restore');

  succeeded(await restic(['forget', '--keep-last', '1', '--prune']), 'restic forget --prune');
  const left = JSON.parse(succeeded(await restic(['snapshots', '--json']), 'restic snapshots after forget').stdout.toString()) as { id: string }[];
  assert.deepEqual(left.map((s) => s.id), [snapshots[1]!.id]);
  succeeded(await restic(['check', '--read-data']), 'restic check after prune');
});
