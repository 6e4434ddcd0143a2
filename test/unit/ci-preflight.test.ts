import { expect } from 'chai';
import { execFileSync } from 'node:child_process';

/**
 * Some suites need tools a developer's laptop may lack (kubectl for the manifests, root,
 * iptables, iproute2 and setpriv for the network-namespace tests, curl for the e2e
 * apps) and skip themselves, saying why. CI must not: a missing tool there would turn
 * dozens of tests into silent skips. .ci/run installs them; this fails loudly if one is
 * still missing. Runs first (unit tests), so a broken CI machine is told in seconds.
 */
const TOOLS: readonly (readonly [string, readonly string[]])[] = [
  ['kubectl', ['version', '--client']],
  ['iptables', ['--version']],
  ['ip', ['netns', 'list']],
  ['setpriv', ['--version']],
  ['curl', ['--version']],
];

describe('CI preflight (CI=true)', () => {
  it('runs as root with every tool the gated suites need', function () {
    if (process.env.CI !== 'true') this.skip(); // a developer machine may lack them
    expect(process.getuid?.(), 'CI runs the netns suites as root').to.equal(0);
    for (const [tool, args] of TOOLS) {
      expect(
        () => execFileSync(tool, [...args], { stdio: 'ignore' }),
        `${tool} is missing`,
      ).not.to.throw();
    }
  });
});
