// The TCP_QUICKACK addon (native/tcp-quickack, src/util/tcp-quickack.ts): `npm install` builds
// it, it sets the option on a connected TCP socket, and lafsd does without it where it is missing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { createServer, connect, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { TCP_QUICKACK_ADDON, acknowledgeNow, loadQuickAck, quickAckAvailable } from '../../src/util/tcp-quickack.js';

const onLinux = process.platform === 'linux';

test('the TCP_QUICKACK addon is built and loads, and sets the option on a connected socket (Linux)', { skip: !onLinux && 'not Linux' }, async () => {
  assert.ok(existsSync(TCP_QUICKACK_ADDON), `${TCP_QUICKACK_ADDON} (npm install builds it)`);
  assert.equal(quickAckAvailable(), true);
  const server = createServer((s) => s.resume());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const client: Socket = connect((server.address() as { port: number }).port, '127.0.0.1');
  try {
    await new Promise<void>((resolve) => client.once('connect', resolve));
    assert.equal(acknowledgeNow(client), true);
  } finally {
    client.destroy();
    server.close();
  }
  // A socket without a descriptor of its own (here: destroyed) is left alone.
  assert.equal(acknowledgeNow(client), false);
});

test('a missing addon is reported as unavailable, not thrown; bad arguments are a TypeError', () => {
  assert.equal(loadQuickAck('/nonexistent/tcp_quickack.node'), null);
  assert.equal(loadQuickAck(fileURLToPath(import.meta.url)), null);
  const quickAck = loadQuickAck(TCP_QUICKACK_ADDON);
  assert.equal(typeof quickAck, 'function');
  for (const bad of [undefined, -1, 'x', {}]) assert.throws(() => quickAck!(bad as number), TypeError);
  // Not a socket: the call answers false, nothing else happens.
  assert.equal(quickAck!(0), false);
});
