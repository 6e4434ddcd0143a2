import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT, runDetour } from '../support/cli.js';

describe('detour --version', function () {
  this.timeout(30_000);

  it("prints package.json's version and exits 0", async () => {
    const { version } = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as {
      version: string;
    };
    const r = await runDetour(['--version']);
    expect(r.code).to.equal(0);
    expect(r.stdout).to.equal(`detour ${version}\n`);
  });

  it('the usage lists check and status', async () => {
    const r = await runDetour(['--help']);
    expect(r.stdout).to.match(/^ {2}check +check a cluster/m);
    expect(r.stdout).to.match(/^ {2}status +list injected pods/m);
  });
});
