// The local tree every client in the interop matrix uploads: a few small files (one empty, one
// under a UTF-8 directory name) and one big random file, plus helpers to compare what came back.
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pseudoRandom, sha256 } from './data.js';
import type { RunResult } from './run.js';
import { tempDir } from './tmp.js';

/** How often the big file is downloaded again (timing-dependent reply bugs; default 5). */
export const REPEAT = Number(process.env.LAFSD_INTEROP_REPEAT ?? 5);

/** Size of the big file: over 20 MiB and not a multiple of any block size. */
export const BIG = 20 * 1024 * 1024 + 12345;

export const UTF8_DIR = 'ünïcødé';
export const UTF8_FILE = 'grüße €.txt';

export interface ClientTree {
  /** Folder holding `tree/` and nothing else. */
  dir: string;
  /** The tree to upload: big.bin, small.txt, empty, ünïcødé/grüße €.txt, sub/deeper/x.txt. */
  tree: string;
  big: Buffer;
  bigSha: string;
}

/** A fresh tree in a temp folder; `seed` makes each client's big file different. */
export function clientTree(seed: string): ClientTree {
  const dir = tempDir(`lafsd-${seed}-`);
  const tree = join(dir, 'tree');
  mkdirSync(join(tree, UTF8_DIR), { recursive: true });
  mkdirSync(join(tree, 'sub', 'deeper'), { recursive: true });
  const big = pseudoRandom(`${seed}-big`, BIG);
  writeFileSync(join(tree, 'big.bin'), big);
  writeFileSync(join(tree, 'small.txt'), `small file of ${seed}\n`);
  writeFileSync(join(tree, 'empty'), '');
  writeFileSync(join(tree, UTF8_DIR, UTF8_FILE), 'UTF-8 names\n');
  writeFileSync(join(tree, 'sub', 'deeper', 'x.txt'), 'x'.repeat(70_000));
  return { dir, tree, big, bigSha: sha256(big) };
}

/** Every file and folder under `root`: `path/` for folders, `path size sha256` for files. */
export function describeTree(root: string, skip: (name: string) => boolean = () => false): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    for (const name of readdirSync(join(root, rel)).sort()) {
      if (skip(name)) continue;
      const path = rel ? `${rel}/${name}` : name;
      const st = statSync(join(root, path));
      if (st.isDirectory()) {
        out.push(`${path}/`);
        walk(path);
      } else {
        out.push(`${path} ${st.size} ${sha256(readFileSync(join(root, path)))}`);
      }
    }
  };
  walk('');
  return out;
}

/** Asserts that `got` holds exactly the files and folders of `want` (names NFC-compared). */
export function assertSameTree(got: string, want: string, what: string, skip?: (name: string) => boolean): void {
  const norm = (lines: string[]) => lines.map((l) => l.normalize('NFC'));
  assert.deepEqual(norm(describeTree(got, skip)), norm(describeTree(want, skip)), `${what}: tree differs`);
}

export function succeeded(r: RunResult, what: string): RunResult {
  assert.equal(r.code, 0, `${what} exited ${r.code}:\n${r.stderr}\n${r.stdout.toString().slice(-2000)}`);
  return r;
}
