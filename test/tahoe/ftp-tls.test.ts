// test/integration/ftp-tls.test.ts on a real Tahoe-LAFS node (the opt-in lane; skipped without a grid).
import { onRealGrid } from '../helpers/tahoe-grid.js';

await onRealGrid('ftp-tls', () => import('../integration/ftp-tls.test.js'));
