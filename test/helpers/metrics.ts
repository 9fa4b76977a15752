// Scrapes a node's metrics and health listener, and reads series out of the Prometheus text.
import { request } from 'node:http';

export interface HttpAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** One plain HTTP request to 127.0.0.1:port (no keep-alive, so nothing lingers after a test). */
export function httpGet(port: number, path: string, method = 'GET'): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method, agent: false, timeout: 15_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${path}: no answer`)));
    req.on('error', reject);
    req.end();
  });
}

/** The samples of one scrape: `name{label="v",…}` (labels as exposed) → value. */
export class Scrape {
  readonly samples = new Map<string, number>();

  constructor(readonly text: string) {
    for (const line of text.split('\n')) {
      if (line === '' || line.startsWith('#')) continue;
      const space = line.lastIndexOf(' ');
      this.samples.set(line.slice(0, space), Number(line.slice(space + 1)));
    }
  }

  /** Sum of the samples of `name` whose labels include all of `labels` (0 when none). */
  value(name: string, labels: Record<string, string> = {}): number {
    let sum = 0;
    for (const [series, v] of this.samples) {
      const brace = series.indexOf('{');
      if ((brace < 0 ? series : series.slice(0, brace)) !== name) continue;
      const text = brace < 0 ? '' : series.slice(brace);
      if (Object.entries(labels).every(([k, want]) => text.includes(`${k}="${want}"`))) sum += v;
    }
    return sum;
  }

  /** Whether any sample of `name` exists. */
  has(name: string): boolean {
    return [...this.samples.keys()].some((s) => s === name || s.startsWith(`${name}{`));
  }
}

export async function scrape(port: number): Promise<Scrape> {
  const r = await httpGet(port, '/metrics');
  if (r.status !== 200) throw new Error(`/metrics answered ${r.status}: ${r.body}`);
  return new Scrape(r.body);
}

/** Polls until `check` passes on a scrape (store figures are sampled), or throws its last error. */
export async function eventually(port: number, check: (s: Scrape) => void, timeoutMs = 15_000): Promise<Scrape> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const s = await scrape(port);
    try {
      check(s);
      return s;
    } catch (err) {
      if (Date.now() > deadline) throw err;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}
