// Waiting, bounded, for state that announces itself nowhere (a log file, another process's API):
// poll, never a fixed sleep.

export interface UntilOptions {
  /** Default 5 s. */
  timeoutMs?: number;
  /** Default 25 ms. */
  everyMs?: number;
  /** Named in the timeout error. */
  what?: string;
}

/**
 * Resolves with the first value `probe` returns that is neither undefined nor false, asking every
 * `everyMs`; rejects after `timeoutMs`.
 */
export async function until<T>(
  probe: () => T | undefined | false | Promise<T | undefined | false>,
  { timeoutMs = 5000, everyMs = 25, what = 'the condition' }: UntilOptions = {},
): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
