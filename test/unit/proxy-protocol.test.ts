// The PROXY protocol parser (src/util/proxy-protocol.ts): HAProxy's v1 and v2 headers as its
// send-proxy and send-proxy-v2 write them, headers cut anywhere, and garbage.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseProxyHeader, ProxyTrust } from '../../src/util/proxy-protocol.js';

const SIG = Buffer.from('0d0a0d0a000d0a515549540a', 'hex');

function v2(command: number, family: number, addresses: Buffer, tlvs = Buffer.alloc(0)): Buffer {
  const len = Buffer.alloc(2);
  len.writeUInt16BE(addresses.length + tlvs.length);
  return Buffer.concat([SIG, Buffer.from([0x20 | command, family]), len, addresses, tlvs]);
}

test('PROXY v1: TCP4, TCP6 (compressed as sockets show it), UNKNOWN; the bytes after it are not part of it', () => {
  const line = Buffer.from('PROXY TCP4 203.0.113.7 192.0.2.1 51234 21\r\nUSER alice\r\n');
  assert.deepEqual(parseProxyHeader(line), { done: true, length: 43, source: { address: '203.0.113.7', port: 51234 } });
  assert.deepEqual(parseProxyHeader(Buffer.from('PROXY TCP6 2001:0db8:0000:0000:0000:0000:0000:0001 ::1 4000 22\r\n')), {
    done: true, length: 64, source: { address: '2001:db8::1', port: 4000 },
  });
  assert.deepEqual(parseProxyHeader(Buffer.from('PROXY UNKNOWN\r\n')), { done: true, length: 15 });
  for (const bad of ['PROXY TCP4 1.2.3.4\r\n', 'PROXY TCP4 ::1 1.2.3.4 1 2\r\n', 'PROXY TCP4 1.2.3.4 5.6.7.8 99999 1\r\n', 'PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n', 'SSH-2.0-OpenSSH\r\n', 'USER x\r\n']) {
    assert.ok('error' in parseProxyHeader(Buffer.from(bad)), bad);
  }
  assert.ok('error' in parseProxyHeader(Buffer.from(`PROXY TCP4 ${'1'.repeat(120)}`)), 'an endless line');
});

test('PROXY v2: PROXY over TCP4 and TCP6 (TLVs skipped), LOCAL (the balancer\'s health check)', () => {
  const a4 = Buffer.from([198, 51, 100, 9, 10, 0, 0, 1, 0xc3, 0x50, 0x00, 0x16]);
  assert.deepEqual(parseProxyHeader(Buffer.concat([v2(1, 0x11, a4, Buffer.from([0x04, 0x00, 0x01, 0x00])), Buffer.from('SSH-2.0-x')])), {
    done: true, length: 32, source: { address: '198.51.100.9', port: 50000 },
  });
  const a6 = Buffer.alloc(36);
  a6.write('20010db8000000000000000000000042', 0, 'hex');
  a6.writeUInt16BE(1234, 32);
  assert.deepEqual(parseProxyHeader(v2(1, 0x21, a6)), { done: true, length: 52, source: { address: '2001:db8::42', port: 1234 } });
  const mapped = Buffer.alloc(36);
  mapped.write('00000000000000000000ffffcb007107', 0, 'hex');
  assert.equal((parseProxyHeader(v2(1, 0x21, mapped)) as { source: { address: string } }).source.address, '203.0.113.7', 'IPv4-mapped counts as IPv4');
  assert.deepEqual(parseProxyHeader(v2(0, 0x00, Buffer.alloc(0))), { done: true, length: 16 });
  assert.ok('error' in parseProxyHeader(Buffer.concat([SIG, Buffer.from([0x11, 0x11, 0, 0])])), 'version 1 in a v2 signature');
});

test('a header cut anywhere asks for more; random bytes never throw', () => {
  const whole = [Buffer.from('PROXY TCP4 203.0.113.7 192.0.2.1 51234 21\r\n'), v2(1, 0x11, Buffer.from([1, 2, 3, 4, 5, 6, 7, 8, 0, 1, 0, 2]))];
  for (const h of whole) for (let i = 0; i < h.length; i++) assert.deepEqual(parseProxyHeader(h.subarray(0, i)), { done: false }, `${i} bytes`);
  fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
    const r = parseProxyHeader(Buffer.from(bytes));
    assert.ok('error' in r || r.done === false || (r.done && r.length <= bytes.length));
  }), { numRuns: 2000 });
});

test('only configured balancers are trusted, IPv4-mapped addresses as IPv4', () => {
  const trust = new ProxyTrust(['10.0.0.5', '2001:db8::1']);
  assert.ok(trust.enabled);
  assert.ok(trust.trusts('::ffff:10.0.0.5'));
  assert.ok(trust.trusts('2001:DB8::1'));
  assert.ok(!trust.trusts('10.0.0.6'));
  assert.ok(!new ProxyTrust().enabled);
});
