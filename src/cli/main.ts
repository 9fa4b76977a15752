#!/bin/sh
//usr/bin/env true; exec /usr/bin/env MALLOC_MMAP_THRESHOLD_=1048576 MALLOC_TRIM_THRESHOLD_=16777216 MALLOC_ARENA_MAX=2 node --initial-old-space-size=128 --max-semi-space-size=1 "$0" "$@"
// The `lafsd` command: parses arguments and calls the layers below. No policy lives here.
//
// Run as a command, this file is a shell script for its first two lines: /bin/sh runs the line
// above (`//usr/bin/env true` does nothing), which execs Node on this file (same PID, so signals
// and service managers see Node) with the settings below; Node reads both lines as comments. A
// `#!/usr/bin/env -S …` line would do the same only up to 127 characters: Linux before 5.1 (RHEL
// 8's 4.18, for one) cuts a `#!` line there, and these settings take 156.
//
// Why the V8 flags on the line above (Node refuses the first in NODE_OPTIONS, and setting either
// once running is too late):
// - --initial-old-space-size=128: every socket read is a new 64 KiB ArrayBuffer, and the ones a
//   queued WRITE holds through two scavenges count against an old generation sized for a ~10 MB
//   heap, so V8 ran a mark-compact every ~15 MiB of upload. Measured on this 2-core machine,
//   3 × 512 MiB SFTP uploads: 110 mark-compacts with the default, none with 128 MB; lafsd's CPU
//   time per upload 2.1-2.9 s → 1.4-1.9 s, wall 1.6-2.1 s → 1.2-1.5 s, the same peak RSS
//   (160-163 vs 166-181 MiB). Downloads of 512 MiB take 1.5 s instead of 1.95 s, but the
//   segments they cache are promoted before they die, so their peak RSS rises by ~50 MiB (one
//   heap: not per client). 64 MB took half of both effects.
// - --max-semi-space-size=1 (MB; V8's default grows to 16): the socket reads an upload has
//   finished with die at the next scavenge, and scavenges come as the young generation's JS
//   objects fill it, so a smaller one frees them sooner. One 1 GiB OpenSSH upload, 5 interleaved
//   runs each: peak RSS 99-102 MiB instead of 125-127 (2 MB: 106-112), the same wall time
//   (2.32-2.60 s against 2.34-2.59); idle 65 MiB instead of 70. Downloads peak as before.
// - MALLOC_MMAP_THRESHOLD_=1048576 (glibc, read at its first allocation, so only the environment
//   can set it): glibc raises its mmap threshold (up to 32 MiB) each time it frees a mapped
//   chunk, so after a burst the large buffers come from the heap, which it does not give back.
//   Rounds of 8 × 256 MiB uploads in one process peaked at 147-156, 174-192, then 201-219 MiB
//   (4 runs); with a fixed 1 MiB threshold, 151-160, 155-184, 157-163 (3 runs), at the same speed
//   (6.4-8.5 s a round against 6.2-9.1; one 1 GiB upload 2.6-3.5 s and 100-102 MiB either way).
//   A fixed 128 KiB threshold stopped the growth too but took 4× the time (every segment mapped
//   and unmapped). Other C libraries ignore the variable.
// - MALLOC_TRIM_THRESHOLD_=16777216 (glibc; fixing the mmap threshold also fixes this one at its
//   default of 128 KiB, which glibc otherwise raises along with it): the heap keeps up to 16 MiB
//   free at its top instead of giving back every 128 KiB at once and faulting the same pages in
//   again for the next segments. Interleaved A/B runs: curl's 1 GiB FTP downloads 0.9-1.4 s
//   against 1.8-2.7 s (main-thread CPU 0.7-1.1 s against 1.4-2.4); bench/sftp.sh's rows 15-40%
//   faster. 4 MiB gave nothing, 8 MiB a part, 32 MiB no more than 16.
// - MALLOC_ARENA_MAX=2 (glibc): each arena keeps its own 16 MiB, and glibc makes one per thread
//   that allocates (libuv's pool, V8's helpers; then also a sealing worker). With the trim threshold
//   alone one 1 GiB SFTP upload peaked at 107-108 MiB and the FTP bench at 205 against 166; with
//   two arenas the upload peaks at 101-102 MiB, as without either, and downloads keep most of
//   the gain (1.2-1.4 s). 8 × 256 MiB at once: 161 MiB in a fresh process, 166 without it,
//   150-155 with neither.
// Start `node` with the same flags and variables when running a checkout (as `npm start` does).
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { ConfigError } from '../config/errors.js';
import { AuthError } from '../auth/errors.js';
import { GridError } from '../grid/errors.js';
import { VfsError } from '../vfs/errors.js';
import { USAGE, UsageError } from './usage.js';
import { VERSION } from '../util/version.js';

type Options = NonNullable<ParseArgsConfig['options']>;

function parse(args: string[], options: Options, positionals: [min: number, max: number]) {
  let parsed;
  try {
    parsed = parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const n = parsed.positionals.length;
  if (n < positionals[0] || n > positionals[1]) throw new UsageError(`wrong number of arguments`);
  return { values: parsed.values as Record<string, string | boolean | undefined>, pos: parsed.positionals };
}

const str = (v: string | boolean | undefined) => (typeof v === 'string' ? v : undefined);

// Each command loads its own modules when it runs: loading them all (the SSH and FTP servers,
// SQLite, the store) took 0.37 s of every command's start, `lafsd --version` included.
const COMMANDS: Record<string, (args: string[]) => Promise<number | void>> = {
  async init(args) {
    const { values, pos } = parse(args, { 'sftp-port': { type: 'string' }, 'ftp-port': { type: 'string' }, 'metrics-port': { type: 'string' } }, [1, 1]);
    const sftpPort = str(values['sftp-port']);
    const ftpPort = str(values['ftp-port']);
    const metricsPort = str(values['metrics-port']);
    const { initNode } = await import('../node/nodedir.js');
    const base = await initNode(pos[0]!, { ...(sftpPort ? { sftpPort } : {}), ...(ftpPort ? { ftpPort } : {}), ...(metricsPort ? { metricsPort } : {}) });
    process.stderr.write(`created node ${base}\nnext: lafsd add-user ${pos[0]} NAME, then lafsd run ${pos[0]}\n`);
  },
  async run(args) {
    const { pos } = parse(args, {}, [1, 1]);
    const { runCommand } = await import('./run-commands.js');
    return runCommand(pos[0]!);
  },
  async 'check-config'(args) {
    const { pos } = parse(args, {}, [1, 1]);
    const { checkConfigCommand } = await import('./run-commands.js');
    return checkConfigCommand(pos[0]!, process.stdout, process.stderr);
  },
  async quickstart(args) {
    const { pos } = parse(args, {}, [1, 1]);
    const { quickstartCommand } = await import('./run-commands.js');
    return quickstartCommand(pos[0]!);
  },
  async 'sftp-server'(args) {
    const { values, pos } = parse(args, { stdio: { type: 'boolean' }, user: { type: 'string' } }, [1, 1]);
    if (!values.stdio) throw new UsageError('sftp-server needs --stdio');
    const user = str(values.user);
    if (!user) throw new UsageError('sftp-server needs --user NAME');
    const { sftpStdioCommand } = await import('./run-commands.js');
    return sftpStdioCommand(pos[0]!, user);
  },
  async 'add-user'(args) {
    const { values, pos } = parse(args, {
      password: { type: 'string' }, 'password-stdin': { type: 'boolean' }, pubkey: { type: 'string' }, root: { type: 'string' },
    }, [2, 2]);
    const password = str(values.password);
    const pubkeyFile = str(values.pubkey);
    const root = str(values.root);
    const { addUserCommand } = await import('./account-commands.js');
    await addUserCommand(pos[0]!, pos[1]!, {
      ...(password !== undefined ? { password } : {}),
      passwordStdin: Boolean(values['password-stdin']),
      ...(pubkeyFile !== undefined ? { pubkeyFile } : {}),
      ...(root !== undefined ? { root } : {}),
    }, process.stdin, process.stdout, process.stderr);
  },
  async passwd(args) {
    const { values, pos } = parse(args, { password: { type: 'string' }, 'password-stdin': { type: 'boolean' } }, [2, 2]);
    const password = str(values.password);
    const { passwdCommand } = await import('./account-commands.js');
    await passwdCommand(pos[0]!, pos[1]!, { ...(password !== undefined ? { password } : {}), passwordStdin: Boolean(values['password-stdin']) }, process.stdin, process.stderr);
  },
  async mkdir(args) {
    const { values, pos } = parse(args, { 'no-keep': { type: 'boolean' } }, [1, 2]);
    const { mkdirCommand } = await import('./store-commands.js');
    await mkdirCommand(pos[0]!, pos[1], { keep: !values['no-keep'] }, process.stdout);
  },
  async ls(args) {
    const { values, pos } = parse(args, { long: { type: 'boolean', short: 'l' }, uri: { type: 'boolean' } }, [2, 2]);
    const { lsCommand } = await import('./store-commands.js');
    await lsCommand(pos[0]!, pos[1]!, { long: Boolean(values.long), uri: Boolean(values.uri) }, process.stdout);
  },
  async put(args) {
    const { values, pos } = parse(args, { mutable: { type: 'boolean' }, format: { type: 'string' }, 'no-keep': { type: 'boolean' } }, [1, 2]);
    const format = str(values.format)?.toUpperCase() ?? 'SDMF';
    if (format !== 'SDMF' && format !== 'MDMF') throw new UsageError('--format is SDMF or MDMF');
    const keep = !values['no-keep'];
    const { putCommand } = await import('./store-commands.js');
    await putCommand(pos[0]!, pos[1], values.mutable ? { mutable: format, keep } : { keep }, process.stdin, process.stdout);
  },
  async get(args) {
    const { pos } = parse(args, {}, [2, 2]);
    const { getCommand } = await import('./store-commands.js');
    await getCommand(pos[0]!, pos[1]!, process.stdout);
  },
  async rm(args) {
    const { pos } = parse(args, {}, [2, 2]);
    const { rmCommand } = await import('./store-commands.js');
    await rmCommand(pos[0]!, pos[1]!);
  },
  async gc(args) {
    const { values, pos } = parse(args, { 'dry-run': { type: 'boolean' }, 'ignore-damaged': { type: 'boolean' } }, [1, 1]);
    const { gcCommand } = await import('./gc-command.js');
    return gcCommand(pos[0]!, { dryRun: Boolean(values['dry-run']), ignoreDamaged: Boolean(values['ignore-damaged']) }, process.stdout, process.stderr);
  },
  async mv(args) {
    const { pos } = parse(args, {}, [3, 3]);
    const { mvCommand } = await import('./store-commands.js');
    await mvCommand(pos[0]!, pos[1]!, pos[2]!);
  },
};

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (!command || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(USAGE);
    return command ? 0 : 2;
  }
  if (command === '--version' || command === '-V' || command === 'version') {
    process.stdout.write(`lafsd ${VERSION} (Node.js ${process.versions.node})\n`);
    return 0;
  }
  const handler = COMMANDS[command];
  try {
    if (!handler) throw new UsageError(`unknown command ${JSON.stringify(command)}`);
    return (await handler(rest)) ?? 0;
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`lafsd: ${err.message}\n\n${USAGE}`);
      return 2;
    }
    if (err instanceof ConfigError || err instanceof AuthError || err instanceof GridError || err instanceof VfsError) {
      process.stderr.write(`lafsd: ${err.message}\n`);
      return 1;
    }
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EPIPE') return 1;
    process.stderr.write(`lafsd: ${(err as Error).message ?? String(err)}\n`);
    return 1;
  }
}

process.exitCode = await main(process.argv.slice(2));
