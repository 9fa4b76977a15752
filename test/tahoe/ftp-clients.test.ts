// test/integration/ftp-clients.test.ts on a real Tahoe-LAFS node (the opt-in lane; skipped without a grid).
import { onRealGrid } from '../helpers/tahoe-grid.js';

await onRealGrid('ftp-clients', () => import('../integration/ftp-clients.test.js'));
