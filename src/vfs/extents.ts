// Sorted, non-overlapping byte ranges, optionally carrying data. A later insert overwrites the
// overlapped parts of earlier ones, which is exactly how writes at the same offsets compose.

export interface Extent<T> {
  start: number;
  end: number; // exclusive
  value: T;
}

/** How to keep a value when its extent is trimmed to [start, end) (offsets relative to the old start). */
export type Slicer<T> = (value: T, from: number, to: number) => T;

export class ExtentMap<T> {
  private items: Extent<T>[] = [];

  constructor(private readonly slice: Slicer<T>) {}

  get length(): number {
    return this.items.length;
  }

  /** Total bytes covered. */
  get covered(): number {
    let n = 0;
    for (const e of this.items) n += e.end - e.start;
    return n;
  }

  first(): Extent<T> | undefined {
    return this.items[0];
  }

  /** Index of the first extent whose end is after `pos`. */
  private firstEndingAfter(pos: number): number {
    let lo = 0;
    let hi = this.items.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.items[mid]!.end <= pos) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  insert(start: number, end: number, value: T): void {
    if (end <= start) return;
    this.removeRange(start, end);
    const i = this.firstEndingAfter(start);
    this.items.splice(i, 0, { start, end, value });
  }

  /** Removes coverage of [start, end), splitting extents that straddle the edges. */
  removeRange(start: number, end: number): void {
    if (end <= start) return;
    let i = this.firstEndingAfter(start);
    const replacement: Extent<T>[] = [];
    let j = i;
    while (j < this.items.length && this.items[j]!.start < end) {
      const e = this.items[j]!;
      if (e.start < start) replacement.push({ start: e.start, end: start, value: this.slice(e.value, 0, start - e.start) });
      if (e.end > end) replacement.push({ start: end, end: e.end, value: this.slice(e.value, end - e.start, e.end - e.start) });
      j++;
    }
    this.items.splice(i, j - i, ...replacement);
  }

  /** Extents overlapping [start, end), clipped to it, in order. */
  *overlapping(start: number, end: number): Generator<Extent<T>> {
    for (let i = this.firstEndingAfter(start); i < this.items.length; i++) {
      const e = this.items[i]!;
      if (e.start >= end) break;
      const s = Math.max(start, e.start);
      const t = Math.min(end, e.end);
      yield { start: s, end: t, value: s === e.start && t === e.end ? e.value : this.slice(e.value, s - e.start, t - e.start) };
    }
  }

  /** Removes and returns the first extent. */
  shift(): Extent<T> | undefined {
    return this.items.shift();
  }

  clear(): void {
    this.items = [];
  }
}

export const sliceBuffer: Slicer<Buffer> = (b, from, to) => b.subarray(from, to);
export const sliceNothing: Slicer<null> = () => null;
