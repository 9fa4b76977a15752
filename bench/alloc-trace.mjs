// Where a lafsd process allocates Buffers from JavaScript, by call site (a measuring aid, not part
// of lafsd). Load it into the server, drive a phase, and send SIGUSR2 before and after it:
//   LAFSD_LOG_LEVEL=warn node --import ./bench/alloc-trace.mjs dist/src/cli/main.js run NODE 2>err &
//   kill -USR2 $PID; <the phase>; kill -USR2 $PID
// Each SIGUSR2 prints `MEM {...}` (process.memoryUsage in MiB) and `ABTRACE [...]` (the 25 call
// sites that allocated the most bytes since the last signal) to stderr, then starts over. Only
// Buffer.alloc/allocUnsafe/allocUnsafeSlow/from/concat are seen (concat counts twice: itself and
// its allocUnsafe); what native code allocates (crypto outputs and contexts, SQLite blobs,
// socket reads) is not. Used in bench/README.md, tenth session.
import { Buffer } from 'node:buffer';

const table = new Map();
let tracing = true;

function note(bytes, kind) {
  if (!tracing) return;
  tracing = false; // the stack's own allocations are not counted
  const site = new Error().stack.split('\n').slice(3, 7).map((s) => s.trim().replace(/^at /, '')).join(' < ');
  tracing = true;
  const key = `${kind} ${site}`;
  const entry = table.get(key) ?? [0, 0];
  entry[0]++;
  entry[1] += bytes;
  table.set(key, entry);
}

for (const name of ['alloc', 'allocUnsafe', 'allocUnsafeSlow']) {
  const original = Buffer[name];
  Buffer[name] = function (size, ...rest) {
    note(size, name);
    return original.call(this, size, ...rest);
  };
}
for (const name of ['from', 'concat']) {
  const original = Buffer[name];
  Buffer[name] = function (...args) {
    const b = original.apply(this, args);
    note(b.length, name);
    return b;
  };
}

process.on('SIGUSR2', () => {
  const m = process.memoryUsage();
  const mib = (n) => Math.round(n / 1048576);
  process.stderr.write(`MEM ${JSON.stringify({ rss: mib(m.rss), heapTotal: mib(m.heapTotal), heapUsed: mib(m.heapUsed), external: mib(m.external), arrayBuffers: mib(m.arrayBuffers) })}\n`);
  const rows = [...table.entries()].sort((a, b) => b[1][1] - a[1][1]).slice(0, 25);
  process.stderr.write(`ABTRACE ${JSON.stringify(rows.map(([site, [count, bytes]]) => ({ site, count, mib: +(bytes / 1048576).toFixed(2) })))}\n`);
  table.clear();
});
