import { expect } from 'chai';
import { execFileSync } from 'node:child_process';

// The end-to-end tests need root, iptables and iproute2; .ci/run installs the last two.
// This check makes a CI machine that lacks them fail loudly instead of skipping quietly.
describe('e2e preflight', () => {
  it('has iptables and ip netns when running as root', function () {
    if (process.getuid?.() !== 0) {
      this.skip(); // not root: the e2e suites skip themselves and say so
    }
    expect(execFileSync('iptables', ['--version'], { encoding: 'utf8' })).to.match(/iptables v\d/);
    expect(() => execFileSync('ip', ['netns', 'list'])).not.to.throw();
  });
});
