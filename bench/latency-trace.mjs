// Whose time a request/reply exchange is (a measuring aid, not part of lafsd). Load it into the
// server, drive a phase, and send SIGUSR2 before and after it:
//   node --import ./bench/latency-trace.mjs dist/src/cli/main.js run NODE 2>err &
//   kill -USR2 $PID; <the phase>; kill -USR2 $PID
// On every TCP socket of the process it times the gap from data arriving to lafsd's next write
// on that socket ("server": its work on the request, reply written) and from that write to the
// next data arriving ("client": the client, its ssh process and both kernels' loopback paths,
// and any time lafsd's event loop was busy with something else before it read). With a client
// that waits for each reply (OpenSSH `put -r` / `get -r`, curl's files one after another), the
// two sums make up the phase's wall time. It also times each fdatasync of a FileHandle (the
// store's group commit, src/grid/embedded/group-sync.ts), which runs on the thread pool while
// a CLOSE waits. Each SIGUSR2 prints `LAT server|client|fdatasync n=… sum=…ms p10/p50/p90/p99 µs`
// to stderr, then starts over. Used in bench/README.md, eleventh session.
import net from 'node:net';
import { open } from 'node:fs/promises';

const samples = { server: [], client: [], fdatasync: [] };
const now = () => process.hrtime.bigint();
const micros = (from) => Number(now() - from) / 1000;

const emit = net.Socket.prototype.emit;
net.Socket.prototype.emit = function (event, ...args) {
  if (event === 'data') {
    if (this.lastWrite !== undefined && this.lastWrite > (this.lastData ?? 0n)) samples.client.push(micros(this.lastWrite));
    this.lastData = now();
  }
  return emit.call(this, event, ...args);
};
// Every write of a net.Socket goes through _writeGeneric (write and writev alike).
const writeGeneric = net.Socket.prototype._writeGeneric;
net.Socket.prototype._writeGeneric = function (...args) {
  if (this.lastData !== undefined && (this.lastWrite === undefined || this.lastWrite < this.lastData)) samples.server.push(micros(this.lastData));
  this.lastWrite = now();
  return writeGeneric.apply(this, args);
};

const probe = await open('/dev/null', 'r');
const FileHandle = Object.getPrototypeOf(probe);
await probe.close();
const datasync = FileHandle.datasync;
FileHandle.datasync = async function (...args) {
  const start = now();
  try {
    return await datasync.apply(this, args);
  } finally {
    samples.fdatasync.push(micros(start));
  }
};

const quantile = (sorted, p) => (sorted.length ? sorted[Math.floor(p * (sorted.length - 1))].toFixed(0) : '-');
process.on('SIGUSR2', () => {
  for (const [name, list] of Object.entries(samples)) {
    const sorted = [...list].sort((a, b) => a - b);
    const sum = list.reduce((a, b) => a + b, 0) / 1000;
    const qs = [0.1, 0.5, 0.9, 0.99].map((p) => quantile(sorted, p)).join('/');
    process.stderr.write(`LAT ${name} n=${list.length} sum=${sum.toFixed(0)}ms p10/p50/p90/p99=${qs} µs\n`);
    list.length = 0;
  }
});
