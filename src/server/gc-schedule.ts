// Periodic garbage collection inside `lafsd run` (`[lafsd] gc.interval`; off when unset). The
// next run is due one interval after the last one that finished (recorded in the store, so
// restarts do not postpone it forever); a run that stopped early or failed is retried sooner.
// The store's gc yields to the event loop and locks only in short synchronous batches, so the
// server keeps serving while it runs. Logs carry counts and sizes, never caps.
import type { NodeConfig } from '../config/index.js';
import { EmbeddedGrid } from '../grid/embedded/index.js';
import type { Grid } from '../grid/index.js';
import { runGc } from '../node/gc.js';
import { redactCaps, type Logger } from './log.js';

/** After a start, wait this long (at most) before a first run that is already due. */
const FIRST_RUN_DELAY_MS = 60_000;
/** After a run that did not finish, try again this soon (at most). */
const RETRY_MS = 10 * 60_000;
const MAX_TIMER_MS = 2 ** 31 - 1;

export interface GcSchedule {
  /** Cancels the next run and stops a running one at its next step. */
  stop(): Promise<void>;
}

export function scheduleGc(config: NodeConfig, grid: Grid, logger: Logger): GcSchedule | undefined {
  const interval = config.lafsd.gcInterval;
  if (interval === undefined || !(grid instanceof EmbeddedGrid)) return undefined;
  const log = logger.child({ component: 'gc' });
  const abort = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;

  const plan = (delayMs: number) => {
    if (abort.signal.aborted) return;
    timer = setTimeout(() => (running = runOnce().finally(() => (running = undefined))), Math.min(Math.max(0, delayMs), MAX_TIMER_MS));
  };

  const runOnce = async () => {
    let finished = false;
    try {
      const { report, roots } = await runGc(config, grid, { signal: abort.signal });
      finished = report.complete;
      const fields = {
        roots, ms: report.durationMs, graceMs: report.graceMs,
        freed: report.freed, reachable: report.reachable, young: report.young,
      };
      if (report.complete) log.info(fields, 'garbage collection finished');
      // Problems name paths; a name that looks like a cap is still redacted.
      else log.warn({ ...fields, stopped: report.stopped, problems: report.problems.map(redactCaps) }, 'garbage collection stopped early');
    } catch (err) {
      log.error({ err: (err as Error).message }, 'garbage collection failed');
    }
    plan(finished ? interval : Math.min(interval, RETRY_MS));
  };

  const last = grid.lastGarbageCollection();
  const due = last ? last.finishedAt + interval - Date.now() : 0;
  plan(Math.max(due, Math.min(interval, FIRST_RUN_DELAY_MS)));
  log.info({ intervalMs: interval, firstInMs: Math.round(Math.max(due, Math.min(interval, FIRST_RUN_DELAY_MS))) }, 'garbage collection scheduled');

  return {
    async stop() {
      abort.abort();
      clearTimeout(timer);
      await running;
    },
  };
}
