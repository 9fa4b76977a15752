// The stand-in Tahoe node in a process of its own, for bench/webapi.sh `fake`: prints its URL
// on stdout, serves until stdin closes or SIGTERM.
import { startFakeTahoe } from '../test/helpers/fake-tahoe/index.js';

const node = await startFakeTahoe();
process.stdout.write(`${node.url}\n`);
const stop = () => void node.close().then(() => process.exit(0));
process.stdin.on('end', stop);
process.stdin.resume();
process.on('SIGTERM', stop);
