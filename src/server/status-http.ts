// The metrics and health listener ([lafsd] metrics), plain HTTP without login:
//   GET /metrics  Prometheus text format
//   GET /healthz  200 while the process answers (a liveness check: restart it when this fails)
//   GET /readyz   200 when every enabled listener is bound and the store (or the Tahoe node of
//                 the web-API backend) answers; 503 with the reason otherwise, also while
//                 starting and stopping (a readiness check: send no clients while it fails)
// Other paths are 404, other methods 405. Bodies are one line of text; none holds a cap.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Logger } from '../util/logger.js';
import { redactCaps } from './log.js';

export interface StatusSource {
  /** Undefined when ready, else why not (one line). */
  readiness(): Promise<string | undefined>;
  metrics(): Promise<{ contentType: string; body: string }>;
}

export interface StatusServerOptions {
  host: string;
  port: number;
  backlog?: number;
  source: StatusSource;
  logger: Logger;
}

export interface RunningStatusServer {
  address: { host: string; port: number };
  close(): Promise<void>;
}

export async function startStatusServer(opts: StatusServerOptions): Promise<RunningStatusServer> {
  const { source, logger } = opts;
  const server: Server = createServer((req, res) => {
    handle(req, res, source).catch((err: unknown) => {
      logger.error({ err: String(err) }, 'status request failed');
      if (!res.headersSent) send(res, req, 500, 'internal error\n');
      else res.destroy();
    });
  });
  // Scrapers and probes send small requests and expect quick answers.
  server.headersTimeout = 5_000;
  server.requestTimeout = 10_000;
  server.keepAliveTimeout = 5_000;
  server.maxHeadersCount = 50;
  server.on('clientError', (_err, sock) => sock.destroy());
  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error) => reject(new Error(`metrics: cannot listen on ${opts.host}:${opts.port}: ${err.message}`));
    server.once('error', onError);
    server.listen({ host: opts.host, port: opts.port, ...(opts.backlog ? { backlog: opts.backlog } : {}) }, () => {
      server.off('error', onError);
      resolve();
    });
  });
  server.on('error', (err) => logger.error({ err: err.message }, 'metrics listener error'));
  const a = server.address() as { address: string; port: number };
  const address = { host: a.address, port: a.port };
  logger.info({ host: address.host, port: address.port }, 'metrics listening');
  return {
    address,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

async function handle(req: IncomingMessage, res: ServerResponse, source: StatusSource): Promise<void> {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('Allow', 'GET, HEAD');
    return send(res, req, 405, 'method not allowed\n');
  }
  const path = (req.url ?? '/').split('?')[0];
  switch (path) {
    case '/healthz':
      return send(res, req, 200, 'ok\n');
    case '/readyz': {
      const problem = await source.readiness();
      return problem === undefined ? send(res, req, 200, 'ready\n') : send(res, req, 503, `not ready: ${redactCaps(problem)}\n`);
    }
    case '/metrics': {
      const { contentType, body } = await source.metrics();
      return send(res, req, 200, body, contentType);
    }
    default:
      return send(res, req, 404, 'not found: try /metrics, /healthz or /readyz\n');
  }
}

function send(res: ServerResponse, req: IncomingMessage, status: number, body: string, contentType = 'text/plain; charset=utf-8'): void {
  res.writeHead(status, { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-store' });
  res.end(req.method === 'HEAD' ? undefined : body);
}
