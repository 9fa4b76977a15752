// ftp-tls.test.ts again, with the web-API backend over the stand-in Tahoe node under the server:
// the same tests, grouped under one suite so a failure says which backend it was.
import { describe } from 'node:test';
import { BACKEND_ENV } from '../helpers/backend.js';

process.env[BACKEND_ENV] = 'webapi';
describe('web-API backend (stand-in Tahoe node)', { timeout: Infinity }, async () => {
  await import('../integration/ftp-tls.test.js');
});
