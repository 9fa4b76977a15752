// Runs the test lanes with node's own test runner: `unit` (pure code, no network),
// `integration` (the real server driven by real clients), `tahoe` (the opt-in lane on a real
// Tahoe-LAFS grid, skipped with a reason when there is none), or all of them when no lane is named.
// Extra arguments filter test files by substring, e.g. `npm test -- unit caps`.
import { readdirSync, statSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawn } from 'node:child_process';

const here = dirname(fileURLToPath(import.meta.url));
const lanes = ['unit', 'integration', 'tahoe'];

function findTests(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const full = join(dir, name);
    if (statSync(full).isDirectory()) out.push(...findTests(full));
    else if (name.endsWith('.test.js')) out.push(full);
  }
  return out;
}

const args = process.argv.slice(2);
const chosenLanes = args.filter((a) => lanes.includes(a));
const filters = args.filter((a) => !lanes.includes(a));
const files = (chosenLanes.length ? chosenLanes : lanes)
  .flatMap((lane) => findTests(join(here, lane)))
  .filter((f) => filters.length === 0 || filters.some((flt) => f.includes(flt)));

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
