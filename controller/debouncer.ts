/**
 * Coalesces bursts of watch events into one reconcile, adapting its wait to the load
 * (issue 13). An input event waits `minMs` doubled for every other input event of the
 * last `quietMs`, capped at `quietMs`: a lone change (a pod turning Ready) reconciles
 * within tens of milliseconds, churn is batched up to `quietMs`, and a burst never
 * waits longer than `maxDelayMs` after its first event. An echo (the watch showing the
 * controller its own write) never hurries a reconcile: it only schedules one `quietMs`
 * later when none is pending, to repair hand edits. The seed router had a fixed quiet
 * period only, so a steady stream of pod updates postponed its reload forever, and a
 * lone change always waited the full period.
 */
export class Debouncer {
  #timer: NodeJS.Timeout | undefined;
  #burstStart: number | undefined;
  /** Times of recent input events (the last `quietMs`), oldest first. */
  #recent: number[] = [];
  readonly #fire: () => void;
  readonly #quietMs: number;
  readonly #maxDelayMs: number;
  readonly #now: () => number;
  readonly #minMs: number;

  constructor(
    fire: () => void,
    quietMs = 250,
    maxDelayMs = 1_000,
    now: () => number = Date.now,
    minMs = Math.min(20, quietMs),
  ) {
    if (maxDelayMs < quietMs) throw new RangeError('maxDelayMs must be at least quietMs');
    if (minMs > quietMs) throw new RangeError('minMs must be at most quietMs');
    this.#fire = fire;
    this.#quietMs = quietMs;
    this.#maxDelayMs = maxDelayMs;
    this.#now = now;
    this.#minMs = minMs;
  }

  /** An event that changes what compile sees (`echo`: the controller's own output). */
  trigger(kind: 'input' | 'echo' = 'input'): void {
    const now = this.#now();
    if (kind === 'echo') {
      if (this.#timer === undefined) this.#schedule(now, now + this.#quietMs);
      return;
    }
    this.#recent = this.#recent.filter((t) => now - t < this.#quietMs);
    this.#recent.push(now);
    // 2^k overflows nothing here: the cap is reached long before.
    const window = Math.min(
      this.#quietMs,
      this.#minMs * 2 ** Math.min(16, this.#recent.length - 1),
    );
    this.#burstStart ??= now;
    this.#schedule(now, Math.min(now + window, this.#burstStart + this.#maxDelayMs));
  }

  #schedule(now: number, due: number): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(
      () => {
        this.#timer = undefined;
        this.#burstStart = undefined;
        this.#fire();
      },
      Math.max(0, due - now),
    );
  }

  get pending(): boolean {
    return this.#timer !== undefined;
  }

  cancel(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#burstStart = undefined;
  }
}
