// What a garbage collection of the embedded store found and did. Counts and sizes only: a
// report never holds caps, so it can be printed and logged as it is.

/** A root of the live graph, and where it came from (for messages; never the cap itself). */
export interface GcRoot {
  cap: string;
  /** E.g. "alice's root" or "keep file line 3". */
  where: string;
}

export interface GcCounts {
  /** Mutable directories. */
  dirs: number;
  /** Their links (counted for freed directories only). */
  entries: number;
  /** Mutable files (their version pointers; contents are objects). */
  mutables: number;
  /** Immutable objects: file contents, versions of mutable files, immutable directories. */
  objects: number;
  /** All bytes: object files, small objects, directory entries and version pointers. */
  bytes: number;
  /** The part of `bytes` in object files, which the filesystem gets back at once. */
  fileBytes: number;
}

export interface GcReport {
  dryRun: boolean;
  /** False when the run stopped before it was done; `stopped` says why. Nothing live is lost either way. */
  complete: boolean;
  stopped?: string;
  /** Nodes that could not be read while marking (`what: where`); any of them stops deletion. */
  problems: string[];
  /** The time the run counts as started (ms), and the grace period it applied. */
  startedAt: number;
  graceMs: number;
  durationMs: number;
  roots: number;
  /** Reached from a root. */
  reachable: GcCounts;
  /** Deleted (a dry run: would be deleted). */
  freed: GcCounts;
  /** Not reachable, but touched within the grace period (or never seen before): kept for now. */
  young: GcCounts;
}

export function emptyCounts(): GcCounts {
  return { dirs: 0, entries: 0, mutables: 0, objects: 0, bytes: 0, fileBytes: 0 };
}
