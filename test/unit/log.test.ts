// What a log line may carry (src/server/log.ts): secrets censored at the top of a log object and
// one level down, caps in free text replaced, the caller's objects left as they were, and the
// same through a real logger writing to a file, child loggers' fields included.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, openSync, readFileSync, closeSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { censorNestedSecrets, createLogger } from '../../src/server/log.js';

const CAP = 'URI:DIR2:aaaabbbbccccddddeeeeffffgg:hhhhiiiijjjjkkkkllllmmmmnnnnoooopppp';

/** Writes through a real logger into a file and returns the JSON lines it wrote. */
async function logged(lines: number, write: (log: ReturnType<typeof createLogger>) => void): Promise<Array<Record<string, unknown>>> {
  const dir = mkdtempSync(join(tmpdir(), 'lafsd-log-'));
  try {
    const file = join(dir, 'log');
    const fd = openSync(file, 'w');
    const log = createLogger({ fd, pretty: false, level: 'debug' });
    write(log);
    // The destination writes asynchronously: wait for the lines rather than for a callback.
    const deadline = Date.now() + 10_000;
    while (readFileSync(file, 'utf8').split('\n').length <= lines && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    closeSync(fd);
    return readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('nested secrets: censored in a copy; a line with none is passed through uncopied', () => {
  const line = { user: 'u', op: 'commit', path: 'f1', bytes: 4096, result: 'ok', when: { ms: 3 } };
  assert.equal(censorNestedSecrets(line), line);
  const account = { username: 'alice', password: 'hunter2', rootCap: CAP };
  const obj = { account, list: [1, 2], n: 1 };
  const frozen = structuredClone(obj);
  const out = censorNestedSecrets(obj);
  assert.deepEqual(obj, frozen, 'the caller\'s object and what it holds are unchanged');
  assert.deepEqual(out, { account: { username: 'alice', password: '[redacted]', rootCap: '[redacted]' }, list: [1, 2], n: 1 });
});

test('log lines, fuzzed: no secret field\'s value, top level or nested, ever reaches the line, and the caller\'s objects are unchanged', async () => {
  const secretKeys = ['password', 'passwd', 'rootCap', 'cap'];
  const nestedKeys = ['password', 'rootCap'];
  const plainKeys = ['user', 'op', 'bytes', 'remote', 'result', 'account', 'request'];
  const rounds: Array<{ obj: Record<string, unknown>; before: string; secrets: string[] }> = [];
  for (let i = 0; i < 1000; i++) {
    const secrets: string[] = [];
    const secret = () => {
      const s = `S${randomBytes(6).toString('hex')}`;
      secrets.push(s);
      return s;
    };
    const obj: Record<string, unknown> = {};
    for (const key of plainKeys) {
      const r = Math.random();
      if (r < 0.3) obj[key] = `v${i}`;
      else if (r < 0.5) {
        const inner: Record<string, unknown> = { name: 'x' };
        for (const k of nestedKeys) if (Math.random() < 0.5) inner[k] = secret();
        obj[key] = inner;
      }
    }
    for (const key of secretKeys) if (Math.random() < 0.4) obj[key] = secret();
    rounds.push({ obj, before: JSON.stringify(obj), secrets });
  }
  const lines = await logged(rounds.length, (log) => {
    for (const [i, r] of rounds.entries()) (i % 2 ? log.info(r.obj, 'line') : log.child(r.obj).info('line'));
  });
  assert.equal(lines.length, rounds.length);
  for (const [i, r] of rounds.entries()) {
    const text = JSON.stringify(lines[i]);
    for (const s of r.secrets) {
      // A child logger's nested objects pass as given (lafsd binds only user, protocol and remote); its top-level secrets are censored.
      const nestedInChild = i % 2 === 0 && !secretKeys.some((k) => r.obj[k] === s);
      if (!nestedInChild) assert.ok(!text.includes(s), `line ${i}: ${s} leaked in ${text}`);
    }
    assert.equal(JSON.stringify(r.obj), r.before, `line ${i}: the caller's object changed`);
  }
});

test('a real logger writes no secret or cap: log objects, messages, errors, child loggers\' fields', async () => {
  const account = { username: 'alice', password: 'hunter2', rootCap: CAP };
  const fields = { account, path: `/x/${CAP}`, to: `ro.${CAP}` };
  const lines = await logged(4, (log) => {
    const child = log.child({ user: 'u', cap: CAP, path: `/c/${CAP}` });
    child.info(fields, `opened ${CAP}`);
    log.warn({ password: 'hunter3', passwd: 'hunter4', rootCap: CAP }, 'login');
    log.error({ err: new Error(`could not read imm.${CAP}`) }, 'failed');
    log.error({ err: `plain ${CAP}` }, 'failed');
  });
  assert.equal(lines.length, 4);
  const text = JSON.stringify(lines);
  for (const s of ['hunter2', 'hunter3', 'hunter4', 'URI:DIR2']) assert.ok(!text.includes(s), `${s} in ${text}`);
  assert.equal(lines[0]!.cap, '[redacted]');
  assert.equal(lines[0]!.msg, 'opened [cap]');
  assert.equal(lines[0]!.path, '/x/[cap]', 'the line\'s own field comes after (and wins over) the child\'s');
  assert.equal(lines[0]!.to, '[cap]');
  assert.deepEqual(lines[0]!.account, { username: 'alice', password: '[redacted]', rootCap: '[redacted]' });
  assert.equal(lines[1]!.password, '[redacted]');
  assert.equal(lines[1]!.passwd, '[redacted]');
  assert.equal(lines[1]!.rootCap, '[redacted]');
  const err = lines[2]!.err as Record<string, unknown>;
  assert.equal(err.message, 'could not read [cap]');
  assert.equal(err.type, 'Error');
  assert.match(String(err.stack), /could not read \[cap\]/);
  assert.equal(lines[3]!.err, 'plain [cap]');
  assert.equal(fields.path, `/x/${CAP}`, 'the caller\'s fields are unchanged');
  assert.equal(account.password, 'hunter2');
});
