import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isIPv4, isIPv6 } from 'node:net';
import fc from 'fast-check';
import { ConfigError } from '../../src/config/errors.js';
import { ENDPOINT_FORMS, checkEndpoint, formatEndpoint, parseEndpoint } from '../../src/config/endpoint.js';

function rejects(text: string, reason: RegExp | string): void {
  assert.throws(() => parseEndpoint(text), (err: unknown) => {
    assert.ok(err instanceof ConfigError);
    assert.ok(err.message.startsWith(`${JSON.stringify(text)} is not an endpoint`), err.message);
    assert.ok(err.message.endsWith(`; use ${ENDPOINT_FORMS}`), err.message);
    if (typeof reason === 'string') assert.equal(err.message, reason);
    else assert.match(err.message, reason);
    return true;
  });
}

test('valid tcp and tcp6 endpoints', () => {
  assert.deepEqual(parseEndpoint('tcp:8022:interface=127.0.0.1'),
    { family: 4, port: 8022, host: '127.0.0.1', text: 'tcp:8022:interface=127.0.0.1' });
  assert.deepEqual(parseEndpoint('tcp:0:interface=127.0.0.1'),
    { family: 4, port: 0, host: '127.0.0.1', text: 'tcp:0:interface=127.0.0.1' });
  assert.deepEqual(parseEndpoint('tcp:8022'), { family: 4, port: 8022, host: '0.0.0.0', text: 'tcp:8022' });
  assert.deepEqual(parseEndpoint('tcp:21:interface='), { family: 4, port: 21, host: '0.0.0.0', text: 'tcp:21:interface=' });
  assert.deepEqual(parseEndpoint('tcp6:8022'), { family: 6, port: 8022, host: '::', text: 'tcp6:8022' });
  assert.deepEqual(parseEndpoint('tcp6:8022:interface=\\:\\:1'),
    { family: 6, port: 8022, host: '::1', text: 'tcp6:8022:interface=\\:\\:1' });
  assert.deepEqual(parseEndpoint('tcp6:65535:backlog=5:interface=fe80\\:\\:1'),
    { family: 6, port: 65535, host: 'fe80::1', backlog: 5, text: 'tcp6:65535:backlog=5:interface=fe80\\:\\:1' });
  assert.equal(parseEndpoint('tcp:8021:backlog=50').backlog, 50);
  // A backslash makes any character literal, not only ':'.
  assert.equal(parseEndpoint('tcp:8021:interface=\\1\\27.0.0.1').host, '127.0.0.1');
});

test('a bare port number (old Tahoe [ftpd] default) is refused with the accepted forms', () => {
  rejects('8021', `"8021" is not an endpoint; use ${ENDPOINT_FORMS}`);
});

test('other endpoint types are refused by name', () => {
  rejects('unix:/tmp/sock', /endpoint type 'unix' is not supported/);
  rejects('ssl:443:privateKey=k.pem:certKey=c.pem', /endpoint type 'ssl' is not supported/);
  rejects('systemd:domain=INET:index=0', /endpoint type 'systemd' is not supported/);
  rejects('TCP:8022', /endpoint type 'TCP' is not supported/);
  rejects('tor:80', /endpoint type 'tor' is not supported/);
});

test('bad ports, fields and options', () => {
  rejects('', /: it is empty;/);
  rejects('tcp', /the port is missing/);
  rejects('tcp:', /the port is missing/);
  rejects('tcp:interface=127.0.0.1', /the port is missing/);
  rejects('tcp:65536', /port 65536 is out of range 0-65535/);
  rejects('tcp:99999999999', /port '99999999999' is not a number/);
  rejects('tcp:-1', /port '-1' is not a number/);
  rejects('tcp: 8022', /port ' 8022' is not a number/);
  rejects('tcp:80a', /port '80a' is not a number/);
  rejects('tcp:8022:127.0.0.1', /unexpected field '127\.0\.0\.1'/);
  rejects('tcp6:8022:interface=::1', /unexpected field ''.*write a ':' inside a value as '\\:'/);
  rejects('tcp:8022:mode=666', /unknown option 'mode' \(only interface and backlog are accepted\)/);
  rejects('tcp:8022:interface=127.0.0.1:interface=127.0.0.2', /option 'interface' is given twice/);
  rejects('tcp:8022:backlog=0', /backlog '0' is not an integer from 1 to 65535/);
  rejects('tcp:8022:backlog=x', /backlog 'x'/);
  rejects('tcp:8022:backlog=', /backlog ''/);
  rejects('tcp:8022\\', /ends with a lone backslash/);
  rejects('=tcp:8022', `"=tcp:8022" is not an endpoint; use ${ENDPOINT_FORMS}`);
});

test('the interface must be an IP address of the endpoint family', () => {
  rejects('tcp:8022:interface=\\:\\:1', /interface '::1' is an IPv6 address; use tcp6: for IPv6/);
  rejects('tcp6:8022:interface=127.0.0.1', /interface '127\.0\.0\.1' is an IPv4 address; use tcp: for IPv4/);
  rejects('tcp:8022:interface=localhost', /interface 'localhost' is not an IPv4 address/);
  rejects('tcp6:8022:interface=localhost', /interface 'localhost' is not an IPv6 address/);
  rejects('tcp:8022:interface=256.0.0.1', /is not an IPv4 address/);
});

test('checkEndpoint returns the reason instead of throwing', () => {
  assert.equal(checkEndpoint('tcp:65536'), 'port 65536 is out of range 0-65535');
  assert.equal(typeof checkEndpoint('tcp:1'), 'object');
});

test('fuzz: random strings give an Endpoint or a ConfigError, nothing else', () => {
  const unit = fc.constantFrom('t', 'c', 'p', '6', ':', '=', '\\', '0', '1', '8', '.', 'interface', 'backlog', 'tcp', 'tcp6', ' ', 'f');
  const text = fc.oneof(fc.string({ maxLength: 60 }), fc.string({ unit, maxLength: 30 }));
  fc.assert(fc.property(text, (s) => {
    try {
      const ep = parseEndpoint(s);
      assert.ok(Number.isInteger(ep.port) && ep.port >= 0 && ep.port <= 65535);
      assert.ok(ep.family === 4 ? isIPv4(ep.host) : isIPv6(ep.host));
      assert.equal(ep.text, s);
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
    }
  }), { numRuns: 3000 });
});

test('fuzz: formatted endpoints parse back to the same address', () => {
  const v4 = fc.record({ family: fc.constant(4 as const), host: fc.ipV4() });
  const v6 = fc.record({ family: fc.constant(6 as const), host: fc.ipV6() });
  const ep = fc.tuple(fc.oneof(v4, v6), fc.integer({ min: 0, max: 65535 }), fc.option(fc.integer({ min: 1, max: 65535 }), { nil: undefined }));
  fc.assert(fc.property(ep, ([addr, port, backlog]) => {
    const input = backlog === undefined ? { ...addr, port } : { ...addr, port, backlog };
    const text = formatEndpoint(input);
    assert.deepEqual(parseEndpoint(text), { ...input, text });
  }), { numRuns: 1000 });
});
