// Waiting for something another process or connection does (a log line, a state) without a
// fixed sleep: one helper for every test.

/** Resolves once `cond` holds, asking every 20 ms; fails naming `what` after `timeoutMs`. */
export async function waitFor(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what} (${timeoutMs} ms)`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
