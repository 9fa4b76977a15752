import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ConfigError, ENDPOINT_FORMS, SCHEMA, loadNodeConfig, parseNodeConfig, renderConfigReference, renderDefaultConfig,
  type Endpoint, type NodeConfig, type OptionSpec, type PortRange,
} from '../../src/config/index.js';

const BASE = '/srv/node';
const FILE = '/srv/node/tahoe.cfg';

const parse = (text: string) => parseNodeConfig(text, BASE, FILE);

function problems(text: string): string[] {
  try {
    parse(text);
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    assert.equal(err.name, 'ConfigError');
    assert.equal(err.message, err.problems.join('\n'));
    return [...err.problems];
  }
  assert.fail('expected a ConfigError');
}

const SFTP_OK = '[sftpd]\nenabled = true\nhost_privkey_file = private/key\naccounts.file = private/accounts\n';

test('an empty file gives every default', () => {
  // The [auth] defaults are checked against the auth classes' own in auth-config-keys.test.ts.
  const { auth, ...c } = parse('');
  assert.equal(typeof auth, 'object');
  assert.deepEqual(c, {
    basedir: BASE,
    file: FILE,
    lafsd: {
      grid: 'embedded', webapiTimeout: 30_000, webapiWriteTimeout: 600_000, storeDir: '/srv/node/storage', storeReserve: 64 * 1024 ** 2,
      transferMemory: 8 * 1024 ** 2, idleCollect: 16 * 1024 ** 2, maxFileSize: 100 * 1024 ** 3,
      gcGracePeriod: 168 * 3_600_000, gcAccountRootRetention: 90 * 86_400_000, gcKeepFile: '/srv/node/private/gc-keep',
    },
    sftpd: { enabled: false, port: { family: 4, port: 8022, host: '127.0.0.1', text: 'tcp:8022:interface=127.0.0.1' } },
    ftpd: { enabled: false, port: { family: 4, port: 8021, host: '127.0.0.1', text: 'tcp:8021:interface=127.0.0.1' }, tlsRequireSessionReuse: true },
  });
});

test('every key is read into the typed config', () => {
  const c = parse(`
[lafsd]
grid = webapi
webapi.url = http://127.0.0.1:3456/
webapi.directory_url = http://10.0.0.5:3456/
webapi.timeout = 45s
webapi.write_timeout = 2m
store = /var/lib/lafsd
store.reserve = 16MiB
transfer_memory = 256M
idle_collect = 0
max_file_size = 2T
gc.grace_period = 24h
gc.account_root_retention = 720h
gc.keep_file = private/keep

[sftpd]
enabled = yes
port = tcp6:2222:interface=\\:\\:1
host_pubkey_file = private/k.pub
host_privkey_file = private/k
accounts.file = private/accounts
accounts.url = https://example.com/login

[ftpd]
enabled = on
port = tcp:0:interface=127.0.0.1:backlog=10
accounts.url = http://localhost:8080/auth
passive_ports = 50000-50100
passive_address = 203.0.113.7
tls_require_session_reuse = off
`);
  assert.deepEqual(c.lafsd, {
    grid: 'webapi', webapiUrl: 'http://127.0.0.1:3456/', webapiDirectoryUrl: 'http://10.0.0.5:3456/', webapiTimeout: 45_000,
    webapiWriteTimeout: 120_000, storeDir: '/var/lib/lafsd', storeReserve: 16 * 1024 ** 2, transferMemory: 256 * 1024 ** 2,
    idleCollect: 0, maxFileSize: 2 * 1024 ** 4,
    gcGracePeriod: 86_400_000, gcAccountRootRetention: 720 * 3_600_000, gcKeepFile: '/srv/node/private/keep',
  });
  assert.equal(parse('[lafsd]\ngc.interval = 24h\n').lafsd.gcInterval, 86_400_000);
  assert.deepEqual(problems('[lafsd]\nwebapi.timeout = 5m\nwebapi.write_timeout = 1m\n'), [
    '/srv/node/tahoe.cfg:3: [lafsd] webapi.write_timeout: must be at least webapi.timeout',
  ]);
  assert.match(problems('[lafsd]\nwebapi.timeout = 0s\n')[0] ?? '', /webapi\.timeout/);
  assert.deepEqual(c.sftpd, {
    enabled: true,
    port: { family: 6, port: 2222, host: '::1', text: 'tcp6:2222:interface=\\:\\:1' },
    hostPubkeyFile: '/srv/node/private/k.pub',
    hostPrivkeyFile: '/srv/node/private/k',
    accountsFile: '/srv/node/private/accounts',
    accountsUrl: 'https://example.com/login',
  });
  assert.deepEqual(c.ftpd, {
    enabled: true,
    port: { family: 4, port: 0, host: '127.0.0.1', backlog: 10, text: 'tcp:0:interface=127.0.0.1:backlog=10' },
    accountsUrl: 'http://localhost:8080/auth',
    passivePorts: { min: 50000, max: 50100 },
    passiveAddress: '203.0.113.7',
    tlsRequireSessionReuse: false,
  });
});

test('the NodeConfig type follows the schema (checked by the compiler)', () => {
  const c: NodeConfig = parse('');
  const grid: 'embedded' | 'webapi' = c.lafsd.grid;
  const port: Endpoint = c.sftpd.port;
  const enabled: boolean = c.ftpd.enabled;
  const range: PortRange | undefined = c.ftpd.passivePorts;
  // @ts-expect-error webapiUrl has no default, so it may be missing
  const url: string = c.lafsd.webapiUrl;
  // @ts-expect-error keys that are not in the schema do not exist
  void c.sftpd.nonsense;
  assert.deepEqual([grid, port.port, enabled, range, url], ['embedded', 8022, false, undefined, undefined]);
});

test('booleans accept every getboolean spelling in any case, and nothing else', () => {
  const spellings: [string, boolean][] = [
    ['1', true], ['yes', true], ['true', true], ['on', true], ['YES', true], ['True', true], ['oN', true],
    ['0', false], ['no', false], ['false', false], ['off', false], ['NO', false], ['False', false], ['OFF', false],
  ];
  for (const [word, want] of spellings) {
    const c = parse(`[ftpd]\nenabled = ${word}\naccounts.file = a\n`);
    assert.equal(c.ftpd.enabled, want, word);
  }
  for (const word of ['2', 'y', 'enabled', 'truee', '']) {
    assert.deepEqual(problems(`[ftpd]\nenabled = ${word}\n`), [
      `${FILE}:2: [ftpd] enabled: ${JSON.stringify(word)} is not a boolean; use true/false, yes/no, on/off or 1/0`,
    ]);
  }
});

test('paths resolve against BASEDIR; absolute kept; ~ not expanded', () => {
  const sftp = (p: string) => parse(`[sftpd]\nhost_privkey_file = ${p}\n`).sftpd.hostPrivkeyFile;
  assert.equal(sftp('private/key'), '/srv/node/private/key');
  assert.equal(sftp('./private/../key'), '/srv/node/key');
  assert.equal(sftp('../elsewhere/key'), '/srv/elsewhere/key');
  assert.equal(sftp('/etc/ssh/key'), '/etc/ssh/key');
  assert.equal(sftp('~/key'), '/srv/node/~/key');
  assert.equal(parseNodeConfig('', 'rel/node', 'x').lafsd.storeDir, join(process.cwd(), 'rel/node/storage'));
  assert.equal(parseNodeConfig('', 'rel/node', 'x').basedir, join(process.cwd(), 'rel/node'));
  assert.deepEqual(problems('[lafsd]\nstore =\n'), [`${FILE}:2: [lafsd] store: "" is not a path; give a file or folder name`]);
});

test('an empty value leaves a key without a default unset', () => {
  const c = parse('[sftpd]\nhost_pubkey_file =\naccounts.url =\n[ftpd]\npassive_ports =\n');
  assert.equal(c.sftpd.hostPubkeyFile, undefined);
  assert.equal(c.sftpd.accountsUrl, undefined);
  assert.equal(c.ftpd.passivePorts, undefined);
  assert.ok(!('accountsUrl' in c.sftpd));
});

test('each bad value type is reported with file, line, section, key and what was expected', () => {
  const cases: [string, string][] = [
    ['[sftpd]\nport = 8021', `${FILE}:2: [sftpd] port: "8021" is not an endpoint; use ${ENDPOINT_FORMS}`],
    ['[ftpd]\nport = tcp:65536', `${FILE}:2: [ftpd] port: "tcp:65536" is not an endpoint: port 65536 is out of range 0-65535; use ${ENDPOINT_FORMS}`],
    ['[lafsd]\ngrid = tahoe', `${FILE}:2: [lafsd] grid: "tahoe" is not one of 'embedded', 'webapi'`],
    ['[lafsd]\nwebapi.url = ftp://x/', `${FILE}:2: [lafsd] webapi.url: "ftp://x/" is not an http:// or https:// URL`],
    ['[sftpd]\naccounts.url = example.com/login', `${FILE}:2: [sftpd] accounts.url: "example.com/login" is not a URL; use http://HOST[:PORT]/... or https://...`],
    ['[ftpd]\npassive_ports = 50100-50000', `${FILE}:2: [ftpd] passive_ports: "50100-50000" is not a port range: 50100 is above 50000`],
    ['[ftpd]\npassive_ports = 80-90', `${FILE}:2: [ftpd] passive_ports: "80-90" is not within 1024-65535`],
    ['[ftpd]\npassive_ports = 60000-70000', `${FILE}:2: [ftpd] passive_ports: "60000-70000" is not within 1024-65535`],
    ['[ftpd]\npassive_ports = 50000', `${FILE}:2: [ftpd] passive_ports: "50000" is not a port range; use LOW-HIGH, e.g. 50000-50100`],
    ['[ftpd]\npassive_address = my.host', `${FILE}:2: [ftpd] passive_address: "my.host" is not an IPv4 or IPv6 address`],
    ['[lafsd]\nstore.reserve = 1M', `${FILE}:2: [lafsd] store.reserve: "1M" is out of range 4194304 to 9007199254740991 bytes`],
  ];
  for (const [text, want] of cases) assert.deepEqual(problems(text), [want], text);
  // Valid edge values of the same types.
  assert.deepEqual(parse('[ftpd]\npassive_ports = 1024 - 65535\n').ftpd.passivePorts, { min: 1024, max: 65535 });
  assert.deepEqual(parse('[ftpd]\npassive_ports = 50000-50000\n').ftpd.passivePorts, { min: 50000, max: 50000 });
  assert.equal(parse('[ftpd]\npassive_address = 2001:db8::1\n').ftpd.passiveAddress, '2001:db8::1');
  assert.equal(parse('[lafsd]\nstore.reserve = 4M\n').lafsd.storeReserve, 4 * 1024 * 1024);
});

test('the example from the design: line numbers count comments and blank lines', () => {
  const text = '# my node\n[node]\nnickname = x\n\n[sftpd]\n# SFTP\nport = 8021\n';
  assert.deepEqual(problems(text), [
    `${FILE}:7: [sftpd] port: "8021" is not an endpoint; use tcp:PORT[:interface=ADDR] or tcp6:PORT[:interface=ADDR]`,
  ]);
});

test('unknown options in our sections and unknown sections are errors', () => {
  assert.deepEqual(problems('[sftpd]\nfoo = 1\n'), [
    `${FILE}:2: [sftpd] contains unknown option 'foo'; accepted: enabled, port, host_pubkey_file, host_privkey_file, accounts.file, accounts.url`,
  ]);
  assert.match(problems('[lafsd]\nstore_dir = x\n')[0] ?? '', /^\/srv\/node\/tahoe\.cfg:2: \[lafsd\] contains unknown option 'store_dir'; accepted: grid, webapi\.url, webapi\.directory_url, webapi\.timeout, webapi\.write_timeout, store, store\.reserve, transfer_memory, idle_collect, max_file_size, gc\.grace_period, gc\.interval, gc\.account_root_retention, gc\.keep_file, metrics$/);
  const [p] = problems('\n[webui]\nport = 1\n');
  assert.match(p ?? '', /^\/srv\/node\/tahoe\.cfg:2: contains unknown section \[webui\]; lafsd reads \[lafsd\], \[sftpd\], \[ftpd\], \[auth\] and ignores Tahoe-LAFS's own sections/);
  // Section names are case-sensitive, as in Tahoe.
  assert.match(problems('[SFTPD]\n')[0] ?? '', /unknown section \[SFTPD\]/);
});

test('a real Tahoe-LAFS node tahoe.cfg is accepted, its own sections ignored', () => {
  const text = `# -*- mode: conf; coding: utf-8 -*-

# This file controls the configuration of the Tahoe node that
# lives in this directory. It is only read at node startup.
# For details about the keys that can be set here, please
# read the 'docs/configuration.rst' file that came with your
# Tahoe installation.


[node]
nickname = alice
web.port = tcp:3456:interface=127.0.0.1
web.static = public_html
tub.port = disabled
tub.location = disabled
#log_gatherer.furl =
#timeout.keepalive =
#timeout.disconnect =
#ssh.port = 8022
#ssh.authorized_keys_file = ~/.ssh/authorized_keys

[i2p]
enabled = false

[tor]
enabled = false

[connections]
tcp = tor

[client]
# Which services should this client connect to?
introducer.furl = pb://abc@tcp:example.com:1234/introducer
shares.needed = 3
shares.happy = 7
shares.total = 10

[storage]
# Shall this node provide storage service?
enabled = false
#readonly =
reserved_space = 1G
plugins = x

[helper]
# Shall this node run a helper service that clients can use?
enabled = false

[grid_managers]
gm = pub-v0-abc

[storageclient.plugins.x]
arbitrary = value

[storageserver.plugins.x]
arbitrary = value

[magic_folder]
enabled = false

[drop_upload]
enabled = false

[grid_manager_certificates]
default = gridmanager.cert

[http]
anything = goes

${SFTP_OK}`;
  const c = parse(text);
  assert.equal(c.sftpd.enabled, true);
  assert.equal(c.lafsd.grid, 'embedded');
});

test('duplicate sections, duplicate keys and malformed lines surface with line numbers', () => {
  assert.deepEqual(problems('[ftpd]\nenabled = false\n[ftpd]\n'), [`${FILE}:3: duplicate section [ftpd] (first at line 1)`]);
  assert.deepEqual(problems('[ftpd]\nport = tcp:1\nPORT = tcp:2\n'), [`${FILE}:3: [ftpd] duplicate option 'port' (first set at line 2)`]);
  assert.deepEqual(problems('enabled = true\n'), [`${FILE}:1: option 'enabled' is outside any section; put a [section] header above it`]);
  assert.deepEqual(problems('[ftpd]\nenabled\n'), [`${FILE}:2: malformed line "enabled"; expected [section], key = value, or a # comment`]);
});

test('BOM, comments and continuation lines work through the loader', () => {
  const c = parse('\uFEFF; comment\n[lafsd]\n# another\ngrid = embedded\n[sftpd]\nhost_privkey_file = a\n  b\n');
  assert.equal(c.sftpd.hostPrivkeyFile, '/srv/node/a\nb');
  // A continued endpoint is not an endpoint.
  assert.match(problems('[sftpd]\nport = tcp:8022\n  :interface=127.0.0.1\n')[0] ?? '', /^\/srv\/node\/tahoe\.cfg:2: \[sftpd\] port: "tcp:8022\\n:interface=127\.0\.0\.1" is not an endpoint/);
});

test('cross-key rules', () => {
  assert.deepEqual(problems('[lafsd]\ngrid = webapi\n'), [`${FILE}:2: [lafsd] webapi.url: required when grid = webapi`]);
  assert.deepEqual(problems('[lafsd]\ngrid = webapi\nwebapi.url = http://n/\ngc.interval = 1h\n'), [
    `${FILE}:4: [lafsd] gc.interval: garbage collection is for grid = embedded; on a Tahoe-LAFS grid, Tahoe's own lease-based garbage collection applies`,
  ]);
  assert.deepEqual(problems('[lafsd]\ngc.grace_period = 0\n'), [`${FILE}:2: [lafsd] gc.grace_period: "0" is out of range 1s to 8760h`]);
  assert.deepEqual(problems('[ftpd]\nenabled = true\n'), [`${FILE}:2: [ftpd] enabled: must provide accounts.file or accounts.url`]);
  assert.deepEqual(problems('[sftpd]\nhost_privkey_file = k\nenabled = true\n'), [
    `${FILE}:3: [sftpd] enabled: must provide accounts.file or accounts.url`,
  ]);
  assert.deepEqual(problems('[sftpd]\nenabled = true\naccounts.url = http://x/\n'), [
    `${FILE}:2: [sftpd] host_privkey_file: required when enabled = true (the SSH host key; \`lafsd init\` creates one)`,
  ]);
  // Either accounts source is enough; the public key file is optional.
  assert.equal(parse('[sftpd]\nenabled = true\nhost_privkey_file = k\naccounts.url = http://x/\n').sftpd.enabled, true);
  assert.equal(parse('[ftpd]\nenabled = true\naccounts.file = a\n').ftpd.enabled, true);
  // Disabled frontends need nothing; an empty value counts as missing.
  assert.equal(parse('[ftpd]\nenabled = false\n[sftpd]\nenabled = no\n').sftpd.enabled, false);
  assert.equal(problems('[ftpd]\nenabled = true\naccounts.file =\n').length, 1);
  assert.equal(parse('[lafsd]\ngrid = webapi\nwebapi.url = https://n.example/\n').lafsd.webapiUrl, 'https://n.example/');
});

test('all problems of a file are reported together, one per line, in file order', () => {
  const text = '[lafsd]\ngrid = webapi\n[sftpd]\nenabled = maybe\nport = unix:/x\nfoo = 1\n[bogus]\n[ftpd]\nenabled = 1\n';
  const ps = problems(text);
  assert.deepEqual(ps.map((p) => p.slice(0, p.indexOf(' '))), [
    `${FILE}:2:`, `${FILE}:4:`, `${FILE}:5:`, `${FILE}:6:`, `${FILE}:7:`, `${FILE}:9:`,
  ]);
  assert.match(ps[0] ?? '', /webapi\.url: required/);
  assert.match(ps[5] ?? '', /\[ftpd\] enabled: must provide accounts\.file or accounts\.url/);
});

test('the schema table is well-formed: unique lowercase keys, docs, defaults that parse', () => {
  for (const [section, options] of Object.entries(SCHEMA)) {
    const keys = new Set<string>();
    for (const spec of Object.values(options) as OptionSpec<unknown>[]) {
      assert.equal(spec.key, spec.key.toLowerCase());
      assert.ok(!keys.has(spec.key), `${section} ${spec.key} twice`);
      keys.add(spec.key);
      assert.ok(spec.doc.length > 20 && spec.doc.endsWith('.'), `${section} ${spec.key} doc`);
      assert.equal(spec.hasDefault, spec.default !== undefined);
      if (spec.default !== undefined) assert.ok(spec.type.parse(spec.default, { basedir: BASE }).ok, `${section} ${spec.key} default`);
    }
  }
});

test('renderConfigReference lists every key in a five-column Markdown table', () => {
  const md = renderConfigReference();
  const rows = md.split('\n').filter((l) => l.startsWith('|'));
  const count = Object.values(SCHEMA).reduce((n, s) => n + Object.keys(s).length, 0);
  assert.equal(rows.length, count + 2);
  assert.equal(rows[0], '| Section | Key | Type | Default | Meaning |');
  for (const row of rows) assert.equal(row.split(/(?<!\\)\|/).length, 7, row); // pipes in cells are escaped
  assert.ok(rows.includes('| `[lafsd]` | `grid` | embedded \\| webapi | `embedded` | '
    + 'Where files are kept: `embedded` is an encrypted store inside BASEDIR that needs no other process; `webapi` uses a running Tahoe-LAFS node through its web-API. In an existing Tahoe-LAFS node directory (one with `node.url`) the default is `webapi` with that URL. |'));
  assert.ok(rows.some((r) => r.startsWith('| `[ftpd]` | `passive_ports` | port range | (unset) |')));
  assert.match(md, /`\[storageclient\.plugins\.\*\]`/);
});

test('renderDefaultConfig parses, with default and overridden ports', () => {
  const c = parse(renderDefaultConfig());
  assert.equal(c.lafsd.grid, 'embedded');
  assert.equal(c.lafsd.storeDir, '/srv/node/storage');
  assert.deepEqual(c.sftpd, {
    enabled: true,
    port: { family: 4, port: 8022, host: '127.0.0.1', text: 'tcp:8022:interface=127.0.0.1' },
    hostPubkeyFile: '/srv/node/private/ssh_host_ed25519_key.pub',
    hostPrivkeyFile: '/srv/node/private/ssh_host_ed25519_key',
    accountsFile: '/srv/node/private/accounts',
  });
  assert.deepEqual(c.ftpd, {
    enabled: true,
    port: { family: 4, port: 8021, host: '127.0.0.1', text: 'tcp:8021:interface=127.0.0.1' },
    accountsFile: '/srv/node/private/accounts',
    tlsRequireSessionReuse: true,
  });
  const t = parse(renderDefaultConfig({ sftpPort: 'tcp:0:interface=127.0.0.1', ftpPort: 'tcp6:0:interface=\\:\\:1' }));
  assert.equal(t.sftpd.port.port, 0);
  assert.deepEqual([t.ftpd.port.family, t.ftpd.port.host], [6, '::1']);
  assert.throws(() => renderDefaultConfig({ ftpPort: '8021' }), ConfigError);
  assert.throws(() => renderDefaultConfig({ sftpPort: 'tcp:1\n[x]' }), ConfigError);
});

test('loadNodeConfig reads BASEDIR/tahoe.cfg, checks key files, reads node.url', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lafsd-config-'));
  try {
    assert.throws(() => loadNodeConfig(dir), (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.equal(err.message, `${dir} is not a node directory (no tahoe.cfg in it); run \`lafsd init ${dir}\` to create one`);
      return true;
    });
    assert.throws(() => loadNodeConfig(join(dir, 'missing')), /is not a node directory/);

    const text = renderDefaultConfig();
    writeFileSync(join(dir, 'tahoe.cfg'), text);
    const lines = text.split('\n');
    const pubLine = lines.findIndex((l) => l.startsWith('host_pubkey_file')) + 1;
    const privLine = lines.findIndex((l) => l.startsWith('host_privkey_file')) + 1;
    assert.ok(pubLine > 0 && privLine > 0);
    // SFTP is enabled, so the key files it names must exist.
    assert.throws(() => loadNodeConfig(dir), (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.deepEqual(err.problems, [
        `${dir}/tahoe.cfg:${pubLine}: [sftpd] host_pubkey_file: ${dir}/private/ssh_host_ed25519_key.pub does not exist or cannot be read`,
        `${dir}/tahoe.cfg:${privLine}: [sftpd] host_privkey_file: ${dir}/private/ssh_host_ed25519_key does not exist or cannot be read`,
      ]);
      return true;
    });
    mkdirSync(join(dir, 'private'));
    writeFileSync(join(dir, 'private/ssh_host_ed25519_key'), 'key');
    assert.throws(() => loadNodeConfig(dir), new ConfigError(
      `${dir}/tahoe.cfg:${pubLine}: [sftpd] host_pubkey_file: ${dir}/private/ssh_host_ed25519_key.pub does not exist or cannot be read`,
    ));
    writeFileSync(join(dir, 'private/ssh_host_ed25519_key.pub'), 'pub');
    const c = loadNodeConfig(dir);
    assert.equal(c.file, join(dir, 'tahoe.cfg'));
    assert.equal(c.basedir, dir);
    assert.equal(c.nodeUrl, undefined);

    writeFileSync(join(dir, 'node.url'), 'http://127.0.0.1:3456/\n');
    assert.equal(loadNodeConfig(dir).nodeUrl, 'http://127.0.0.1:3456/');

    // A disabled SFTP server does not need its key files; a BOM is fine.
    rmSync(join(dir, 'private'), { recursive: true });
    writeFileSync(join(dir, 'tahoe.cfg'), '\uFEFF[sftpd]\nenabled = false\nhost_privkey_file = nope\n');
    assert.equal(loadNodeConfig(dir).sftpd.enabled, false);

    writeFileSync(join(dir, 'tahoe.cfg'), Buffer.from([0x5b, 0x6e, 0xff, 0x5d, 0x0a]));
    assert.throws(() => loadNodeConfig(dir), new ConfigError(`${dir}/tahoe.cfg: is not valid UTF-8 text`));

    // Parse errors and missing files are reported together.
    writeFileSync(join(dir, 'tahoe.cfg'), `${SFTP_OK}port = 22\n`);
    assert.throws(() => loadNodeConfig(dir), (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.equal(err.problems.length, 2);
      assert.match(err.problems[0] ?? '', /:3: \[sftpd\] host_privkey_file: .* does not exist/);
      assert.match(err.problems[1] ?? '', /:5: \[sftpd\] port: "22" is not an endpoint/);
      return true;
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('an existing Tahoe-LAFS node directory serves its own node through node.url', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lafsd-tahoe-node-'));
  try {
    writeFileSync(join(dir, 'node.url'), 'http://127.0.0.1:3456/\n');
    writeFileSync(join(dir, 'tahoe.cfg'), '[node]\nnickname = n\nweb.port = tcp:3456:interface=127.0.0.1\n[client]\nshares.needed = 3\n[sftpd]\nenabled = false\n');
    const c = loadNodeConfig(dir);
    assert.equal(c.nodeUrl, 'http://127.0.0.1:3456/');
    assert.equal(c.lafsd.grid, 'webapi');
    assert.equal(c.lafsd.webapiUrl, 'http://127.0.0.1:3456/');
    // An explicit choice wins over node.url.
    writeFileSync(join(dir, 'tahoe.cfg'), '[lafsd]\ngrid = embedded\n');
    assert.equal(loadNodeConfig(dir).lafsd.grid, 'embedded');
    writeFileSync(join(dir, 'tahoe.cfg'), '[lafsd]\ngrid = webapi\n');
    assert.equal(loadNodeConfig(dir).lafsd.webapiUrl, 'http://127.0.0.1:3456/', 'grid = webapi without webapi.url uses node.url');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
