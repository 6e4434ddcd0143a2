/**
 * Polling with a deadline, the one way tests wait for something another process or an
 * event loop turn will do (never a bare sleep: a loaded 2-core CI box is slow, a fast
 * one should not wait for nothing).
 */

/** Polls `check` until it returns something other than undefined; throws after `timeoutMs`. */
export async function eventually<T>(
  check: () => T | undefined | Promise<T | undefined>,
  what: string,
  timeoutMs = 10_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (let i = 0; Date.now() < deadline && i < 10_000; i++) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (err) {
      lastError = err;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(
    `timed out after ${timeoutMs} ms waiting for ${what}${lastError instanceof Error ? `: ${lastError.message}` : ''}`,
  );
}

/** Waits until `predicate` holds (a boolean form of `eventually`). */
export async function until(
  predicate: () => boolean | Promise<boolean>,
  what = 'the condition',
  timeoutMs = 5_000,
): Promise<void> {
  await eventually(async () => ((await predicate()) ? true : undefined), what, timeoutMs);
}
