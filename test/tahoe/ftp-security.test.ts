// test/integration/ftp-security.test.ts on a real Tahoe-LAFS node (the opt-in lane; skipped without a grid).
import { onRealGrid } from '../helpers/tahoe-grid.js';

await onRealGrid('ftp-security', () => import('../integration/ftp-security.test.js'));
