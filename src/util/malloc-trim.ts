// Gives glibc's free pages back to the kernel after the idle collection (issue #11), through the
// tiny addon in native/malloc-trim that `npm install` builds. free() returns memory only from
// the top of glibc's heap; a burst of transfers leaves its freed Buffers' chunks between the few
// that survive it, and that memory stayed counted in the process's RSS until the next burst
// reused it: 8 clients × 256 MiB and 8 × 1,000 small files at once, then 30 s idle, left 132 MiB
// resident where the process started at 67 (bench/README.md).
import { addonPath, loadOptionalAddon, loadedOnce } from './native-addon.js';

/** Where `npm install` builds the addon. */
export const MALLOC_TRIM_ADDON = addonPath('malloc-trim', 'malloc_trim');

/** The addon's call at `path`, or null where it was not built or does not load. */
export function loadMallocTrim(path: string): (() => boolean) | null {
  return loadOptionalAddon<{ trim: () => boolean }>(path, 'malloc_trim addon', ['trim'])?.trim ?? null;
}

const trim = loadedOnce(() => loadMallocTrim(MALLOC_TRIM_ADDON));

/** Whether the addon `npm install` builds loads; false where it does not (then nothing is trimmed). */
export function mallocTrimAvailable(): boolean {
  return trim() !== null;
}

/**
 * Returns the free pages of every malloc arena to the kernel: true when some were given back,
 * false when none were or the addon is missing. It walks the arenas under their locks (5–6 ms
 * after a burst of 8 clients), so it belongs to idle moments.
 */
export function releaseFreedMemory(): boolean {
  return trim()?.() ?? false;
}
