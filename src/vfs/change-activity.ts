// Which sessions change things lately, for the embedded store's syncs (issue #11). A commit of
// the store syncs on the event loop only when nothing could share its sync (group-sync.ts). The
// store sees its own uploads open, but not other sessions about to commit: while the loop syncs,
// their requests still wait in their sockets. 8 OpenSSH clients removing 1,000 files each at once
// took 25% longer when every removal synced on the loop than when they shared the thread pool's
// syncs (bench/README.md, nineteenth session). So the vfs tells whether more than one session
// changed something within the last CHANGE_WINDOW_MS (an idle session, such as an sshfs mount or
// a client that keeps its connection, does not count), and whether changes run side by side in
// one session (SFTP clients may send REMOVEs of several files without waiting for the replies;
// the session runs them together, sftp/ordering.ts).
import { performance } from 'node:perf_hooks';

export const CHANGE_WINDOW_MS = 100;

export class ChangeActivity {
  /** The session that changed something last; weakly, so that a session that ended (its root
   * cap and its grid handles with it) is not kept alive until another one changes something. */
  private last: WeakRef<object> | undefined;
  /** Until when sessions count as changing things side by side. */
  private sharedUntil = 0;
  /** Changes under way (between `begin` and `end`), in all sessions. */
  private running = 0;

  constructor(
    private readonly windowMs = CHANGE_WINDOW_MS,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** `session` is about to change something: a removal, a link, an upload. */
  note(session: object): void {
    // A last session that was collected ended, so `session` is another one: the window starts.
    if (this.last?.deref() === session) return;
    if (this.last !== undefined) this.sharedUntil = this.now() + this.windowMs;
    this.last = new WeakRef(session);
  }

  /** `session` starts a change that commits (a removal, a rename, a writer's close…); `end()` when it is over. */
  begin(session: object): void {
    this.note(session);
    this.running++;
  }

  end(): void {
    this.running--;
  }

  /** True while at most one change is under way and no second session changed something within the window. */
  get alone(): boolean {
    return this.running <= 1 && this.now() >= this.sharedUntil;
  }
}
