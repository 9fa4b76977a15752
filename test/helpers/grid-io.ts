// Whole-file upload and download through any Grid, for tests.
import type { Grid } from '../../src/grid/index.js';

export async function put(grid: Grid, data: Buffer, chunk = 65536): Promise<string> {
  const up = await grid.upload();
  for (let i = 0; i < data.length; i += chunk) await up.write(data.subarray(i, i + chunk));
  return up.finish();
}

export async function get(grid: Grid, cap: string): Promise<Buffer> {
  const r = await grid.openRead(cap);
  try {
    return await r.read(0, r.size);
  } finally {
    await r.close();
  }
}
