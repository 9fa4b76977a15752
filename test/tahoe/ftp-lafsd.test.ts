// test/integration/ftp-lafsd.test.ts on a real Tahoe-LAFS node (the opt-in lane; skipped without a grid).
import { onRealGrid } from '../helpers/tahoe-grid.js';

await onRealGrid('ftp-lafsd', () => import('../integration/ftp-lafsd.test.js'));
