// The Grid contract (test/helpers/grid-contract.ts) on a real Tahoe-LAFS node through the web-API
// backend with its default settings: what the stand-in node promises, the real one keeps.
// Every test works in directories it makes itself (`POST /uri?t=mkdir`). Opt-in lane: skipped
// without a grid.
import { test } from 'node:test';
import { WebApiGrid } from '../../src/grid/webapi/index.js';
import { gridContract } from '../helpers/grid-contract.js';
import { realGridOrSkip, skipReason } from '../helpers/tahoe-grid.js';

const grid = await realGridOrSkip();
if (!grid) {
  test('the Grid contract on a real Tahoe-LAFS node', { skip: await skipReason() }, () => {});
} else {
  gridContract({
    name: `real Tahoe-LAFS node ${grid.url}`,
    open: async () => {
      const g = new WebApiGrid(grid.url);
      return { grid: g, close: () => g.close() };
    },
    chkShares: '2:3',
    segmentSize: 131072,
    missingDirectory: 'UNAVAILABLE',
  });
}
