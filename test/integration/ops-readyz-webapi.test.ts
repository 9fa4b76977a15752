// /readyz of a real `lafsd run` on the web-API backend (issue #12): ready while the Tahoe node
// (the stand-in) answers, 503 naming the node as soon as it is gone, ready again when it is
// back, while /healthz stays 200 throughout. The failed requests in between are counted as
// backend errors of the web-API backend.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ftpUrlOf, startLafsd } from '../helpers/lafsd.js';
import { httpGet, scrape } from '../helpers/metrics.js';
import { curl } from './ftp-harness.js';
import { waitFor } from '../helpers/wait.js';

const node = await startLafsd({ backend: 'webapi', config: { lafsd: 'metrics = tcp:0:interface=127.0.0.1' } });
const fake = node.fake!;
const port = node.metricsPort!;
const url = (path: string) => ftpUrlOf(node, path);

test('readyz follows the Tahoe node: 503 while it is down, 200 when it is back; healthz stays 200', async () => {
  const ready = await httpGet(port, '/readyz');
  assert.deepEqual([ready.status, ready.body], [200, 'ready\n']);
  // Over 55 bytes: a shorter file is a LIT cap (its bytes are in the cap), readable without the node.
  const content = 'kept across the outage\n'.repeat(8);
  const put = await curl(['-T', '-', url('/kept.txt')], { input: Buffer.from(content) });
  assert.equal(put.code, 0, put.stderr);
  const before = await scrape(port);
  assert.equal(before.value('lafsd_build_info', { backend: 'webapi' }), 1);
  for (const name of ['lafsd_store_objects', 'lafsd_store_size_bytes', 'lafsd_store_free_bytes']) {
    assert.equal(before.has(name), false, `a Tahoe grid has no ${name} to show (rather than a false 0)`);
  }

  await fake.stop();
  const down = await httpGet(port, '/readyz');
  assert.equal(down.status, 503);
  assert.match(down.body, /^not ready: the Tahoe-LAFS node \(web-API\) is not reachable: .+\n$/);
  assert.doesNotMatch(down.body, /URI:/);
  assert.equal((await httpGet(port, '/healthz')).status, 200, 'the process itself is fine');
  // A client asks for a file meanwhile: the failure is a backend error of the web-API backend.
  const meanwhile = await curl([url('/kept.txt')]);
  assert.notEqual(meanwhile.code, 0, 'the download cannot succeed without the node');
  const during = await scrape(port);
  assert.ok(
    during.value('lafsd_backend_errors_total', { backend: 'webapi', code: 'UNAVAILABLE' }) > before.value('lafsd_backend_errors_total', { backend: 'webapi', code: 'UNAVAILABLE' }),
    'the refused requests are counted as UNAVAILABLE',
  );

  await fake.restart();
  await waitFor('readyz to recover', async () => (await httpGet(port, '/readyz')).status === 200, 15_000);
  const again = await curl([url('/kept.txt')]);
  assert.equal(again.code, 0, again.stderr);
  assert.equal(again.stdout.toString(), content);
});
