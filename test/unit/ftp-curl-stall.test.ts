// Which same-host PASV/EPSV answers wait (src/ftp/curl-stall.ts): only those that can be the
// first command of curl's transfer, i.e. all but those after a command that prepares a transfer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { passiveAnswerMayStallCurl } from '../../src/ftp/curl-stall.js';

const PREPARING = ['CWD', 'XCWD', 'CDUP', 'XCUP', 'TYPE', 'MODE', 'STRU', 'MDTM', 'SIZE', 'PRET'];

test('after a command that prepares a transfer, the answer cannot stall curl', () => {
  for (const verb of PREPARING) assert.equal(passiveAnswerMayStallCurl(verb), false, verb);
});

test('first command, after a transfer, after login or after anything else: it can', () => {
  for (const verb of [undefined, '', 'PASS', 'PWD', 'RETR', 'STOR', 'APPE', 'STOU', 'LIST', 'NLST', 'MLSD', 'EPSV', 'PASV', 'ABOR', 'REST', 'NOOP', 'cwd']) {
    assert.equal(passiveAnswerMayStallCurl(verb), true, String(verb));
  }
  // Fuzzed: any other verb of up to 8 letters waits.
  for (let i = 0; i < 5000; i++) {
    const verb = [...randomBytes(1 + (i % 8))].map((b) => String.fromCharCode(65 + (b % 26))).join('');
    assert.equal(passiveAnswerMayStallCurl(verb), !PREPARING.includes(verb), verb);
  }
});
