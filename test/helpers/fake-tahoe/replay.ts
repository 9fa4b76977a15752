// A recording server that answers with recorded raw bytes: each request the client sends is
// captured whole (method, target, headers, de-chunked body) and answered by `answer(req)`,
// typically the exact bytes of a Tahoe sample response, written to the socket as they were
// recorded (chunk framing, `Connection: close` and all).
import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

export interface CapturedRequest {
  method: string;
  target: string;
  /** Lower-cased header names. */
  headers: Record<string, string>;
  body: Buffer;
  chunked: boolean;
}

export interface ReplayServer {
  url: string;
  requests: CapturedRequest[];
  close(): Promise<void>;
}

/** Parses one complete request from `data`, or undefined when more bytes are needed. */
function tryParse(data: Buffer): CapturedRequest | undefined {
  const end = data.indexOf('\r\n\r\n');
  if (end < 0) return undefined;
  const lines = data.toString('latin1', 0, end).split('\r\n');
  const [method, target] = lines.shift()!.split(' ');
  const headers: Record<string, string> = {};
  for (const l of lines) {
    const i = l.indexOf(':');
    headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
  }
  const rest = data.subarray(end + 4);
  if (/chunked/i.test(headers['transfer-encoding'] ?? '')) {
    const parts: Buffer[] = [];
    let pos = 0;
    for (;;) {
      const eol = rest.indexOf('\r\n', pos);
      if (eol < 0) return undefined;
      const size = parseInt(rest.toString('latin1', pos, eol), 16);
      pos = eol + 2;
      if (size === 0) {
        if (rest.length < pos + 2) return undefined;
        break;
      }
      if (rest.length < pos + size + 2) return undefined;
      parts.push(rest.subarray(pos, pos + size));
      pos += size + 2;
    }
    return { method: method!, target: target!, headers, body: Buffer.concat(parts), chunked: true };
  }
  const length = Number(headers['content-length'] ?? 0);
  if (rest.length < length) return undefined;
  return { method: method!, target: target!, headers, body: rest.subarray(0, length), chunked: false };
}

export async function startReplayServer(answer: (req: CapturedRequest) => Buffer): Promise<ReplayServer> {
  const requests: CapturedRequest[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    let buffered = Buffer.alloc(0);
    let answered = false;
    socket.on('data', (chunk: Buffer) => {
      if (answered) return;
      buffered = Buffer.concat([buffered, chunk]);
      const req = tryParse(buffered);
      if (!req) return;
      answered = true;
      requests.push(req);
      let raw: Buffer;
      try {
        raw = answer(req);
      } catch (err) {
        raw = Buffer.from(`HTTP/1.1 599 Replay Error\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
        // Keep the reason visible to the test that caused it.
        console.error('replay server:', err);
      }
      socket.end(raw);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    requests,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Decoded path segments and query of a request target. */
export function splitTarget(target: string): { segments: string[]; query: Array<[string, string]> } {
  const q = target.indexOf('?');
  const path = q < 0 ? target : target.slice(0, q);
  const query = q < 0 ? [] : [...new URLSearchParams(target.slice(q + 1))];
  return { segments: path.split('/').slice(1).map((s) => decodeURIComponent(s)), query };
}
