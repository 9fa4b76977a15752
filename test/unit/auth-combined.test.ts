import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ssh2 from 'ssh2';
import { AuthError, CombinedAuthenticator, FileAuthenticator, UrlAuthenticator, silentLogger, type LoginAttempt } from '../../src/auth/index.js';
import { startAccountServer, type AccountServer } from '../../examples/account-server/server.js';
import { sshKeyPair } from '../helpers/keys.js';

const ROOT = 'URI:DIR2:tmtxiysosbogziok2bzqtjqyly:odeejxkxue6ruqz4xaxzw6bhavb244akuqkdbg2d3svxdubq4b3q';
const ROOT_RO = 'URI:DIR2-RO:a32icmmqnzvw5hutjevlpdrd5m:odeejxkxue6ruqz4xaxzw6bhavb244akuqkdbg2d3svxdubq4b3q';
const who = (username: string): LoginAttempt => ({ username, remoteAddress: '192.0.2.1', protocol: 'sftp' });
const key = sshKeyPair('ed25519');
const blob = (ssh2.utils.parseKey(key.public) as { getPublicSSH(): Buffer }).getPublicSSH();

async function setup(): Promise<{ file: FileAuthenticator; url: UrlAuthenticator; service: AccountServer; requests: () => number; done(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'lafsd-comb-'));
  const path = join(dir, 'accounts');
  // alice is in the file (password "filepw") and at the service (password "servicepw").
  await writeFile(path, `alice filepw ${ROOT_RO}\nalice ${key.public} ${ROOT_RO}\n`, { mode: 0o600 });
  const file = await FileAuthenticator.open({ path, logger: silentLogger, watch: false });
  const service = await startAccountServer({ db: ':memory:' });
  await service.addUser('alice', 'servicepw', ROOT);
  await service.addUser('bob', 'bobpw', ROOT);
  // Count the logins that reach the URL client (and so the service).
  const url = new UrlAuthenticator({ url: service.url, logger: silentLogger, cacheTtlMs: 0 });
  let calls = 0;
  const inner = url.checkPassword.bind(url);
  url.checkPassword = (a, p) => {
    calls++;
    return inner(a, p);
  };
  return {
    file, url, service, requests: () => calls,
    done: async () => {
      file.close();
      await service.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

test('a user in the file is decided by the file only; others go to the URL', async () => {
  const s = await setup();
  try {
    const auth = new CombinedAuthenticator({ file: s.file, url: s.url });
    assert.deepEqual(await auth.checkPassword(who('alice'), 'filepw'), { username: 'alice', rootCap: ROOT_RO });
    // The service would accept this password, but alice is the file's: no fallback.
    assert.equal(await auth.checkPassword(who('alice'), 'servicepw'), undefined);
    assert.equal(s.requests(), 0);
    assert.deepEqual(await auth.checkPassword(who('bob'), 'bobpw'), { username: 'bob', rootCap: ROOT });
    assert.equal(await auth.checkPassword(who('bob'), 'nope'), undefined);
    assert.equal(s.requests(), 2);
    // Keys only ever come from the file.
    assert.deepEqual(await auth.findKey(who('alice'), 'ssh-ed25519', blob), { username: 'alice', rootCap: ROOT_RO });
    assert.equal(await auth.findKey(who('bob'), 'ssh-ed25519', blob), undefined);
  } finally {
    await s.done();
  }
});

test('either source alone works; neither is a configuration error', async () => {
  const s = await setup();
  try {
    const fileOnly = new CombinedAuthenticator({ file: s.file });
    assert.ok(await fileOnly.checkPassword(who('alice'), 'filepw'));
    assert.equal(await fileOnly.checkPassword(who('bob'), 'bobpw'), undefined);
    const urlOnly = new CombinedAuthenticator({ url: s.url });
    assert.deepEqual(await urlOnly.checkPassword(who('alice'), 'servicepw'), { username: 'alice', rootCap: ROOT });
    assert.equal(await urlOnly.findKey(who('alice'), 'ssh-ed25519', blob), undefined);
    assert.throws(() => new CombinedAuthenticator({}), AuthError);
  } finally {
    await s.done();
  }
});
