// Rewrites the generated configuration reference in README.md from the schema (run after
// `npm run build`, via `npm run docs`). test/unit/readme.test.ts fails when they drift.
import { readFileSync, writeFileSync } from 'node:fs';
import { renderConfigReference } from '../dist/src/config/index.js';

const START = '<!-- config-reference:start -->';
const END = '<!-- config-reference:end -->';
const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
const a = readme.indexOf(START);
const b = readme.indexOf(END);
if (a < 0 || b < a) throw new Error('README.md lacks the config-reference markers');
const next = `${readme.slice(0, a + START.length)}\n${renderConfigReference()}${readme.slice(b)}`;
writeFileSync(new URL('../README.md', import.meta.url), next);
