// The fixture tree of Tahoe's test_sftp.py, built in a real embedded store:
// root (mutable dir) holds mutable, readonly, groß, small, small2, empty_lit_dir,
// tiny_lit_dir, unknown, loop (the root itself, with 1989 times).
import { b32encode, literalCap, readCapOf } from '../../src/caps/index.js';
import { EmbeddedGrid } from '../../src/grid/embedded/index.js';
import { packChildren, type Grid } from '../../src/grid/index.js';
import { tempDir } from './tmp.js';

export const GROSS = Buffer.from('0123456789'.repeat(101));
export const UNKNOWN_CAP = 'x-tahoe-crazy://I_am_from_the_future.';
export const LOOP_TIME = Date.UTC(1989, 10, 9, 20, 0, 0) / 1000;

/** The tree on any grid. */
export interface FixtureTree {
  grid: Grid;
  root: string;
  caps: Record<'mutable' | 'readonly' | 'gross' | 'small' | 'small2' | 'tinyLitDir' | 'emptyLitDir', string>;
}

/** The tree in its own embedded store. */
export interface Fixture extends FixtureTree {
  grid: EmbeddedGrid;
  storeDir: string;
}

/** Whole-file upload and download (test/helpers/grid-io.ts), under the names fixture users know. */
import { get as readAll, put as putBytes } from './grid-io.js';

export { putBytes, readAll };

/** Stores opened in this process for fixtures, until closeFixtures. */
const built = new Set<EmbeddedGrid>();

/** Keeps `grid` for closeFixtures (buildFixture does; so may a test's own fixture builder). */
export function closeWithFixtures(grid: EmbeddedGrid): EmbeddedGrid {
  built.add(grid);
  return grid;
}

export async function buildFixture(): Promise<Fixture> {
  const storeDir = tempDir('lafsd-fixture-');
  const grid = closeWithFixtures(await EmbeddedGrid.open({ storeDir, convergenceSecret: Buffer.alloc(32, 3) }));
  return { ...(await buildTree(grid)), grid, storeDir };
}

/**
 * Closes every store kept for it in this process (closing one twice is harmless); for a test
 * file's `after`. A store nobody closed kept its WAL file handle until V8 collected it, which
 * Node warns about (and means to make an error).
 */
export async function closeFixtures(): Promise<void> {
  for (const grid of built) await grid.close();
  built.clear();
}

/** Builds the tree in a grid the caller owns (e.g. a web-API grid on the stand-in node). */
export async function buildTree(grid: Grid): Promise<FixtureTree> {
  const root = await grid.createDirectory();
  const mutable = await grid.createMutable({ immutableCap: await putBytes(grid, Buffer.from('mutable file contents')) });
  const gross = await putBytes(grid, GROSS);
  const small = await putBytes(grid, Buffer.from('0123456789'));
  const small2 = await putBytes(grid, Buffer.from('Small enough for a LIT too'));
  const tinyLitDir = `URI:DIR2-LIT:${b32encode(packChildren([{ name: 'short', readCap: literalCap(Buffer.from('The end.')), metadata: {} }]))}`;
  const emptyLitDir = 'URI:DIR2-LIT:';
  const link = (name: string, cap: string) => grid.setChild(root, name, cap, { replace: false });
  await link('mutable', mutable);
  await link('readonly', readCapOf(mutable));
  await link('groß', gross);
  await link('small', small);
  await link('small2', small2);
  await link('empty_lit_dir', emptyLitDir);
  await link('tiny_lit_dir', tinyLitDir);
  // A Tahoe node refuses an unknown cap that is not marked read-only (MustNotBeUnknownRWError:
  // it might be a write cap), so on any other grid it goes in the read slot, as Tahoe clients do.
  await link('unknown', grid instanceof EmbeddedGrid ? UNKNOWN_CAP : `ro.${UNKNOWN_CAP}`);
  await grid.setChild(root, 'loop', root, { replace: false, metadata: { mtime: LOOP_TIME } });
  return { grid, root, caps: { mutable, readonly: readCapOf(mutable), gross, small, small2, tinyLitDir, emptyLitDir } };
}
