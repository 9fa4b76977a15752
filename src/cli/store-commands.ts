// `lafsd mkdir|ls|put|get|rm|mv`: work on the configured grid directly, like `tahoe ls/put/get`,
// through a vfs session rooted at the given cap — the same rules as over SFTP and FTP.
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import type { Readable, Writable } from 'node:stream';
import { loadNodeConfig, type NodeConfig } from '../config/index.js';
import type { Grid } from '../grid/index.js';
import { keepUnlinked } from '../node/gc.js';
import { openGrid } from '../node/nodedir.js';
import { lsLine, OpenFiles, VfsSession, parentOf, nameOf, isVfsError } from '../vfs/index.js';
import { parseTarget, type Target } from './target.js';
import { UsageError } from './usage.js';

const CHUNK = 1024 * 1024;

async function withGrid<T>(basedir: string, fn: (grid: Grid, config: NodeConfig) => Promise<T>): Promise<T> {
  const config = loadNodeConfig(basedir);
  const grid = await openGrid(config);
  try {
    return await fn(grid, config);
  } finally {
    await grid.close();
  }
}

function sessionFor(grid: Grid, target: Target): VfsSession {
  return new VfsSession({ grid, rootCap: target.cap, username: 'cli', openFiles: new OpenFiles(), spillDir: tmpdir() });
}

/** The cap now linked at `target` (to print after a change). */
async function capAt(grid: Grid, target: Target): Promise<string> {
  let cap = target.path.cap ?? target.cap;
  for (const name of target.path.parts) {
    const entry = await grid.getChild(cap, name);
    if (!entry) throw new Error(`${name} disappeared`);
    cap = entry.node.cap;
  }
  return cap;
}

export async function mkdirCommand(basedir: string, targetText: string | undefined, opts: { keep: boolean }, out: Writable): Promise<void> {
  await withGrid(basedir, async (grid, config) => {
    if (targetText === undefined) {
      // Nothing links a new unlinked directory: the keep file does, so gc keeps it (gc.ts).
      const cap = await grid.createDirectory();
      if (opts.keep) await keepUnlinked(config, cap, 'lafsd mkdir');
      out.write(`${cap}\n`);
      return;
    }
    const target = parseTarget(targetText);
    if (target.path.parts.length === 0) throw new UsageError('mkdir needs a path below the cap (CAP/NAME)');
    await sessionFor(grid, target).mkdir(target.path);
    out.write(`${await capAt(grid, target)}\n`);
  });
}

export async function lsCommand(basedir: string, targetText: string, opts: { long: boolean; uri: boolean }, out: Writable): Promise<void> {
  await withGrid(basedir, async (grid) => {
    const target = parseTarget(targetText);
    const session = sessionFor(grid, target);
    const attrs = await session.attrs(target.path);
    const entries = attrs.kind === 'dir'
      ? (await session.list(target.path)).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
      : [{ name: nameOf(target.path) ?? '', attrs }];
    const caps = opts.uri && attrs.kind === 'dir' ? new Map((await grid.list(await capAt(grid, target))).map((e) => [e.name, e.node.cap])) : undefined;
    for (const e of entries) {
      const line = opts.long ? lsLine(e.name, e.attrs) : e.name;
      out.write(caps ? `${line} ${caps.get(e.name) ?? '-'}\n` : `${line}\n`);
    }
  });
}

export async function putCommand(
  basedir: string, targetText: string | undefined, opts: { mutable?: 'SDMF' | 'MDMF'; keep?: boolean }, input: Readable, out: Writable,
): Promise<void> {
  await withGrid(basedir, async (grid, config) => {
    if (targetText === undefined || opts.mutable) {
      // Unlinked upload (like `tahoe put` without a destination), or the content of a new mutable file.
      const sink = await grid.upload();
      try {
        for await (const chunk of input) await sink.write(chunk as Buffer);
      } catch (err) {
        await sink.abort();
        throw err;
      }
      let cap = await sink.finish();
      if (opts.mutable) cap = await grid.createMutable({ immutableCap: cap }, opts.mutable);
      if (targetText !== undefined) {
        const target = parseTarget(targetText);
        const parent = parentOf(target.path);
        const name = nameOf(target.path);
        if (!name) throw new UsageError('put needs a path below the cap (CAP/NAME)');
        await grid.setChild(await capAt(grid, { cap: target.cap, path: parent }), name, cap, { replace: 'only-files' });
      } else {
        await grid.sync(); // nothing links it: the cap must not outlive its data after a crash
        if (opts.keep !== false) await keepUnlinked(config, cap, opts.mutable ? 'lafsd put --mutable' : 'lafsd put');
      }
      out.write(`${cap}\n`);
      return;
    }
    const target = parseTarget(targetText);
    const session = sessionFor(grid, target);
    const file = await session.open(target.path, { write: true, create: true, truncate: true });
    try {
      let offset = 0;
      for await (const chunk of input) {
        await file.write(offset, chunk as Buffer);
        offset += (chunk as Buffer).length;
      }
    } catch (err) {
      await session.close();
      throw err;
    }
    await session.closeFile(file);
    out.write(`${await capAt(grid, target)}\n`);
  });
}

export async function getCommand(basedir: string, targetText: string, out: Writable): Promise<void> {
  await withGrid(basedir, async (grid) => {
    const target = parseTarget(targetText);
    const session = sessionFor(grid, target);
    const file = await session.open(target.path, { read: true });
    try {
      for (let offset = 0; ; ) {
        const data = await file.read(offset, CHUNK);
        if (data.length === 0) break;
        offset += data.length;
        if (!out.write(data)) await once(out, 'drain');
      }
    } finally {
      await session.closeFile(file);
    }
  });
}

export async function rmCommand(basedir: string, targetText: string): Promise<void> {
  await withGrid(basedir, async (grid) => {
    const target = parseTarget(targetText);
    const session = sessionFor(grid, target);
    try {
      await session.remove(target.path);
    } catch (err) {
      if (!isVfsError(err, 'IS_A_DIRECTORY')) throw err;
      await session.rmdir(target.path);
    }
  });
}

export async function mvCommand(basedir: string, fromText: string, toText: string): Promise<void> {
  await withGrid(basedir, async (grid) => {
    const from = parseTarget(fromText);
    const to = parseTarget(toText);
    // Targets are cap paths, so a move between two different caps works too.
    await sessionFor(grid, from).rename(from.path, to.path, 'posix');
  });
}
