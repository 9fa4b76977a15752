// test/integration/sftp-tcp.test.ts on a real Tahoe-LAFS node (the opt-in lane; skipped without a grid).
import { onRealGrid } from '../helpers/tahoe-grid.js';

await onRealGrid('sftp-tcp', () => import('../integration/sftp-tcp.test.js'));
