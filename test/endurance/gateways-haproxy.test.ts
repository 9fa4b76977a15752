// Two lafsd gateways on one (stand-in) Tahoe node behind HAProxy, run with the example
// configuration examples/load-balancer/haproxy.cfg as shipped: SFTP and FTP (passive data
// connections included) through the balancer, the real client address reaching lafsd through
// the PROXY protocol, so one client's failed logins ban that client and not the balancer (and
// every other client with it), and the balancer's own health checks never count as failures.
// Clients connect from 127.0.0.3 and 127.0.0.4, the balancer listens on 127.0.0.2 and reaches
// the gateways from 127.0.0.1. Skipped (with the reason) where haproxy is not installed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pseudoRandom } from '../helpers/data.js';
import { startGateway, startLafsd } from '../helpers/lafsd.js';
import { run } from '../helpers/run.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';

const HAPROXY = ['/usr/sbin/haproxy', '/usr/local/sbin/haproxy'].find((p) => spawnSync(p, ['-v']).status === 0);
const CONFIG = fileURLToPath(new URL('../../../examples/load-balancer/haproxy.cfg', import.meta.url));
const LB = '127.0.0.2';

function canConnect(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host, port }, () => {
      s.destroy();
      resolve(true);
    });
    s.on('error', () => resolve(false));
  });
}

/** A free port on both 127.0.0.1 and LB, and a free run of ten after a random base. */
async function freeRange(count: number): Promise<number> {
  for (;;) {
    const base = 20_000 + Math.floor(Math.random() * 9_000);
    const ports = Array.from({ length: count }, (_, i) => base + i);
    const busy = await Promise.all(ports.flatMap((p) => [canConnect('127.0.0.1', p), canConnect(LB, p)]));
    if (!busy.some(Boolean)) return base;
  }
}

if (!HAPROXY) {
  test('two gateways behind HAProxy with the example configuration', { skip: 'haproxy is not installed (apt-get install haproxy)' }, () => {});
} else {
  test('two gateways behind HAProxy with the example configuration: SFTP and FTP through it, bans per client and not per balancer, health checks never scored', { timeout: 240_000 }, async () => {
    const base = await freeRange(40);
    const [sftpPort, ftpPort, pasv1, pasv2] = [base, base + 1, base + 10, base + 20];
    // Two failed logins ban an address, so a ban is quick to reach; the balancer sends headers.
    const common = { auth: 'proxy_protocol = 127.0.0.1\ndefender.threshold = 6', ftpd: `passive_address = ${LB}` };
    const first = await startLafsd({ backend: 'webapi', config: { ...common, ftpd: `${common.ftpd}\npassive_ports = ${pasv1}-${pasv1 + 9}` } });
    const second = await startGateway(first, { config: { ...common, ftpd: `${common.ftpd}\npassive_ports = ${pasv2}-${pasv2 + 9}` } });
    const env = {
      ...process.env, LB_ADDR: LB, SFTP_PORT: String(sftpPort), FTP_PORT: String(ftpPort), GW1: '127.0.0.1', GW2: '127.0.0.1',
      GW1_SFTP: String(first.sftpPort), GW2_SFTP: String(second.sftpPort), GW1_FTP: String(first.ftpPort), GW2_FTP: String(second.ftpPort),
      GW1_PASV: `${pasv1}-${pasv1 + 9}`, GW2_PASV: `${pasv2}-${pasv2 + 9}`,
    };
    const lb = spawn(HAPROXY, ['-db', '-f', CONFIG], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let lbLog = '';
    lb.stdout.on('data', (d: Buffer) => (lbLog += d.toString()));
    lb.stderr.on('data', (d: Buffer) => (lbLog += d.toString()));
    const lbExited = new Promise<void>((resolve) => lb.once('exit', () => resolve()));
    try {
      const deadline = Date.now() + 20_000;
      while (!(await canConnect(LB, sftpPort)) || !(await canConnect(LB, ftpPort))) {
        assert.ok(Date.now() < deadline && lb.exitCode === null, `haproxy did not start:\n${lbLog}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      const local = tempDir('lafsd-haproxy-');
      const data = pseudoRandom('through-the-balancer', 700_000);
      writeFileSync(join(local, 'up.bin'), data);
      const creds = `${first.user}:${encodeURIComponent(first.password)}`;
      const ftp = (from: string, args: string[], path: string) =>
        run('curl', ['-sS', '--interface', from, '--connect-timeout', '10', '--max-time', '60', ...args, `ftp://${creds}@${LB}:${ftpPort}${path}`]);

      // SFTP through the balancer (several sessions: both gateways serve some), as the key account.
      for (let i = 0; i < 4; i++) {
        const batch = join(local, `batch${i}`);
        writeFileSync(batch, i === 0 ? `put up.bin sftp.bin\n` : `get sftp.bin back${i}.bin\n`);
        const r = await run('sftp', [
          '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'BatchMode=yes', '-o', 'LogLevel=ERROR',
          '-o', 'BindAddress=127.0.0.3', '-i', first.keyFile, '-P', String(sftpPort), '-b', batch, `${first.keyUser}@${LB}`,
        ], { cwd: local, timeoutMs: 60_000 });
        assert.equal(r.code, 0, r.stderr);
        if (i > 0) assert.deepEqual(readFileSync(join(local, `back${i}.bin`)), data);
      }
      // FTP through the balancer, passive data connections too (EPSV and PASV).
      for (const mode of [[], ['--disable-epsv']]) {
        assert.equal((await ftp('127.0.0.3', [...mode, '-T', join(local, 'up.bin')], '/ftp.bin')).code, 0);
        const back = await ftp('127.0.0.3', mode, '/ftp.bin');
        assert.deepEqual(back.stdout, data, `download ${mode.join(' ')}: ${back.stderr}`);
        assert.match((await ftp('127.0.0.3', [...mode, '-l'], '/')).stdout.toString(), /ftp\.bin/);
      }
      const logs = () => first.log() + second.log();
      assert.match(logs(), /"client":"127\.0\.0\.3"[^\n]*"msg":"ssh connection"/, 'lafsd sees the SFTP client, not the balancer');
      assert.match(logs(), /"client":"127\.0\.0\.3"[^\n]*"msg":"ftp connection"/, 'lafsd sees the FTP client, not the balancer');

      // A client guessing passwords is banned by both gateways; another client is not.
      for (let i = 0; i < 6; i++) await run('curl', ['-sS', '--interface', '127.0.0.4', '--max-time', '20', `ftp://${first.user}:wrong@${LB}:${ftpPort}/`]);
      const banned = await ftp('127.0.0.4', [], '/');
      assert.notEqual(banned.code, 0, 'the guessing client is banned');
      assert.match(logs(), /"client":"127\.0\.0\.4"[^\n]*"msg":"ftp connection refused by defender"/);
      for (let i = 0; i < 4; i++) assert.equal((await ftp('127.0.0.3', ['-l'], '/')).code, 0, 'another client behind the same balancer still logs in');
      // The balancer's health checks (every 5 s, LOCAL headers) never counted: it was never banned.
      await new Promise((r) => setTimeout(r, 6000));
      assert.doesNotMatch(logs(), /"client":"127\.0\.0\.1"[^\n]*(refused by defender|"reason")/, 'the balancer itself is never scored');
      assert.doesNotMatch(lbLog, /is DOWN/, `haproxy never saw a gateway down:\n${lbLog}`);
      // From a balancer's address, a connection without a PROXY header is dropped unanswered:
      // anyone there could otherwise pose as any client.
      const heard = await new Promise<string>((resolve) => {
        let got = '';
        const s = connect({ host: '127.0.0.1', port: first.ftpPort! }, () => s.write('USER alice\r\n'));
        s.on('data', (d: Buffer) => (got += d.toString()));
        s.on('error', () => {});
        s.on('close', () => resolve(got));
      });
      assert.equal(heard, '', 'no greeting without a header');
      // The log line travels through another pipe than the socket's close: wait for it.
      await waitFor('the dropped connection in the log', () => /ftp connection from a load balancer without a PROXY header dropped/.test(first.log()), 5000);
    } finally {
      lb.kill('SIGTERM');
      await lbExited;
    }
  });
}
