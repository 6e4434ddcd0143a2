/**
 * At most `maxConcurrent` slow jobs at once and `maxQueued` waiting; beyond that a job
 * is refused at once. The API-key check runs scrypt on libuv's thread pool, which it
 * shares with `dns.lookup` and the file system (4 threads by default:
 * https://nodejs.org/api/cli.html#uv_threadpool_sizesize), so a flood of wrong keys
 * must neither take every thread nor queue without end.
 */
export class VerificationLimit {
  #running = 0;
  readonly #queue: (() => void)[] = [];

  constructor(
    readonly maxConcurrent: number,
    readonly maxQueued: number,
  ) {}

  /** Jobs running or waiting. */
  get load(): number {
    return this.#running + this.#queue.length;
  }

  /** The job's result, or undefined (synchronously) when the queue is full. */
  run<T>(job: () => Promise<T>): Promise<T> | undefined {
    if (this.#running < this.maxConcurrent) return this.#start(job);
    if (this.#queue.length >= this.maxQueued) return undefined;
    return new Promise<void>((resolve) => {
      this.#queue.push(resolve);
    }).then(() => this.#start(job, true));
  }

  async #start<T>(job: () => Promise<T>, reserved = false): Promise<T> {
    if (!reserved) this.#running++;
    try {
      return await job();
    } finally {
      const next = this.#queue.shift();
      // The slot passes straight to the next waiter, so the count never dips below.
      if (next === undefined) this.#running--;
      else next();
    }
  }
}
