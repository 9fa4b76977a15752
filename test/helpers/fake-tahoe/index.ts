// A stand-in for a Tahoe-LAFS 1.20 node's web-API, for tests (no Tahoe node can run here).
// It implements the subset lafsd's web-API backend uses, following the recorded exchanges in
// shared/reference/tahoe-webapi-samples. It can be stopped and restarted on the same port (the
// node going down and coming back, state kept), slowed down, or made to fail requests.
//
//   const node = await startFakeTahoe();
//   const grid = new WebApiGrid(node.url);
//   …
//   await node.close();
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeTahoeHandler } from './handler.js';
import { sendFixed } from './render.js';
import { FakeState } from './state.js';

export interface FakeTahoeOptions {
  /** Port to listen on (default: an ephemeral one, kept across restart()). */
  port?: number;
  host?: string;
  /** Delay before each request is handled (ms); Infinity: requests hang until stop(). */
  delayMs?: number;
}

export interface RecordedRequest {
  method: string;
  /** Raw request target (path and query, as sent). */
  url: string;
  headers: IncomingHttpHeaders;
}

export interface FakeTahoe {
  /** Base URL of the web-API, e.g. `http://127.0.0.1:40123/` (like node.url). */
  readonly url: string;
  readonly port: number;
  /** Every request received, in order (cleared by resetLog()). */
  readonly requests: RecordedRequest[];
  readonly state: FakeState;
  /** The node goes down: the port is closed and open connections are dropped. State is kept. */
  stop(): Promise<void>;
  /** The node comes back on the same port with the same state. */
  restart(): Promise<void>;
  /** Stops for good and removes the temp folder. */
  close(): Promise<void>;
  setDelay(ms: number): void;
  /** The next `count` requests are answered `status` (default 503) without being handled. */
  failNext(count: number, status?: number): void;
  /**
   * The next `count` directory updates answer OK but are undone, as when a concurrent update of
   * the same directory through another client node wins (Tahoe 1.20 answers OK to both).
   */
  loseUpdates(count: number): void;
  /** The next `count` directory updates fail with UncoordinatedWriteError (500); `applied`: they happened all the same. */
  conflictNext(count: number, applied?: boolean): void;
  /** What the node does after the next upload's last byte (see Behaviour.uploadCommit). */
  onNextUploadCommit(mode: 'hang' | 'stall' | number): void;
  /** Ends a 'hang': held requests are handled. */
  unfreeze(): void;
  resetLog(): void;
}

export async function startFakeTahoe(options: FakeTahoeOptions = {}): Promise<FakeTahoe> {
  const host = options.host ?? '127.0.0.1';
  const folder = mkdtempSync(join(tmpdir(), 'fake-tahoe-'));
  const state = new FakeState(folder);
  const handler = new FakeTahoeHandler(state);
  const requests: RecordedRequest[] = [];
  let delayMs = options.delayMs ?? 0;
  let failures: { count: number; status: number } = { count: 0, status: 503 };
  const pending = new Set<NodeJS.Timeout>();

  const onRequest = (req: Parameters<Parameters<typeof createServer>[1] & {}>[0], res: ServerResponse) => {
    requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
    req.on('error', () => {}); // a client that goes away mid-upload is not our crash
    res.on('error', () => {});
    const run = () => {
      if (handler.behaviour.frozen) {
        void handler.behaviour.frozen.then(run);
        return;
      }
      if (failures.count > 0) {
        failures.count--;
        req.resume();
        sendFixed(res, failures.status, 'text/plain;charset=utf-8', 'simulated failure of the stand-in node');
        return;
      }
      void handler.handle(req, res);
    };
    if (delayMs === Infinity) return; // hangs until stop() drops the connection
    if (delayMs > 0) {
      const timer = setTimeout(() => {
        pending.delete(timer);
        run();
      }, delayMs);
      pending.add(timer);
    } else run();
  };

  let server: Server | undefined;
  let port = options.port ?? 0;

  const listen = async () => {
    const s = createServer({ keepAliveTimeout: 5000 }, onRequest);
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.listen(port, host, () => {
        s.off('error', reject);
        resolve();
      });
    });
    port = (s.address() as AddressInfo).port;
    server = s;
  };

  const stop = async () => {
    handler.unfreeze();
    const s = server;
    server = undefined;
    for (const t of pending) clearTimeout(t);
    pending.clear();
    if (!s) return;
    const closed = new Promise<void>((resolve) => s.close(() => resolve()));
    s.closeAllConnections();
    await closed;
  };

  await listen();
  return {
    get url() {
      return `http://${host}:${port}/`;
    },
    get port() {
      return port;
    },
    requests,
    state,
    stop,
    async restart() {
      if (!server) await listen();
    },
    async close() {
      await stop();
      rmSync(folder, { recursive: true, force: true });
    },
    setDelay(ms: number) {
      delayMs = ms;
    },
    failNext(count: number, status = 503) {
      failures = { count, status };
    },
    loseUpdates(count: number) {
      handler.behaviour.loseUpdates = count;
    },
    conflictNext(count: number, applied = false) {
      handler.behaviour.conflicts = { count, applied };
    },
    onNextUploadCommit(mode: 'hang' | 'stall' | number) {
      handler.behaviour.uploadCommit = mode;
    },
    unfreeze() {
      handler.unfreeze();
    },
    resetLog() {
      requests.length = 0;
    },
  };
}
