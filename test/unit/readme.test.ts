// The README documents every tahoe.cfg key exactly as the schema defines it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { renderConfigReference } from '../../src/config/index.js';

test('the README configuration reference matches the schema (npm run docs updates it)', () => {
  const readme = readFileSync(fileURLToPath(new URL('../../../README.md', import.meta.url)), 'utf8');
  const start = readme.indexOf('<!-- config-reference:start -->\n');
  const end = readme.indexOf('<!-- config-reference:end -->');
  assert.ok(start >= 0 && end > start, 'markers present');
  assert.equal(readme.slice(start + '<!-- config-reference:start -->\n'.length, end), renderConfigReference());
});

test('the README starts with the two commands that work on a fresh machine', () => {
  const readme = readFileSync(fileURLToPath(new URL('../../../README.md', import.meta.url)), 'utf8');
  const firstBlock = /```sh\n([\s\S]*?)```/.exec(readme)?.[1] ?? '';
  assert.match(firstBlock.split('\n')[0]!, /^npm install && npm start\b/);
  assert.match(firstBlock.split('\n')[1]!, /^npm test\b/);
});
