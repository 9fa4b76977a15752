// Prometheus metrics of a running node. The layers below never call prom-client: the server
// wiring connects their existing narrow hooks here — the defender (connections, scored
// failures, bans), a login observer (logins by method), the vfs audit events (transfers,
// commits, changes), a Grid wrapper (backend latency and errors) — and gauges are read when
// Prometheus scrapes (sessions, open handles, bans, the store).
//
// Cardinality is bounded by construction: every label value comes from a small fixed set
// (frontend, method, result, reason, operation, error code). Nothing about who or what is ever
// a label: no user name, path, address or cap.
import client from 'prom-client';
import { passwordChecks, passwordVerifications, type Defender, type FailureReason, type LoginDefender, type LoginObserver } from '../auth/index.js';
import { isGridError, type FileReader, type Grid, type UploadSink } from '../grid/index.js';
import type { AuditEvent } from '../vfs/index.js';

export type Frontend = 'sftp' | 'ftp';
export type Backend = 'embedded' | 'webapi';

/** What the embedded store holds, read at scrape time (a Tahoe grid tells none of it). */
export interface StoreFigures {
  /** Bytes of file data that still fit (the store's reserve already taken off). */
  freeBytes: number;
  sizeBytes: number;
  objects: number;
}

const LOGIN_METHODS = new Set(['password', 'keyboard-interactive', 'publickey']);
const CHANGE_OPS = new Set(['mkdir', 'rmdir', 'remove', 'rename', 'setattrs', 'hardlink']);
const GRID_CODES = new Set([
  'NOT_FOUND', 'EXISTS', 'NOT_WRITABLE', 'NOT_A_DIRECTORY', 'IS_A_DIRECTORY', 'NOT_EMPTY', 'CORRUPT', 'UNAVAILABLE', 'NO_SPACE',
  'INVALID', 'UNSUPPORTED',
]);
/** Grid methods timed as backend requests, by label (the vfs's whole use of a backend). */
const GRID_OPS: Record<string, string> = {
  stat: 'stat', list: 'list', getChild: 'get_child', setChild: 'set_child', deleteChild: 'delete_child',
  moveChild: 'move_child', patchMetadata: 'patch_metadata', mkdir: 'mkdir', createDirectory: 'create_directory',
  openRead: 'open_read', upload: 'upload', createMutable: 'create_mutable', overwriteMutable: 'overwrite_mutable',
  diskUsage: 'disk_usage', checkSpace: 'check_space',
};
const READER_OPS: Record<string, string> = { read: 'read' };
const SINK_OPS: Record<string, string> = { write: 'upload_write', finish: 'upload_finish' };

const SECONDS_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

export class Metrics {
  readonly registry = new client.Registry();
  private readonly connections;
  private readonly logins;
  private readonly failures;
  private readonly bans;
  private readonly transfers;
  private readonly transferBytes;
  private readonly commits;
  private readonly changes;
  private readonly backendSeconds;
  private readonly backendErrors;

  constructor(private readonly backend: Backend, info: { version: string }) {
    const registers = [this.registry];
    client.collectDefaultMetrics({ register: this.registry });
    new client.Gauge({
      name: 'lafsd_build_info', help: 'Always 1; the labels say which lafsd and Node.js run.', labelNames: ['version', 'node', 'backend'], registers,
    }).set({ version: info.version, node: process.versions.node, backend }, 1);
    new client.Gauge({
      name: 'lafsd_password_checks',
      help: 'Password hash checks now, running (one at a time, for the whole server) and waiting their turn; a long queue means a flood of logins.',
      labelNames: ['state'], registers,
      collect() {
        const { running, waiting } = passwordChecks();
        this.set({ state: 'running' }, running);
        this.set({ state: 'waiting' }, waiting);
      },
    });
    this.countersOf(
      'lafsd_password_verifications_total',
      'Passwords checked against the accounts file, by how: hashed (a hash of its own), remembered (right at an earlier login within password_cache_ttl; a wrong one never is), shared (the hash of a login with the same password under way).',
      'how',
      passwordVerifications,
    );
    this.connections = new client.Counter({
      name: 'lafsd_connections_total',
      help: 'TCP connections received, by frontend and whether the defender admitted them (accepted, banned; refused at a limit: per_address and max_startups before login, connections_per_address and connections open).',
      labelNames: ['frontend', 'result'], registers,
    });
    this.logins = new client.Counter({
      name: 'lafsd_logins_total',
      help: 'Login attempts by frontend, method (password, keyboard-interactive, publickey) and result (ok, refused).',
      labelNames: ['frontend', 'method', 'result'], registers,
    });
    this.failures = new client.Counter({
      name: 'lafsd_auth_failures_total',
      help: 'Failures scored by the defender, by frontend and reason.',
      labelNames: ['frontend', 'reason'], registers,
    });
    this.bans = new client.Counter({ name: 'lafsd_bans_total', help: 'Addresses banned by the defender.', registers });
    this.transfers = new client.Counter({
      name: 'lafsd_transfers_total',
      help: 'Files transferred: uploads are commits (a file written, then linked at close or fsync), downloads are files opened for reading and closed.',
      labelNames: ['frontend', 'direction', 'result'], registers,
    });
    this.transferBytes = new client.Counter({
      name: 'lafsd_transfer_bytes_total',
      help: 'Bytes clients wrote into files (upload) and read from them (download).',
      labelNames: ['frontend', 'direction'], registers,
    });
    this.commits = new client.Histogram({
      name: 'lafsd_commit_duration_seconds',
      help: 'Time to commit a written file (store its content and link it), by result.',
      labelNames: ['frontend', 'result'], buckets: SECONDS_BUCKETS, registers,
    });
    this.changes = new client.Counter({
      name: 'lafsd_operations_total',
      help: 'Namespace changes (mkdir, rmdir, remove, rename, setattrs, hardlink) by result.',
      labelNames: ['frontend', 'operation', 'result'], registers,
    });
    this.backendSeconds = new client.Histogram({
      name: 'lafsd_backend_request_duration_seconds',
      help: 'Time of each storage backend call (one Grid operation; on webapi one or a few HTTP requests), by operation.',
      labelNames: ['backend', 'operation'], buckets: SECONDS_BUCKETS, registers,
    });
    this.backendErrors = new client.Counter({
      name: 'lafsd_backend_errors_total',
      help: 'Failed storage backend calls by operation and error code; NOT_FOUND, EXISTS and the like are ordinary answers, UNAVAILABLE, CORRUPT, NO_SPACE and other are trouble.',
      labelNames: ['backend', 'operation', 'code'], registers,
    });
    this.zero();
  }

  // Every series a dashboard will ask for exists from the start, at 0, so that rate() and
  // increase() see the first event rather than a series appearing out of nowhere.
  private zero(): void {
    for (const frontend of ['sftp', 'ftp'] as const) {
      for (const result of ['accepted', 'banned', 'per_address', 'max_startups', 'connections_per_address', 'connections']) this.connections.inc({ frontend, result }, 0);
      for (const method of frontend === 'sftp' ? LOGIN_METHODS : ['password']) {
        for (const result of ['ok', 'refused']) this.logins.inc({ frontend, method, result }, 0);
      }
      for (const direction of ['upload', 'download']) {
        this.transferBytes.inc({ frontend, direction }, 0);
        for (const result of ['ok', 'error']) this.transfers.inc({ frontend, direction, result }, 0);
      }
      for (const result of ['ok', 'error']) this.commits.zero({ frontend, result });
    }
  }

  /** The exposition text and its content type, for GET /metrics. */
  async scrape(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }

  /** The defender a frontend uses, counting what it decides. */
  defender(inner: LoginDefender, frontend: Frontend): Defender {
    return {
      admission: (address) => {
        const result = inner.admission(address);
        this.connections.inc({ frontend, result: result === 'ok' ? 'accepted' : result.replaceAll('-', '_') });
        return result;
      },
      release: (address, authenticated) => inner.release(address, authenticated),
      closed: (address) => inner.closed(address),
      recordFailure: (address, reason: FailureReason) => {
        const wasBanned = inner.isBanned(address);
        inner.recordFailure(address, reason);
        this.failures.inc({ frontend, reason: reason.replaceAll('-', '_') });
        if (!wasBanned && inner.isBanned(address)) this.bans.inc();
      },
      recordSuccess: (address) => inner.recordSuccess(address),
    };
  }

  loginObserver(frontend: Frontend): LoginObserver {
    return (method, result) => this.logins.inc({ frontend, method: LOGIN_METHODS.has(method) ? method : 'other', result });
  }

  /** A vfs audit event of a session of `frontend`. */
  audit(frontend: Frontend, event: AuditEvent): void {
    const result = event.result === 'ok' ? 'ok' : 'error';
    if (event.op === 'commit') {
      this.transfers.inc({ frontend, direction: 'upload', result });
      this.transferBytes.inc({ frontend, direction: 'upload' }, event.received ?? 0);
      this.commits.observe({ frontend, result }, event.ms / 1000);
    } else if (event.op === 'read') {
      this.transfers.inc({ frontend, direction: 'download', result });
      this.transferBytes.inc({ frontend, direction: 'download' }, event.bytes ?? 0);
    } else {
      this.changes.inc({ frontend, operation: CHANGE_OPS.has(event.op) ? event.op : 'other', result });
    }
  }

  /** `grid`, with every call timed and every failure counted (same behaviour otherwise). */
  grid(grid: Grid): Grid {
    return this.timed(grid, GRID_OPS, (op, value) => {
      if (op === 'open_read') return this.timed(value as FileReader, READER_OPS);
      if (op === 'upload') return this.timed(value as UploadSink, SINK_OPS);
      return value;
    });
  }

  // A Proxy, so optional methods (checkSpace) stay optional and getters (size, bytesWritten)
  // read through; only the listed methods are timed, so the operation label stays bounded.
  private timed<T extends object>(target: T, ops: Record<string, string>, wrapResult?: (op: string, value: unknown) => unknown): T {
    const backend = this.backend;
    return new Proxy(target, {
      get: (obj, prop, receiver) => {
        const value = Reflect.get(obj, prop, receiver) as unknown;
        if (typeof value !== 'function') return value;
        const op = typeof prop === 'string' && Object.hasOwn(ops, prop) ? ops[prop] : undefined;
        if (op === undefined) return (value as (...a: unknown[]) => unknown).bind(obj);
        return async (...args: unknown[]) => {
          const end = this.backendSeconds.startTimer({ backend, operation: op });
          try {
            const result = await (value as (...a: unknown[]) => Promise<unknown>).apply(obj, args);
            return wrapResult ? wrapResult(op, result) : result;
          } catch (err) {
            const code = isGridError(err) && GRID_CODES.has(err.code) ? err.code : 'other';
            this.backendErrors.inc({ backend, operation: op, code });
            throw err;
          } finally {
            end();
          }
        };
      },
    });
  }

  /** Live sessions by frontend and their open files, read at each scrape. */
  watchSessions(sessions: () => Iterable<{ frontend: Frontend; openFiles: number }>): void {
    const count = (pick: (s: { openFiles: number }) => number) => {
      const by: Record<Frontend, number> = { sftp: 0, ftp: 0 };
      for (const s of sessions()) by[s.frontend] += pick(s);
      return by;
    };
    const registers = [this.registry];
    new client.Gauge({
      name: 'lafsd_sessions', help: 'Logged-in sessions open now, by frontend.', labelNames: ['frontend'], registers,
      collect() {
        for (const [frontend, n] of Object.entries(count(() => 1))) this.set({ frontend }, n);
      },
    });
    new client.Gauge({
      name: 'lafsd_open_handles', help: 'Files open now (for reading or writing) in logged-in sessions, by frontend.', labelNames: ['frontend'], registers,
      collect() {
        for (const [frontend, n] of Object.entries(count((s) => s.openFiles))) this.set({ frontend }, n);
      },
    });
  }

  /**
   * The process's transfer memory (util/memory-budget.ts), read at each scrape: what sessions
   * hold now and the budget. A session gives its part back when it ends, however its client
   * went away.
   */
  watchTransferMemory(budget: { readonly usedBytes: number; readonly limit: number }): void {
    const registers = [this.registry];
    new client.Gauge({
      name: 'lafsd_transfer_memory_bytes',
      help: 'Transfer data held in memory now, all sessions together: SFTP payloads in flight and replies not sent yet, FTP upload queues and read-ahead, out-of-order writes.',
      registers,
      collect() {
        this.set(budget.usedBytes);
      },
    });
    new client.Gauge({
      name: 'lafsd_transfer_memory_limit_bytes',
      help: 'The transfer memory budget ([lafsd] transfer_memory): above it, the sessions that hold the most are slowed until there is room.',
      registers,
      collect() {
        this.set(budget.limit);
      },
    });
  }

  watchDefender(defender: LoginDefender): void {
    new client.Gauge({
      name: 'lafsd_banned_addresses', help: 'Client addresses (IPv6: networks) banned now.', registers: [this.registry],
      collect() {
        this.set(defender.bannedHosts);
      },
    });
    new client.Gauge({
      name: 'lafsd_open_connections', help: 'Connections open now, logged in or not, SFTP and FTP together (what [auth] max_connections counts).', registers: [this.registry],
      collect() {
        this.set(defender.openConnections);
      },
    });
  }

  /**
   * The embedded store's figures, read at each scrape (a source that is slow to read keeps its
   * own cache). A read that fails shows as NaN, never as a misleading 0.
   */
  watchStore(figures: () => Promise<StoreFigures>): void {
    const registers = [this.registry];
    // One read per scrape, shared by the three gauges (a scrape reads them within a second).
    let last: { at: number; figures: Promise<StoreFigures | undefined> } | undefined;
    const read = () => {
      if (!last || performance.now() - last.at > 1000) last = { at: performance.now(), figures: figures().catch(() => undefined) };
      return last.figures;
    };
    const gauge = (name: string, help: string, pick: (f: StoreFigures) => number) =>
      new client.Gauge({
        name, help, registers,
        async collect() {
          const f = await read();
          this.set(f ? pick(f) : Number.NaN);
        },
      });
    gauge('lafsd_store_free_bytes', 'Bytes of file data that still fit in the embedded store (its reserve is not counted).', (f) => f.freeBytes);
    gauge('lafsd_store_size_bytes', 'Bytes the embedded store takes on disk (object files and database).', (f) => f.sizeBytes);
    gauge('lafsd_store_objects', 'Immutable objects in the embedded store.', (f) => f.objects);
  }

  /** Syncs of the embedded store's log so far, by where they ran (grid/embedded/group-sync.ts), read at each scrape. */
  watchLogSyncs(counts: () => { eventLoop: number; threadPool: number }): void {
    this.countersOf(
      'lafsd_store_log_syncs_total',
      'fdatasyncs of the embedded store\'s index log, each making one or more commits durable, by where they ran: on the thread pool (shared by the commits that arrive meanwhile) or on the event loop (a commit that is the only change under way, with no upload open and no other session changing things, on a disk that syncs in under 2 ms).',
      'thread',
      () => {
        const n = counts();
        return { event_loop: n.eventLoop, pool: n.threadPool };
      },
    );
  }

  /** The embedded store's download buffers, made and reused so far (grid/embedded/buffer-pool.ts), read at each scrape. */
  watchReadBuffers(counts: () => { made: number; reused: number }): void {
    this.countersOf(
      'lafsd_store_read_buffers_total',
      'Buffers for runs of file data read from the embedded store (896 KiB each), by source: new, or reused once the clients had been sent their bytes. A download uses a few again and again; new ones keep coming while downloads wait for slow clients, who hold theirs.',
      'source',
      () => {
        const n = counts();
        return { new: n.made, reused: n.reused };
      },
    );
  }

  /** A counter with one label whose totals another module keeps: each scrape adds what they grew by. */
  private countersOf(name: string, help: string, label: string, totals: () => Record<string, number>): void {
    let seen: Record<string, number> = {};
    new client.Counter({
      name, help, labelNames: [label], registers: [this.registry],
      collect() {
        const now = totals();
        for (const [value, total] of Object.entries(now)) this.inc({ [label]: value }, total - (seen[value] ?? 0));
        seen = now;
      },
    });
  }
}
