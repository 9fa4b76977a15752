// What keeps a fresh `npm install` silent and working, the supported Node.js versions, and the
// README's metrics table, each checked against its source of truth (issue #12).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Metrics } from '../../src/server/metrics.js';
import { LAFSD, shebangLaunch } from '../helpers/cli.js';

const read = (rel: string) => readFileSync(fileURLToPath(new URL(`../../../${rel}`, import.meta.url)), 'utf8');
const pkg = JSON.parse(read('package.json')) as { engines: { node: string }; allowScripts: Record<string, boolean>; scripts: Record<string, string> };
const lock = JSON.parse(read('package-lock.json')) as { packages: Record<string, { version?: string; hasInstallScript?: boolean }> };

test('allowScripts decides every install script in the lockfile, by name, and nothing else', () => {
  const withScripts = new Set(
    Object.entries(lock.packages)
      .filter(([path, p]) => path !== '' && p.hasInstallScript)
      .map(([path]) => path.slice(path.lastIndexOf('node_modules/') + 'node_modules/'.length)),
  );
  assert.deepEqual(new Set(Object.keys(pkg.allowScripts)), withScripts, 'one entry per package with an install script');
  for (const [name, allowed] of Object.entries(pkg.allowScripts)) {
    // npm cannot match a pinned entry (name@version) when the lockfile has no `resolved` URLs,
    // which is how npm is configured on these machines.
    assert.doesNotMatch(name, /.@/, `${name}: a name-only entry`);
    assert.equal(typeof allowed, 'boolean');
  }
  assert.equal(pkg.allowScripts['better-sqlite3'], true, 'SQLite must be built');
  assert.equal(pkg.allowScripts.ssh2, true, "ssh2's crypto binding must be built (lafsd run refuses to start without it)");
  assert.equal(pkg.allowScripts['cpu-features'], false, 'cpu-features only reorders ciphers that lafsd sets itself');
});

test('every Node.js major in engines is tested by CI, and the README names each', () => {
  const majors = [...pkg.engines.node.matchAll(/\^(\d+)\./g)].map((m) => Number(m[1]));
  assert.ok(majors.includes(22) && majors.includes(24), `engines: ${pkg.engines.node}`);
  const specs = /^scripts\/test-node-lanes\.sh ((?:\d+(?::[a-z,]+)? ?)+)$/m.exec(read('.ci/run'))?.[1]?.trim().split(' ') ?? [];
  const lanes = specs.map((spec) => Number(spec.split(':')[0]));
  // The newest supported major runs the integration lane too (real clients on its sockets, TLS and addons).
  assert.ok(specs.includes(`${Math.max(...majors)}:unit,integration`), `.ci/run: ${specs.join(' ')}`);
  // The Node that runs the full suite; in a lane of scripts/test-node-lanes.sh, the machine's.
  const machine = Number((process.env.LAFSD_MACHINE_NODE ?? process.versions.node).replace(/^v/, '').split('.')[0]);
  for (const major of majors) assert.ok(major === machine || lanes.includes(major), `Node ${major} is supported but not tested by .ci/run`);
  for (const lane of lanes) assert.ok(majors.includes(lane), `.ci/run tests Node ${lane}, which engines does not allow`);
  const readme = read('README.md');
  const supported = /\*\*Supported Node\.js versions\*\*: ([^.]*)\./.exec(readme)?.[1] ?? '';
  for (const major of majors) assert.match(supported, new RegExp(`\\b${major}\\b`), `README: ${supported}`);
});

test("the lafsd command's launch line gives Node the heap options and glibc fixed mmap and trim thresholds, this Node accepts them, and npm start passes the same", () => {
  const { env, flags } = shebangLaunch(LAFSD);
  // A fixed threshold keeps glibc from moving large buffers into a heap it never gives back, and
  // a trim threshold above its default keeps the heap from giving back and refaulting every
  // segment; two arenas keep that from multiplying by the threads.
  assert.deepEqual(env, { MALLOC_MMAP_THRESHOLD_: '1048576', MALLOC_TRIM_THRESHOLD_: '16777216', MALLOC_ARENA_MAX: '2' });
  assert.ok(flags.some((f) => /^--initial-old-space-size=\d+$/.test(f)), `#! flags: ${flags.join(' ')}`);
  // The small young generation is what keeps one 1 GiB upload near 100 MiB (src/cli/main.ts).
  assert.ok(flags.includes('--max-semi-space-size=1'), `#! flags: ${flags.join(' ')}`);
  // An option this Node does not know would stop `lafsd` before it runs a line of ours.
  const r = spawnSync(process.execPath, [...flags, '-e', 'process.exit(0)'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stderr, '');
  assert.equal(pkg.scripts.start, `MALLOC_MMAP_THRESHOLD_=1048576 MALLOC_TRIM_THRESHOLD_=16777216 MALLOC_ARENA_MAX=2 node ${flags.join(' ')} dist/src/cli/main.js quickstart ./node`);
});

test('the README lists every lafsd_ metric the server exports, and no other', async () => {
  const m = new Metrics('embedded', { version: 'test' });
  m.watchSessions(() => []);
  m.watchTransferMemory({ usedBytes: 0, limit: 1 });
  m.watchStore(async () => ({ freeBytes: 1, sizeBytes: 1, objects: 1 }));
  m.watchReadBuffers(() => ({ made: 0, reused: 0 }));
  m.watchLogSyncs(() => ({ eventLoop: 0, threadPool: 0 }));
  m.watchDefender({ bannedHosts: 0, openConnections: 0 } as never);
  const exported = new Set([...(await m.scrape()).body.matchAll(/^# TYPE (lafsd_\w+) /gm)].map((x) => x[1]!));
  const readme = read('README.md');
  const section = readme.slice(readme.indexOf('## Operations'), readme.indexOf('## Security'));
  const documented = new Set([...section.matchAll(/`(lafsd_\w+)`/g)].map((x) => x[1]!));
  assert.deepEqual([...documented].sort(), [...exported].sort());
});
