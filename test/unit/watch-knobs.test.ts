import { expect } from 'chai';
import {
  backoffDelay,
  DEFAULT_WATCH_KNOBS,
  loadWatchKnobs,
} from '../../shared/kube/watch-knobs.js';

describe('watch knobs', () => {
  it('defaults without env and reads seconds from DETOUR_WATCH_*', () => {
    expect(loadWatchKnobs({})).to.deep.equal(DEFAULT_WATCH_KNOBS);
    const knobs = loadWatchKnobs({
      DETOUR_WATCH_SILENCE_LIMIT_SECONDS: '0.5',
      DETOUR_WATCH_PAGE_SIZE: '100',
      DETOUR_WATCH_RELIST_INTERVAL_SECONDS: '0',
    });
    expect(knobs.silenceLimitMs).to.equal(500);
    expect(knobs.pageSize).to.equal(100);
    expect(knobs.relistIntervalMs).to.equal(0);
  });

  it('refuses invalid values naming the knob', () => {
    expect(() => loadWatchKnobs({ DETOUR_WATCH_PAGE_SIZE: '1.5' })).to.throw(
      /DETOUR_WATCH_PAGE_SIZE/,
    );
    expect(() => loadWatchKnobs({ DETOUR_WATCH_SILENCE_LIMIT_SECONDS: 'soon' })).to.throw(
      /DETOUR_WATCH_SILENCE_LIMIT_SECONDS="soon" is invalid/,
    );
    expect(() =>
      loadWatchKnobs({
        DETOUR_WATCH_BACKOFF_MAX_SECONDS: '0.1',
        DETOUR_WATCH_BACKOFF_INITIAL_SECONDS: '1',
      }),
    ).to.throw(/DETOUR_WATCH_BACKOFF_MAX_SECONDS/);
  });

  it('backs off exponentially with jitter, capped', () => {
    const k = { ...DEFAULT_WATCH_KNOBS, backoffInitialMs: 100, backoffMaxMs: 1000 };
    expect(backoffDelay(1, k, () => 0.5)).to.equal(100);
    expect(backoffDelay(3, k, () => 0.5)).to.equal(400);
    expect(backoffDelay(30, k, () => 0.5)).to.equal(1000);
    expect(backoffDelay(1, k, () => 0)).to.equal(50);
    expect(backoffDelay(1, k, () => 0.99)).to.equal(149);
  });
});
