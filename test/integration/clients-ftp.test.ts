// FTP and FTPS clients against the real `lafsd run`: rclone over FTPS (Go's crypto/tls and
// jlaffaye/ftp, several connections at once), wget (mirror, resume) and ncftp.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { startLafsd } from '../helpers/lafsd.js';
import { run, type RunResult } from '../helpers/run.js';
import { assertSameTree, clientTree, succeeded, UTF8_DIR } from '../helpers/client-tree.js';
import { tempDir } from '../helpers/tmp.js';

// FTPS on, with the session-reuse check off: rclone resumes one TLS session on all its
// connections, which that check refuses (issue #9).
const node = await startLafsd({
  rewriteConfig: (cfg) => cfg.replace(/^tls = off$/m, 'tls = optional\ntls_require_session_reuse = false\nimplicit_port = tcp:0:interface=127.0.0.1'),
});

function rclone(args: string[], timeoutMs = 180_000): Promise<RunResult> {
  return run('rclone', ['--config', '/dev/null', '--retries', '1', '--low-level-retries', '1', ...args], { timeoutMs });
}

test('rclone over FTPS (explicit, then implicit): sync a tree with --transfers 4, check, copy back, move, delete, mkdir/rmdir', async () => {
  const t = clientTree('rclone-ftps');
  const pass = (await rclone(['obscure', node.password])).stdout.toString().trim();
  const common = `host=127.0.0.1,user=${node.user},pass=${pass},no_check_certificate=true`;
  const explicit = `:ftp,${common},port=${node.ftpPort},explicit_tls=true:rclone-ftps`;
  const implicit = `:ftp,${common},port=${node.ftpsPort},tls=true:rclone-ftps`;

  succeeded(await rclone(['sync', t.tree, explicit, '--transfers', '4', '--checkers', '4']), 'rclone sync up');
  succeeded(await rclone(['check', '--download', t.tree, explicit, '--transfers', '4', '--checkers', '4']), 'rclone check --download');
  const back = join(tempDir('lafsd-rclone-ftps-back-'), 'back');
  succeeded(await rclone(['copy', implicit, back, '--transfers', '4']), 'rclone copy down (implicit FTPS)');
  assertSameTree(back, t.tree, 'rclone FTPS');

  succeeded(await rclone(['moveto', `${explicit}/small.txt`, `${explicit}/moved.txt`]), 'rclone moveto');
  succeeded(await rclone(['deletefile', `${explicit}/empty`]), 'rclone deletefile');
  succeeded(await rclone(['mkdir', `${explicit}/made`]), 'rclone mkdir');
  assert.match((await rclone(['lsf', explicit])).stdout.toString(), /^made\/$/m);
  succeeded(await rclone(['rmdir', `${explicit}/made`]), 'rclone rmdir');
  const listed = succeeded(await rclone(['lsf', '-R', explicit]), 'rclone lsf').stdout.toString().split('\n').filter(Boolean).sort();
  assert.deepEqual(listed, ['big.bin', 'moved.txt', 'sub/', 'sub/deeper/', 'sub/deeper/x.txt', `${UTF8_DIR}/`, `${UTF8_DIR}/grüße €.txt`].sort());

  const log = node.log();
  assert.doesNotMatch(log, /"msg":"ftp data connection TLS refused"/);
  assert.doesNotMatch(log, /"op":"stor"[^\n]*"result":"(?!ok)/, 'every upload ended ok');
});
