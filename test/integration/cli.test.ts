import { expect } from 'chai';
import { runDetour } from '../support/cli.js';

describe('detour entry point', () => {
  it('lists every command on --help', async () => {
    const r = await runDetour(['--help']);
    expect(r.code).to.equal(0);
    for (const name of ['webhook', 'controller', 'proxy', 'init', 'inject', 'routes']) {
      expect(r.stdout).to.match(new RegExp(`^  ${name} `, 'm'));
    }
  });

  it('refuses an unknown command with exit 2', async () => {
    const r = await runDetour(['frobnicate']);
    expect(r.code).to.equal(2);
    expect(r.stderr).to.contain('unknown command "frobnicate"');
  });
});
