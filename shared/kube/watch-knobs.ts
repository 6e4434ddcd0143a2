import { BadKnobError } from '../errors.js';

/**
 * The resilient watch's knobs (docs/adr/0002-resilient-watch.md explains each one).
 * Env names are in seconds, as pepr names its own (PEPR_LAST_SEEN_LIMIT_SECONDS, ...).
 */
export interface WatchKnobs {
  /** First retry delay after a failure; doubles per failure, with ±50 % jitter. */
  backoffInitialMs: number;
  /** Cap of the retry delay. Retries never stop. */
  backoffMaxMs: number;
  /** A watch that sent nothing (not even a bookmark) for this long is restarted. */
  silenceLimitMs: number;
  /** A full relist this often, a safety net for events lost anywhere (0: never). */
  relistIntervalMs: number;
  /** Objects per list page (`limit`). */
  pageSize: number;
  /** The server ends each watch after this long (x1-2, randomised as client-go does). */
  watchTimeoutSeconds: number;
}

export const DEFAULT_WATCH_KNOBS: Readonly<WatchKnobs> = {
  backoffInitialMs: 500,
  backoffMaxMs: 30_000,
  // The real API server sends a bookmark about once a minute to a watch that asked for
  // them, so two minutes of silence means the connection is dead, not idle.
  silenceLimitMs: 120_000,
  relistIntervalMs: 30 * 60_000,
  pageSize: 500,
  watchTimeoutSeconds: 300,
};

const ENV: Record<keyof WatchKnobs, { name: string; scale: number }> = {
  backoffInitialMs: { name: 'DETOUR_WATCH_BACKOFF_INITIAL_SECONDS', scale: 1000 },
  backoffMaxMs: { name: 'DETOUR_WATCH_BACKOFF_MAX_SECONDS', scale: 1000 },
  silenceLimitMs: { name: 'DETOUR_WATCH_SILENCE_LIMIT_SECONDS', scale: 1000 },
  relistIntervalMs: { name: 'DETOUR_WATCH_RELIST_INTERVAL_SECONDS', scale: 1000 },
  pageSize: { name: 'DETOUR_WATCH_PAGE_SIZE', scale: 1 },
  watchTimeoutSeconds: { name: 'DETOUR_WATCH_TIMEOUT_SECONDS', scale: 1 },
};

export function loadWatchKnobs(env: NodeJS.ProcessEnv = process.env): WatchKnobs {
  const knobs: WatchKnobs = { ...DEFAULT_WATCH_KNOBS };
  for (const key of Object.keys(ENV) as (keyof WatchKnobs)[]) {
    const { name, scale } = ENV[key];
    const raw = env[name];
    if (raw === undefined || raw === '') continue;
    const value = Number(raw);
    const integer = scale === 1;
    if (
      !Number.isFinite(value) ||
      value < 0 ||
      (integer && (!Number.isInteger(value) || value < 1))
    ) {
      throw new BadKnobError(
        name,
        raw,
        integer ? 'expected a positive integer' : 'expected seconds, e.g. 0.5 or 30',
      );
    }
    knobs[key] = value * scale;
  }
  if (knobs.backoffMaxMs < knobs.backoffInitialMs) {
    throw new BadKnobError(
      ENV.backoffMaxMs.name,
      String(knobs.backoffMaxMs / 1000),
      'must not be below the initial backoff',
    );
  }
  return knobs;
}

/** Full-jitter-ish exponential backoff: base·2^(n-1), capped, times a factor in [0.5, 1.5). */
export function backoffDelay(failures: number, knobs: WatchKnobs, random = Math.random): number {
  const base = Math.min(
    knobs.backoffMaxMs,
    knobs.backoffInitialMs * 2 ** Math.max(0, failures - 1),
  );
  return Math.round(base * (0.5 + random()));
}
