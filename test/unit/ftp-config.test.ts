// The [ftpd] keys of the FTP frontend: FTPS policy, certificate, implicit port, timeouts, and
// the rules between them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, parseNodeConfig } from '../../src/config/index.js';

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
