// What a passive FTP listener and an active-mode connection cost as TIME_WAITs pile up: lafsd's
// PassiveListener and connectActive (random ports of the ephemeral range, see
// src/ftp/passive-ports.ts) against a listen on port 0 and a connect from the local address with
// port 0 (the kernel's search, what lafsd did before), in the same process, after each batch of
// connections that the server closed first (as every FTP download does).
// A bare listen on a random port of the range is the third column: the same syscalls as lafsd's.
// Usage: node dist/bench/passive-ports.js [BATCHES=4] [PER_BATCH=6000] [OPENS=500]
// Each batch holds that many more ports in TIME_WAIT for 60 s: run it in a network namespace of
// its own (`unshare -n`, as bench/passive-ports.sh does), not on a machine serving anything.
import { createServer, connect, type Server } from 'node:net';
import { PassiveListener, connectActive } from '../src/ftp/data.js';
import { ephemeralPorts } from '../src/ftp/passive-ports.js';

const batches = Number(process.argv[2] ?? 4);
const perBatch = Number(process.argv[3] ?? 6000);
const opens = Number(process.argv[4] ?? 500);

/** One data connection as a passive download makes it: the server end closes first. */
function serverClosesFirst(): Promise<void> {
  return new Promise((resolve, reject) => {
    const server: Server = createServer((sock) => {
      sock.end();
      server.close();
    });
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const client = connect((server.address() as { port: number }).port, '127.0.0.1');
      client.on('end', () => client.end());
      client.on('close', () => resolve());
      client.on('error', reject);
      client.resume();
    });
  });
}

function listenOn(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

const listenOnZero = async () => void (await listenOn(0));
/** The same syscalls as lafsd's listener makes, without its timer and bookkeeping. */
async function listenOnRandom(): Promise<void> {
  const { min, max } = (ephemeralPorts() ?? { range: { min: 32768, max: 60999 } }).range;
  while (!(await listenOn(min + Math.floor(Math.random() * (max - min + 1)))));
}

async function passiveListener(): Promise<void> {
  (await PassiveListener.open('127.0.0.1', '127.0.0.1', undefined, 5000, () => {})).close();
}

async function microsPerOpen(open: () => Promise<void>): Promise<number> {
  const start = process.hrtime.bigint();
  for (let i = 0; i < opens; i++) await open();
  return Number(process.hrtime.bigint() - start) / opens / 1000;
}

/** A peer for active connections, accepting and dropping them. */
const peer = createServer((sock) => sock.destroy());
await new Promise<void>((resolve) => peer.listen(0, '127.0.0.1', resolve));
const peerPort = (peer.address() as { port: number }).port;

function connectBound(): Promise<void> {
  return new Promise((resolve, reject) => {
    const sock = connect({ host: '127.0.0.1', port: peerPort, localAddress: '127.0.0.1' });
    sock.on('connect', () => {
      sock.destroy();
      resolve();
    });
    sock.on('error', reject);
  });
}

async function activeConnection(): Promise<void> {
  (await connectActive({ host: '127.0.0.1', port: peerPort }, '127.0.0.1', 5000)).destroy();
}

console.log('µs per listen or connect, and close, by connections closed by the server in the last 60 s');
console.log('closed | listen: port 0 | a random port | lafsd\'s PassiveListener | lafsd / port 0 || connect from the local address: port 0 | lafsd\'s connectActive | lafsd / port 0');
for (let b = 0; b <= batches; b++) {
  if (b > 0) for (let i = 0; i < perBatch; i += 50) await Promise.all(Array.from({ length: Math.min(50, perBatch - i) }, serverClosesFirst));
  // Interleaved halves, so a drift of the machine touches both alike.
  const runs = [listenOnZero, listenOnRandom, passiveListener];
  const sums = [0, 0, 0];
  for (let half = 0; half < 2; half++) for (let k = 0; k < runs.length; k++) sums[k]! += (await microsPerOpen(runs[k]!)) / 2;
  const [z, r, o] = sums as [number, number, number];
  const active = [0, 0];
  for (let half = 0; half < 2; half++) {
    active[0]! += (await microsPerOpen(connectBound)) / 2;
    active[1]! += (await microsPerOpen(activeConnection)) / 2;
  }
  const [bound, ours] = active as [number, number];
  console.log(`${String(b * perBatch).padStart(6)} | ${z.toFixed(1).padStart(7)} | ${r.toFixed(1).padStart(7)} | ${o.toFixed(1).padStart(7)} | ${(o / z).toFixed(2)} || ${bound.toFixed(1).padStart(7)} | ${ours.toFixed(1).padStart(7)} | ${(ours / bound).toFixed(2)}`);
}
peer.close();
