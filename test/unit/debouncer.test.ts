import { expect } from 'chai';
import { Debouncer } from '../../controller/debouncer.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('Debouncer', () => {
  it('fires once, a quiet period after the last of a burst (not adaptive: minMs = quietMs)', async () => {
    let fired = 0;
    const d = new Debouncer(() => fired++, 60, 10_000, Date.now, 60);
    for (let i = 0; i < 5; i++) {
      d.trigger();
      await sleep(10);
    }
    expect(fired).to.equal(0);
    await sleep(150);
    expect(fired).to.equal(1);
    expect(d.pending).to.be.false;
  });

  // Seed bug: the seed reset its timer on every event, so a steady stream of pod
  // updates postponed the reload forever.
  it('fires within maxDelay under a constant stream of triggers', async () => {
    const firedAt: number[] = [];
    const start = Date.now();
    const d = new Debouncer(() => firedAt.push(Date.now() - start), 100, 300);
    for (let i = 0; i < 60 && Date.now() - start < 1_000; i++) {
      d.trigger(); // every 20 ms: never 100 ms of quiet
      await sleep(20);
    }
    d.cancel();
    expect(firedAt.length).to.be.greaterThanOrEqual(2);
    expect(firedAt[0]).to.be.lessThan(700); // 300 ms bound, generous for a busy machine
  });

  it('refuses a maxDelay below the quiet period, and a minMs above it', () => {
    expect(() => new Debouncer(() => undefined, 100, 50)).to.throw(RangeError);
    expect(() => new Debouncer(() => undefined, 100, 500, Date.now, 200)).to.throw(RangeError);
  });

  // Issue 13: pod Ready -> first 200 was dominated by a fixed 250 ms wait.
  it('lets an echo of its own write wait the quiet period, and never delay an input', async () => {
    let fired = 0;
    const d = new Debouncer(() => fired++, 1_000, 2_000, Date.now, 10);
    d.trigger('echo');
    await sleep(300);
    expect(fired).to.equal(0);
    d.trigger('input');
    d.trigger('echo');
    await sleep(300);
    expect(fired).to.equal(1);
    expect(d.pending).to.be.false;
  });

  it('fires a lone event after a quiet spell within minMs, long before the quiet period', async () => {
    let fired = 0;
    const d = new Debouncer(() => fired++, 1_000, 2_000, Date.now, 10);
    d.trigger();
    await sleep(300);
    expect(fired).to.equal(1);
  });

  it('widens its wait while events keep coming: a steady stream is batched', async () => {
    let fired = 0;
    const d = new Debouncer(() => fired++, 1_000, 10_000, Date.now, 5);
    for (let i = 0; i < 20; i++) {
      d.trigger(); // every 25 ms (up to ~100 ms on a busy machine) for half a second
      await sleep(25);
    }
    await sleep(1_200);
    expect(fired).to.be.at.least(1);
    // The wait doubles per recent event (5, 10, 20, 40, 80, ... ms), so only the first
    // few gaps outlast it; a fixed 5 ms wait would fire after each of the 20 events.
    expect(fired).to.be.at.most(7);
  });
});
