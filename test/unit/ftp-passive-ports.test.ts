// Passive ports without `passive_ports`, and the local ports of active connections: random ports
// of the kernel's ephemeral range (not port 0, whose search slows down as TIME_WAITs pile up; see
// src/ftp/passive-ports.ts), reserved ports left out, and the parsers of the two /proc files
// they come from, fuzzed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { DataConnectionError, PassiveListener, connectActive } from '../../src/ftp/data.js';
import { ephemeralPorts, parsePortRange, parseReservedPorts, randomEphemeralPorts, RANDOM_TRIES } from '../../src/ftp/passive-ports.js';

test('ip_local_port_range: two ports in order, whitespace as /proc writes it; anything else is refused', () => {
  assert.deepEqual(parsePortRange('32768\t60999\n'), { min: 32768, max: 60999 });
  assert.deepEqual(parsePortRange(' 1024 1024 '), { min: 1024, max: 1024 });
  for (const bad of ['', '32768', '60999 32768', '0 100', '1 65536', '1-2', '1 2 3', 'a b', '123456 7'])
    assert.equal(parsePortRange(bad), undefined, bad);
  for (let i = 0; i < 2000; i++) {
    const text = i % 2 ? randomBytes(1 + (i % 12)).toString('latin1') : `${(i * 7919) % 70000} ${(i * 104729) % 70000}`;
    const r = parsePortRange(text);
    if (r) assert.ok(Number.isInteger(r.min) && Number.isInteger(r.max) && r.min >= 1 && r.min <= r.max && r.max <= 65535, text);
  }
});

test('ip_local_reserved_ports: single ports and ranges; empty reserves nothing; anything else is refused', () => {
  const none = parseReservedPorts('\n')!;
  assert.equal(none(40000), false);
  const some = parseReservedPorts('8080,40000-40002, 50000\n')!;
  assert.deepEqual([8080, 8081, 39999, 40000, 40001, 40002, 40003, 50000].map(some), [true, false, false, true, true, true, false, true]);
  for (const bad of ['x', '1-', '-1', '5-3', '70000', '1,,2', '1;2']) assert.equal(parseReservedPorts(bad), undefined, bad);
  for (let i = 0; i < 2000; i++) {
    const text = randomBytes(1 + (i % 16)).toString('latin1');
    const reserved = parseReservedPorts(text);
    if (reserved) assert.equal(typeof reserved(i % 65536), 'boolean');
  }
});

test('random ephemeral ports: inside the range, never a reserved one, spread out; none where the range is unknown', () => {
  const ports = { range: { min: 40000, max: 40099 }, reserved: (p: number) => p >= 40010 && p < 40090 };
  const seen = new Set<number>();
  for (let i = 0; i < 200; i++) {
    const picked = [...randomEphemeralPorts(ports)];
    assert.ok(picked.length <= RANDOM_TRIES);
    for (const p of picked) {
      assert.ok(p >= 40000 && p <= 40099 && !ports.reserved(p), String(p));
      seen.add(p);
    }
  }
  assert.ok(seen.size >= 15, `only ${seen.size} of the 20 allowed ports were ever picked`);
  assert.deepEqual([...randomEphemeralPorts({ range: { min: 40000, max: 40000 }, reserved: () => true })], []);
  assert.deepEqual([...randomEphemeralPorts(null)], []);
});

test('on Linux the ephemeral ports are the kernel\'s own', { skip: process.platform !== 'linux' }, () => {
  const ports = ephemeralPorts();
  assert.ok(ports);
  assert.deepEqual(ports.range, parsePortRange(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8')));
});

test('a passive listener without a range listens on an unreserved ephemeral port and takes the client\'s connection', { skip: process.platform !== 'linux' }, async () => {
  const ports = ephemeralPorts()!;
  const used = new Set<number>();
  for (let i = 0; i < 30; i++) {
    const listener = await PassiveListener.open('127.0.0.1', '127.0.0.1', undefined, 5000, () => {});
    try {
      assert.ok(listener.port >= ports.range.min && listener.port <= ports.range.max && !ports.reserved(listener.port), String(listener.port));
      used.add(listener.port);
      const client = connect(listener.port, '127.0.0.1');
      const server = await listener.take();
      server.write('x');
      server.end();
      const got = await new Promise<string>((resolve, reject) => {
        let text = '';
        client.on('data', (d) => (text += d));
        client.on('end', () => resolve(text));
        client.on('error', reject);
      });
      assert.equal(got, 'x');
      client.destroy();
    } finally {
      listener.close();
    }
  }
  // Random picks from a range of thousands rarely meet twice in 30 (a narrow range may).
  if (ports.range.max - ports.range.min >= 1000) assert.ok(used.size >= 25, `the same ports came back: ${[...used].join(' ')}`);
});

test('an active connection comes from an unreserved ephemeral port of the control connection\'s address; a refused one fails at once', { skip: process.platform !== 'linux' }, async () => {
  const ports = ephemeralPorts()!;
  const accepted: Socket[] = [];
  const client = createServer((sock) => accepted.push(sock));
  await new Promise<void>((resolve) => client.listen(0, '127.0.0.1', resolve));
  const port = (client.address() as { port: number }).port;
  const used = new Set<number>();
  try {
    for (let i = 0; i < 30; i++) {
      const sock = await connectActive({ host: '127.0.0.1', port }, '127.0.0.1', 5000);
      assert.equal(sock.localAddress, '127.0.0.1');
      const local = sock.localPort!;
      assert.ok(local >= ports.range.min && local <= ports.range.max && !ports.reserved(local), String(local));
      used.add(local);
      sock.destroy();
    }
    if (ports.range.max - ports.range.min >= 1000) assert.ok(used.size >= 25, `the same ports came back: ${[...used].join(' ')}`);
  } finally {
    for (const s of accepted) s.destroy();
    await new Promise((resolve) => client.close(resolve));
  }
  // Nobody listens there now: refused, reported as such (only a taken local port is tried again).
  const start = Date.now();
  await assert.rejects(connectActive({ host: '127.0.0.1', port }, '127.0.0.1', 5000), (err: unknown) => err instanceof DataConnectionError && /ECONNREFUSED/.test(err.message));
  assert.ok(Date.now() - start < 1000);
});
