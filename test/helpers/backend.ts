// Which grid backend a test suite runs on. The real-client suites are written once and run
// twice: as themselves on the embedded store (the default), and through a `*-webapi.test.ts`
// twin that sets LAFSD_TEST_BACKEND=webapi before importing them, so the same assertions hold
// for lafsd on the web-API backend pointed at the stand-in Tahoe node. The opt-in lane
// (test/tahoe/) sets LAFSD_TEST_BACKEND=tahoe: the web-API backend on a real Tahoe-LAFS node
// (test/helpers/tahoe-grid.ts), where every test file works in directories of its own, made
// fresh with `POST /uri?t=mkdir`.
import { EmbeddedGrid } from '../../src/grid/embedded/index.js';
import type { Grid } from '../../src/grid/index.js';
import { WebApiGrid } from '../../src/grid/webapi/index.js';
import { startFakeTahoe, type FakeTahoe } from './fake-tahoe/index.js';
import { realGrid } from './tahoe-grid.js';
import { tempDir } from './tmp.js';

/** embedded: the node's own store; webapi: the stand-in Tahoe node; tahoe: a real Tahoe node. */
export type Backend = 'embedded' | 'webapi' | 'tahoe';

export const BACKEND_ENV = 'LAFSD_TEST_BACKEND';

/** The backend chosen for this test process (LAFSD_TEST_BACKEND), embedded when unset. */
export function testBackend(): Backend {
  const value = process.env[BACKEND_ENV];
  if (value === undefined || value === '' || value === 'embedded') return 'embedded';
  if (value === 'webapi' || value === 'tahoe') return value;
  throw new Error(`${BACKEND_ENV}=${value}: expected embedded, webapi or tahoe`);
}

export interface TestGrid {
  grid: Grid;
  /** The stand-in node behind a web-API grid (to stop, slow down or inspect it). */
  fake?: FakeTahoe;
  /** The web-API URL (webapi and tahoe backends). */
  url?: string;
  /** Closes the grid, then the stand-in node. */
  close(): Promise<void>;
}

/** An in-process grid of the given backend: a fresh embedded store, or a fresh stand-in node. */
export async function openTestGrid(backend: Backend = testBackend()): Promise<TestGrid> {
  if (backend === 'embedded') {
    const grid = await EmbeddedGrid.open({ storeDir: tempDir('lafsd-grid-'), convergenceSecret: Buffer.alloc(32, 3) });
    return { grid, close: () => grid.close() };
  }
  if (backend === 'tahoe') {
    const url = await realTahoeUrl();
    const grid = new WebApiGrid(url);
    return { grid, url, close: () => grid.close() };
  }
  const fake = await startFakeTahoe();
  const grid = new WebApiGrid(fake.url);
  return {
    grid,
    fake,
    url: fake.url,
    close: async () => {
      await grid.close();
      await fake.close();
    },
  };
}

/** The real node's web-API URL (the tahoe backend); fails when the lane has no grid. */
export async function realTahoeUrl(): Promise<string> {
  const g = await realGrid();
  if (typeof g === 'string') throw new Error(`${BACKEND_ENV}=tahoe: ${g}`);
  return g.url;
}
