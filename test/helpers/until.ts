/**
 * Polls `probe` every 200 ms until it gives a value (returned) or the time runs out (an error naming `what`).
 * For state that settles asynchronously: a placement's sync, an object in a cluster, a depot poll.
 */
export async function until<T>(what: string, probe: () => Promise<T | undefined | false>, ms = 90_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
