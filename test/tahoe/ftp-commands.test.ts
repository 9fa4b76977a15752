// test/integration/ftp-commands.test.ts on a real Tahoe-LAFS node (the opt-in lane; skipped without a grid).
import { onRealGrid } from '../helpers/tahoe-grid.js';

await onRealGrid('ftp-commands', () => import('../integration/ftp-commands.test.js'));
