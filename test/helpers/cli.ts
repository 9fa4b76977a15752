// Runs the real `lafsd` command (the compiled CLI) as a child process.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Readable } from 'node:stream';

export const LAFSD = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

/**
 * What the `lafsd` command's launch line sets and passes: line 2 of src/cli/main.ts,
 * `//usr/bin/env true; exec /usr/bin/env [NAME=VALUE…] node [OPTION…] "$0" "$@"`, which /bin/sh
 * runs (see there for why not a `#!/usr/bin/env -S` line).
 */
export function shebangLaunch(script: string): { env: Record<string, string>; flags: string[] } {
  const [first, second] = readFileSync(script, 'utf8').split('\n', 2);
  const m = /^\/\/usr\/bin\/env true; exec \/usr\/bin\/env ((?:[A-Za-z_][A-Za-z0-9_]*=\S*\s+)*)node((?:\s+--\S+)*) "\$0" "\$@"$/.exec(second ?? '');
  if (first !== '#!/bin/sh' || !m) throw new Error(`${script} does not start with lafsd's launch lines: ${first} / ${second}`);
  const env: Record<string, string> = {};
  for (const assignment of m[1]!.trim().split(/\s+/).filter(Boolean)) {
    const eq = assignment.indexOf('=');
    env[assignment.slice(0, eq)] = assignment.slice(eq + 1);
  }
  return { env, flags: m[2]!.trim().split(/\s+/).filter(Boolean) };
}

/** The Node options on the launch line. */
export function shebangNodeFlags(script: string): string[] {
  return shebangLaunch(script).flags;
}

/** Tests start lafsd with the Node options and environment the installed command has. */
export const LAFSD_NODE_FLAGS = shebangNodeFlags(LAFSD);
export const LAFSD_NODE_ENV = shebangLaunch(LAFSD).env;

export interface CliResult {
  code: number | null;
  stdout: Buffer;
  stderr: string;
}

export function lafsd(args: string[], input?: Buffer | string | Readable, env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...LAFSD_NODE_FLAGS, LAFSD, ...args], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...LAFSD_NODE_ENV, ...env } });
    const out: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout: Buffer.concat(out), stderr: err }));
    child.stdin.on('error', () => {}); // the command may exit before reading all of stdin
    if (input === undefined) child.stdin.end();
    else if (typeof input === 'string' || Buffer.isBuffer(input)) child.stdin.end(input);
    else input.pipe(child.stdin);
  });
}

/** Runs `lafsd` and fails with its stderr when it does not exit 0. */
export async function lafsdOk(args: string[], input?: Buffer | string | Readable): Promise<CliResult> {
  const r = await lafsd(args, input);
  if (r.code !== 0) throw new Error(`lafsd ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return r;
}
