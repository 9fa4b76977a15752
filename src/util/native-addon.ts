// lafsd's own native addons (native/*, built by the package's `npm install` script): where they
// are, and loading one with a clear error for each way it can fail.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);

/** Where `npm install` builds `native/<dir>`'s `<name>.node`, seen from this module's place in dist/src/util/. */
export function addonPath(dir: string, name: string): string {
  return fileURLToPath(new URL(`../../../native/${dir}/build/Release/${name}.node`, import.meta.url));
}

/**
 * The addon at `path`, once it loads and has each of `functions`. Throws an Error that names
 * `what` and says whether the file is missing, does not load, or is something else.
 */
export function loadAddon<T>(path: string, what: string, functions: readonly string[]): T {
  const hint = 'build it with `npm install` (needs python3, make and g++)';
  if (!existsSync(path)) throw new Error(`lafsd's ${what} is missing (${path}); ${hint}`);
  let loaded: Record<string, unknown>;
  try {
    loaded = require(path) as Record<string, unknown>;
  } catch (err) {
    throw new Error(`lafsd's ${what} at ${path} failed to load (built for another Node?); ${hint}`, { cause: err });
  }
  if (functions.some((f) => typeof loaded[f] !== 'function')) throw new Error(`${path} is not lafsd's ${what}; ${hint}`);
  return loaded as T;
}

/** loadAddon's addon, or null where it is missing or does not load: for those lafsd can do without. */
export function loadOptionalAddon<T>(path: string, what: string, functions: readonly string[]): T | null {
  try {
    return loadAddon<T>(path, what, functions);
  } catch {
    return null;
  }
}

/**
 * `load`'s answer, asked for at the first call only and kept (null included): an optional
 * addon is loaded when first needed, and a missing one is looked for once.
 */
export function loadedOnce<T>(load: () => T | null): () => T | null {
  let loaded: T | null | undefined;
  return () => (loaded === undefined ? (loaded = load()) : loaded);
}
