/**
 * Coalesces bursts of watch events into one reconcile: it fires `quietMs` after the
 * last trigger, but never later than `maxDelayMs` after the first one of a burst. The
 * seed router only had the quiet period, so a steady stream of pod updates (one every
 * 200 ms is enough) postponed its reload forever.
 */
export class Debouncer {
  private timer: NodeJS.Timeout | undefined;
  private burstStart: number | undefined;

  constructor(
    private readonly fire: () => void,
    private readonly quietMs = 250,
    private readonly maxDelayMs = 1_000,
    private readonly now: () => number = Date.now,
  ) {
    if (maxDelayMs < quietMs) throw new RangeError('maxDelayMs must be at least quietMs');
  }

  trigger(): void {
    const now = this.now();
    this.burstStart ??= now;
    clearTimeout(this.timer);
    const due = Math.min(now + this.quietMs, this.burstStart + this.maxDelayMs);
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        this.burstStart = undefined;
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
