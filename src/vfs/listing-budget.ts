// Directory entries held by open directory handles, bounded per session and for the process.
// SFTP's OPENDIR takes the whole listing and keeps it until CLOSE (READDIR hands it out in
// batches). Nothing else bounded handles × directory size: 300 OPENDIRs on one folder of
// 10,000 entries grew lafsd by 1.5 GB (found on 2026-12-05; ~520 bytes an entry), and a session
// may hold 512 handles. A listing that would pass a bound is refused with a clear error, except
// the first one a session holds, so any one directory can always be listed; memory, not that
// promise, is what the process-wide bound keeps.
import { VfsError } from './errors.js';

/** ~33 MB of listings per session: far beyond a client that lists one folder at a time. */
export const DEFAULT_MAX_SESSION_LISTED_ENTRIES = 64 * 1024;
/** ~135 MB of listings for the whole process. */
export const DEFAULT_MAX_LISTED_ENTRIES = 256 * 1024;

export class ListingBudget {
  private held = 0;

  constructor(
    readonly maxTotal = DEFAULT_MAX_LISTED_ENTRIES,
    readonly maxPerSession = DEFAULT_MAX_SESSION_LISTED_ENTRIES,
  ) {}

  get heldEntries(): number {
    return this.held;
  }

  share(): ListingShare {
    return new ListingShare(this);
  }

  /** @internal */
  room(n: number, shareHeld: number): string | undefined {
    if (shareHeld > 0 && shareHeld + n > this.maxPerSession) {
      return `this session holds ${shareHeld} directory entries in open directory handles (at most ${this.maxPerSession}); close some first`;
    }
    if (this.held > 0 && this.held + n > this.maxTotal) return 'the server holds too many directory listings open; try again later';
    return undefined;
  }

  /** @internal */
  change(delta: number): void {
    this.held += delta;
  }
}

/** One session's listings; each take() is given back by the function it returns, or by close(). */
export class ListingShare {
  private held = 0;
  private readonly holds = new Set<{ n: number }>();

  constructor(private readonly budget: ListingBudget) {}

  get heldEntries(): number {
    return this.held;
  }

  /** Holds `n` entries; throws TOO_MANY_OPEN_FILES when a bound would be passed. */
  take(n: number): () => void {
    const refused = this.budget.room(n, this.held);
    if (refused) throw new VfsError('TOO_MANY_OPEN_FILES', refused);
    const hold = { n };
    this.holds.add(hold);
    this.held += n;
    this.budget.change(n);
    return () => this.give(hold);
  }

  /** Gives back everything this session still holds (the session ended). */
  close(): void {
    for (const hold of [...this.holds]) this.give(hold);
  }

  private give(hold: { n: number }): void {
    if (!this.holds.delete(hold)) return;
    this.held -= hold.n;
    this.budget.change(-hold.n);
  }
}

/** A share of a budget without bounds (tests and tools). */
export function unboundedListings(): ListingShare {
  return new ListingBudget(Number.POSITIVE_INFINITY, Number.POSITIVE_INFINITY).share();
}
