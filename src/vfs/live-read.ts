// A read-only open of a name that this same session is still writing: it reads the writer's
// bytes as they are, like a second descriptor of a local file. sshfs closes files
// asynchronously, so after `echo a >> f; cat f` the OPEN for reading reaches us before the CLOSE
// of the append; reading the version linked before it would lose the append (and an unlinked
// new file would not be found). A reader that stays open past the writer's close goes on with
// what the writer linked. Other sessions still see only linked versions (deferred-open.ts waits
// for a writer when there is none).
import type { VfsAttrs } from './attrs.js';
import { ReadOnlyHandle, type VfsFile } from './handles.js';

/** What a live reader needs from the writer (a WriteHandle). */
export interface LiveSource {
  /** Undefined once the writer is closing or abandoned. */
  readLive(offset: number, length: number): Promise<Buffer> | undefined;
  statLive(): Promise<VfsAttrs> | undefined;
  /** Resolves once the writer is closed and its commit has finished, or it was abandoned. */
  closed(): Promise<void>;
}

export class LiveReadHandle extends ReadOnlyHandle {
  readonly sourceCap = undefined;
  /** Once the writer is done: the name opened again (what it linked). */
  private after: Promise<VfsFile> | undefined;

  constructor(
    private readonly writer: LiveSource,
    /** Opens the name again, without an audit line of its own (this handle's line counts its bytes). */
    private readonly reopen: () => Promise<VfsFile>,
    onClose?: (bytes: number, ms: number, error: unknown) => void,
  ) {
    super(onClose);
  }

  /** The writer's commit always ends (it succeeds, fails or is abandoned), so this wait is not bounded. */
  private linked(): Promise<VfsFile> {
    this.after ??= this.writer.closed().then(() => this.reopen());
    return this.after;
  }

  protected async readBytes(offset: number, length: number): Promise<Buffer> {
    return (this.after ? undefined : this.writer.readLive(offset, length)) ?? (await this.linked()).read(offset, length);
  }

  protected async attrs(): Promise<VfsAttrs> {
    return (this.after ? undefined : this.writer.statLive()) ?? (await this.linked()).stat();
  }

  protected async release(): Promise<void> {
    if (this.after) await this.after.then((f) => f.close(), () => {});
  }
}
