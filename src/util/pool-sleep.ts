// Waits shorter than Node's timers can (issue #11), through the tiny addon in native/pool-sleep
// that `npm install` builds: a pool thread sleeps while the event loop goes on serving, and with
// nothing else to do blocks in its poll, so another process on this CPU runs. Node's timers
// count whole milliseconds from a loop time truncated to the millisecond: setTimeout(1) may fire
// at once without the loop blocking, and only setTimeout(2) is sure to wait (1-2 ms real).
import { setTimeout as delay } from 'node:timers/promises';
import { addonPath, loadOptionalAddon, loadedOnce } from './native-addon.js';

/** Where `npm install` builds the addon. */
export const POOL_SLEEP_ADDON = addonPath('pool-sleep', 'pool_sleep');

/** Longest sleep the addon takes (a pool thread is shared with the store's work). */
export const MAX_POOL_SLEEP_MICROS = 1_000_000;

/**
 * Sleeps on the pool at once at most: libuv's 4 threads also seal, read and sync the store's
 * files, and many same-host clients must not take them. The others wait on a timer instead.
 */
const MAX_SLEEPING = 1;

type SleepFn = (micros: number, callback: () => void) => void;

/** The addon's call at `path`, or null where it was not built or does not load. */
export function loadPoolSleep(path: string): SleepFn | null {
  return loadOptionalAddon<{ sleep: SleepFn }>(path, 'pool-sleep addon', ['sleep'])?.sleep ?? null;
}

const poolSleep = loadedOnce(() => loadPoolSleep(POOL_SLEEP_ADDON));
let sleeping = 0;

/** Whether the addon `npm install` builds loads; false where it does not (then timers wait). */
export function poolSleepAvailable(): boolean {
  return poolSleep() !== null;
}

/** How many waits sleep on the pool now (at most one). */
export function poolSleepers(): number {
  return sleeping;
}

/** Whole milliseconds, one more than needed: a timer of n ms may fire after n - 1. */
function timerWait(micros: number): Promise<void> {
  return delay(Math.ceil(micros / 1000) + 1);
}

/**
 * Resolves after at least `micros` microseconds (0 to 1,000,000), during which the event loop
 * keeps serving. On the pool when the addon loads and no other such sleep runs; otherwise on a
 * timer of whole milliseconds, one more than needed, so it too waits at least `micros`.
 */
export function sleepOffLoop(micros: number): Promise<void> {
  if (!(micros >= 0 && micros <= MAX_POOL_SLEEP_MICROS)) throw new RangeError(`sleepOffLoop: ${micros} µs is not within 0-${MAX_POOL_SLEEP_MICROS}`);
  const sleep = poolSleep();
  if (sleeping >= MAX_SLEEPING || sleep === null) return timerWait(micros);
  sleeping++;
  return new Promise<void>((resolve) => {
    const woken = () => {
      sleeping--;
      resolve();
    };
    try {
      sleep(Math.round(micros), woken);
    } catch {
      void timerWait(micros).then(woken); // not queued (out of memory): a timer still waits
    }
  });
}
