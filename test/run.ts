// Runs the test lanes with node's own test runner: `unit` (pure code, no network),
// `integration` (the real server driven by real clients), `endurance` (long whole-system runs
// whose subject is the store and its clients, not the Node.js running them: gc racing uploads
// and kill -9, a 1 GiB store round trip, restic's whole life, two gateways behind HAProxy),
// `parity` (the SFTP and FTP suites of `integration` again, on the web-API backend over a
// stand-in Tahoe node), `tahoe` (the opt-in lane on a real Tahoe-LAFS grid, skipped with a
// reason when there is none), or all of them when no lane is named.
// Extra arguments filter test files by substring, e.g. `npm test -- unit caps`.
import { readdirSync, statSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawn } from 'node:child_process';

const here = dirname(fileURLToPath(import.meta.url));
const lanes = ['unit', 'integration', 'endurance', 'parity', 'tahoe'];

function findTests(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const full = join(dir, name);
    if (statSync(full).isDirectory()) out.push(...findTests(full));
    else if (name.endsWith('.test.js')) out.push(full);
  }
  return out;
}

// The files that take longest start first, so that near the end of a run both workers finish
// short files rather than one running a long file alone (longest first: on 2 cores the whole
// run took 431 s in alphabetical order, with 775 s of tests in all). Seconds each, measured
// on 2026-12-07 (the sum of each file's top-level tests, run beside the others); a file not
// named here keeps its place in alphabetical order, after these.
const slowestFirst = [
  'integration/limits.test.js', // 122
  'endurance/gc.test.js', // 96
  'integration/sftp-tcp.test.js', // 42
  'parity/ftp-lafsd-webapi.test.js', // 33
  'integration/webapi-outage.test.js', // 32
  'parity/sftp-tcp-webapi.test.js', // 30
  'integration/webapi-grid.test.js', // 26
  'unit/gc.test.js', // 22
  'integration/cli.test.js', // 21
  'integration/ftp-lafsd.test.js', // 21
  'endurance/clients-restic.test.js', // 17
  'unit/auth-file-authenticator.test.js', // 16
  'integration/accounts-defender.test.js', // 15
  'integration/ops-cli.test.js', // 15
  'endurance/store-large.test.js', // 15
  'integration/clients-sftp.test.js', // 14
  'integration/sftp-stdio.test.js', // 14
  'unit/auth-passwords.test.js', // 12
  'endurance/gateways-haproxy.test.js', // 12
  'integration/accounts-url.test.js', // 11
];

/** `files` with the ones named in slowestFirst ahead, in that list's order. */
function slowestFilesFirst(files: string[]): string[] {
  const rank = (f: string) => {
    const i = slowestFirst.findIndex((name) => f.endsWith(`/${name}`));
    return i === -1 ? slowestFirst.length : i;
  };
  return files.map((f, i) => ({ f, i, r: rank(f) })).sort((a, b) => a.r - b.r || a.i - b.i).map((x) => x.f);
}

const args = process.argv.slice(2);
const chosenLanes = args.filter((a) => lanes.includes(a));
const filters = args.filter((a) => !lanes.includes(a));
const files = slowestFilesFirst(
  (chosenLanes.length ? chosenLanes : lanes)
    .flatMap((lane) => findTests(join(here, lane)))
    .filter((f) => filters.length === 0 || filters.some((flt) => f.includes(flt))),
);

if (files.length === 0) {
  console.error('no test files matched');
  process.exit(1);
}

// Integration files each start their own servers on ephemeral ports, so two may run at once
// on a 2-core machine without interfering. No single test may hang the run: 5 minutes each
// (the 1 GiB transfers take well under one).
const child = spawn(process.execPath, ['--test', '--test-concurrency=2', '--test-timeout=300000', '--test-reporter=spec', ...files], {
  stdio: 'inherit',
});
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
