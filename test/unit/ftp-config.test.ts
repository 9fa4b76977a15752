// The [ftpd] keys of the FTP frontend: FTPS policy, certificate, implicit port, timeouts, the
// rules between them, how they become server options, and the certificate `lafsd init` makes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, parseNodeConfig } from '../../src/config/index.js';
import { ftpSettings, generateSelfSignedCert } from '../../src/ftp/index.js';

const BASE = '/srv/node';
const FILE = '/srv/node/tahoe.cfg';
const parse = (text: string) => parseNodeConfig(text, BASE, FILE);

function problems(text: string): string[] {
  try {
    parse(text);
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return [...err.problems];
  }
  return [];
}

test('[ftpd] FTPS and timeout keys are read and typed', () => {
  const c = parse(`[ftpd]
tls = required
tls_cert_file = private/ftps.crt
tls_key_file = /etc/lafsd/ftps.key
implicit_port = tcp:8990:interface=127.0.0.1
idle_timeout = 5m
data_timeout = 20
`);
  assert.equal(c.ftpd.tls, 'required');
  assert.equal(c.ftpd.tlsCertFile, '/srv/node/private/ftps.crt');
  assert.equal(c.ftpd.tlsKeyFile, '/etc/lafsd/ftps.key');
  assert.deepEqual(c.ftpd.implicitPort, { family: 4, port: 8990, host: '127.0.0.1', text: 'tcp:8990:interface=127.0.0.1' });
  assert.equal(c.ftpd.idleTimeout, 300_000);
  assert.equal(c.ftpd.dataTimeout, 20_000);
  assert.equal(c.ftpd.tlsRequireSessionReuse, true, 'data connections must resume the session by default');
  assert.equal(parse('[ftpd]\ntls_require_session_reuse = false\n').ftpd.tlsRequireSessionReuse, false);
  const d = parse('');
  for (const key of ['tls', 'tlsCertFile', 'tlsKeyFile', 'implicitPort', 'idleTimeout', 'dataTimeout'] as const) {
    assert.equal(d.ftpd[key], undefined, `${key} unset by default (the server applies its defaults)`);
  }
});

test('[ftpd] bad values and contradictions are reported with their line', () => {
  assert.deepEqual(problems('[ftpd]\ntls = maybe\n'), [`${FILE}:2: [ftpd] tls: "maybe" is not one of 'off', 'optional', 'required'`]);
  assert.deepEqual(problems('[ftpd]\ntls_cert_file = c.pem\n'), [`${FILE}:2: [ftpd] tls_cert_file, tls_key_file: set both or neither`]);
  assert.deepEqual(problems('[ftpd]\n\ntls_key_file = k.pem\n'), [`${FILE}:3: [ftpd] tls_cert_file, tls_key_file: set both or neither`]);
  assert.deepEqual(problems('[ftpd]\ntls = required\n'), [`${FILE}:2: [ftpd] tls: required needs tls_cert_file and tls_key_file (\`lafsd init\` creates a self-signed pair)`]);
  assert.deepEqual(problems('[ftpd]\ntls = off\n'), [], 'off needs nothing');
  assert.deepEqual(problems('[ftpd]\nimplicit_port = tcp:990\n'), [`${FILE}:2: [ftpd] implicit_port: implicit FTPS needs tls_cert_file and tls_key_file, and tls not off`]);
  assert.deepEqual(problems('[ftpd]\ntls = off\ntls_cert_file = c\ntls_key_file = k\nimplicit_port = tcp:990\n'), [
    `${FILE}:5: [ftpd] implicit_port: implicit FTPS needs tls_cert_file and tls_key_file, and tls not off`,
  ]);
  assert.equal(problems('[ftpd]\nidle_timeout = 1s\n').length, 1, 'below the minimum');
  assert.equal(problems('[ftpd]\ndata_timeout = 2h\n').length, 1, 'above the maximum');
  assert.equal(problems('[ftpd]\nimplicit_port = 990\n').length, 1, 'not an endpoint');
});

test('ftpSettings: [ftpd] becomes server options; certificate files are read, bad ones named', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lafsd-ftp-settings-'));
  try {
    const { certPem, keyPem } = await generateSelfSignedCert('ftp.example.org');
    writeFileSync(join(dir, 'c.pem'), certPem);
    writeFileSync(join(dir, 'k.pem'), keyPem);
    writeFileSync(join(dir, 'junk.pem'), 'not a certificate');
    const c = parseNodeConfig(`[ftpd]
port = tcp:2121:interface=127.0.0.1:backlog=7
tls = required
tls_cert_file = c.pem
tls_key_file = k.pem
tls_require_session_reuse = no
implicit_port = tcp:2990
passive_ports = 50000-50010
passive_address = 198.51.100.4
idle_timeout = 2m
data_timeout = 5s
`, dir, join(dir, 'tahoe.cfg'));
    assert.deepEqual(await ftpSettings(c.ftpd), {
      host: '127.0.0.1', port: 2121, backlog: 7,
      tls: { certPem, keyPem }, tlsMode: 'required', tlsRequireSessionReuse: false,
      implicit: { host: '0.0.0.0', port: 2990 },
      passivePorts: { min: 50000, max: 50010 }, passiveAddress: '198.51.100.4',
      limits: { idleTimeoutMs: 120_000, dataTimeoutMs: 5000 },
    });
    assert.deepEqual(await ftpSettings(parseNodeConfig('', dir, join(dir, 'tahoe.cfg')).ftpd), { host: '127.0.0.1', port: 8021, tlsRequireSessionReuse: true, limits: {} });
    const junk = parseNodeConfig('[ftpd]\ntls_cert_file = junk.pem\ntls_key_file = k.pem\n', dir, join(dir, 'tahoe.cfg'));
    await assert.rejects(ftpSettings(junk.ftpd), /\[ftpd\] tls_cert_file: .*junk\.pem holds no PEM certificate/);
    const missing = parseNodeConfig('[ftpd]\ntls_cert_file = c.pem\ntls_key_file = gone.pem\n', dir, join(dir, 'tahoe.cfg'));
    await assert.rejects(ftpSettings(missing.ftpd), /\[ftpd\] tls_key_file: cannot read .*gone\.pem: ENOENT/);
    const swapped = parseNodeConfig('[ftpd]\ntls_cert_file = k.pem\ntls_key_file = c.pem\n', dir, join(dir, 'tahoe.cfg'));
    await assert.rejects(ftpSettings(swapped.ftpd), /holds no PEM certificate/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('generateSelfSignedCert: an ECDSA P-256 certificate for the name, matching its key; clear errors', async () => {
  const { certPem, keyPem } = await generateSelfSignedCert('node.example.org');
  const cert = new X509Certificate(certPem);
  assert.equal(cert.subject, 'CN=node.example.org');
  assert.equal(cert.subjectAltName, 'DNS:node.example.org');
  assert.ok(cert.checkPrivateKey(createPrivateKey(keyPem)));
  assert.equal(cert.publicKey.asymmetricKeyType, 'ec');
  const years = (Date.parse(cert.validTo) - Date.now()) / (365 * 24 * 3600 * 1000);
  assert.ok(years > 9.9 && years < 10.1, `valid ten years: ${cert.validTo}`);
  assert.equal(new X509Certificate((await generateSelfSignedCert('127.0.0.1')).certPem).subjectAltName, 'IP Address:127.0.0.1');
  await assert.rejects(generateSelfSignedCert('bad name; rm -rf /'), /not a host name or address/);
  await assert.rejects(generateSelfSignedCert('x.org', { openssl: '/nonexistent/openssl' }), /`openssl` command is not installed/);
});
