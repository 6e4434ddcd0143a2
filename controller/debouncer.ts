/**
 * Coalesces bursts of watch events into one reconcile, adapting its wait to the load
 * (issue 13): after a quiet spell the first event fires `minMs` later, so a pod that
 * turns Ready is routed within tens of milliseconds; every further event of a burst, or
 * soon after a reconcile, doubles the wait up to `quietMs`, so churn is batched; and a
 * burst never waits longer than `maxDelayMs` after its first event. The seed router
 * only had a fixed quiet period, so a steady stream of pod updates (one every 200 ms is
 * enough) postponed its reload forever, and a lone change always waited the full period.
 */
export class Debouncer {
  private timer: NodeJS.Timeout | undefined;
  private burstStart: number | undefined;
  private lastFire = -Infinity;
  private window: number;

  constructor(
    private readonly fire: () => void,
    private readonly quietMs = 250,
    private readonly maxDelayMs = 1_000,
    private readonly now: () => number = Date.now,
    private readonly minMs = Math.min(20, quietMs),
  ) {
    if (maxDelayMs < quietMs) throw new RangeError('maxDelayMs must be at least quietMs');
    if (minMs > quietMs) throw new RangeError('minMs must be at most quietMs');
    this.window = minMs;
  }

  trigger(): void {
    const now = this.now();
    const quiet = this.burstStart === undefined && now - this.lastFire >= this.quietMs;
    this.window = quiet ? this.minMs : Math.min(this.quietMs, Math.max(1, this.window) * 2);
    this.burstStart ??= now;
    clearTimeout(this.timer);
    const due = Math.min(now + this.window, this.burstStart + this.maxDelayMs);
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        this.burstStart = undefined;
        this.lastFire = this.now();
        this.fire();
      },
      Math.max(0, due - now),
    );
  }

  get pending(): boolean {
    return this.timer !== undefined;
  }

  cancel(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.burstStart = undefined;
  }
}
