// An SFTP session over an in-memory stream, on Tahoe's test_sftp.py fixture tree in a real
// embedded store, with a client that records every reply (for the session's unit tests).
import assert from 'node:assert/strict';
import type { FileReader, Grid } from '../../src/grid/index.js';
import { runSftpSession, type SftpSessionOptions } from '../../src/sftp/session.js';
import { OpenFiles, VfsSession, type VfsLimits } from '../../src/vfs/index.js';
import { buildFixture, type Fixture } from './fixture.js';
import { duplexPair, SftpTestClient } from './sftp-client.js';
import { tempDir } from './tmp.js';
import type { MemoryShare } from '../../src/util/memory-budget.js';

export interface Harness {
  f: Fixture;
  c: SftpTestClient;
  vfs: VfsSession;
  openFiles: OpenFiles;
  session: ReturnType<typeof runSftpSession>;
  /** Ends the client side, waits for the session, checks nothing leaked, and closes the store it built. */
  end(): Promise<void>;
}

export async function start(
  opts: {
    root?: (f: Fixture) => string; session?: SftpSessionOptions; fixture?: Fixture; grid?: (f: Fixture) => Grid; limits?: VfsLimits;
    memory?: MemoryShare;
    /** The server end's write buffer size (default 16 KiB; ssh2's channels have 2 MiB). */
    serverHighWaterMark?: number;
  } = {},
): Promise<Harness> {
  const f = opts.fixture ?? (await buildFixture());
  const openFiles = new OpenFiles();
  const vfs = new VfsSession({ grid: opts.grid ? opts.grid(f) : f.grid, rootCap: opts.root ? opts.root(f) : f.root, username: 'alice', openFiles, spillDir: tempDir(),
    ...(opts.limits ? { limits: opts.limits } : {}), ...(opts.memory ? { memory: opts.memory } : {}),
  });
  const [serverEnd, clientEnd] = duplexPair(opts.serverHighWaterMark);
  const session = runSftpSession(serverEnd, vfs, opts.session);
  const c = new SftpTestClient(clientEnd);
  await c.init();
  return {
    f, c, vfs, openFiles, session,
    async end() {
      await c.end();
      await session.done;
      assert.equal(session.openHandles, 0, 'no handle left');
      assert.equal(vfs.openFileCount, 0, 'no vfs file left open');
      assert.equal(openFiles.size, 0, 'no open writer left registered');
      assert.deepEqual(c.garbage, [], 'every reply decodes');
      for (const [id, n] of c.answered) assert.equal(n, 1, `id ${id} answered ${n} times`);
      // A store left open kept its WAL file handle until V8 collected it (Node warns); one the
      // caller passed in is the caller's to close.
      if (!opts.fixture) await f.grid.close();
    },
  };
}


/** `grid`, except that reads of files whose first `length` bytes start at `slowOffset` wait `ms`. */
export function withSlowRead(grid: Grid, slowOffset: number, ms: number): Grid {
  return new Proxy(grid, {
    get(target, key) {
      if (key === 'openRead') {
        return async (cap: string): Promise<FileReader> => {
          const r = await target.openRead(cap);
          return {
            size: r.size,
            read: async (offset, length) => {
              if (offset === slowOffset) await new Promise((resolve) => setTimeout(resolve, ms));
              return r.read(offset, length);
            },
            close: () => r.close(),
          };
        };
      }
      const v: unknown = Reflect.get(target, key, target);
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

