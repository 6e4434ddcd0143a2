import { expect } from 'chai';
import { detourArgv } from '../support/cli.js';
import { NetnsLab, netnsUnavailable, type NetnsPod } from '../support/netns.js';
import { restoreError } from '../../sidecar/init/iptables-apply.js';

/** iptables-save output without comments and counters, so two dumps compare as rules. */
function rulesOf(save: string): string {
  return save
    .split('\n')
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => line.replace(/\[\d+:\d+\]/, '[0:0]'))
    .join('\n');
}

describe('detour init in a fresh network namespace (root only)', function () {
  this.timeout(60_000);
  let lab: NetnsLab | undefined;
  let pod: NetnsPod;

  before(function () {
    const reason = netnsUnavailable();
    if (reason !== undefined) {
      console.log(`      skipped: ${reason}`);
      this.skip();
    }
    lab = NetnsLab.create();
    pod = lab.addPod('init');
  });

  after(async () => {
    await lab?.cleanup();
  });

  for (const mode of ['nft', 'legacy'] as const) {
    it(`applies the rules with iptables-${mode}, and applying twice changes nothing`, async () => {
      const init = detourArgv([
        'init',
        '--iptables-mode',
        mode,
        '--exclude-outbound-ports',
        '22,5000-5100',
      ]);
      const first = await lab!.exec(pod.ns, [process.execPath, ...init]);
      expect(first.code, first.stderr + first.stdout).to.equal(0);
      const save = `iptables-${mode}-save`;
      const once = await lab!.exec(pod.ns, [save, '-t', 'nat']);
      expect(once.stdout).to.include(':DETOUR_OUTPUT - [0:0]');
      expect(once.stdout).to.include(':DETOUR_REDIRECT - [0:0]');
      expect(once.stdout).to.include('-A OUTPUT -j DETOUR_OUTPUT');
      expect(once.stdout).to.match(/-A DETOUR_OUTPUT -m owner --uid-owner 1337 -j RETURN/);
      expect(once.stdout).to.match(/--dports 22,5000:5100 -j RETURN/);
      expect(once.stdout).to.match(/-A DETOUR_REDIRECT -p tcp -j REDIRECT --to-ports 15001/);

      const second = await lab!.exec(pod.ns, [process.execPath, ...init]);
      expect(second.code, second.stderr).to.equal(0);
      const twice = await lab!.exec(pod.ns, [save, '-t', 'nat']);
      expect(rulesOf(twice.stdout)).to.equal(rulesOf(once.stdout));
      expect(twice.stdout.match(/-A OUTPUT -j DETOUR_OUTPUT/g)).to.have.length(1);

      const v6 = await lab!.exec(pod.ns, [`ip6tables-${mode}-save`, '-t', 'nat']);
      if (v6.code === 0) expect(v6.stdout).to.include('-A OUTPUT -j DETOUR_OUTPUT');
    });
  }

  it('names the rule iptables-restore refused', async () => {
    const payload =
      '*nat\n:DETOUR_OUTPUT - [0:0]\n-A DETOUR_OUTPUT -p tcp --dport 99999 -j RETURN\nCOMMIT\n';
    const result = await lab!.exec(pod.ns, ['iptables-restore', '--noflush'], { input: payload });
    expect(result.code).not.to.equal(0);
    const err = restoreError('iptables-restore', payload, result);
    expect(err.code).to.equal('DETOUR_E_IPTABLES');
    expect(err.message).to.include('line 3: -A DETOUR_OUTPUT -p tcp --dport 99999 -j RETURN');
  });

  it('exits non-zero with DETOUR_E_IPTABLES when iptables is not usable', async () => {
    // Without NET_ADMIN (here: as an unprivileged UID) iptables-restore cannot commit,
    // as in a pod whose init container lost its capabilities.
    const result = await lab!.exec(pod.ns, [process.execPath, ...detourArgv(['init'])], {
      uid: 65534,
    });
    expect(result.code).to.equal(1);
    expect(result.stderr).to.include('DETOUR_E_IPTABLES');
  });

  it('--dry-run prints the payload without needing privileges', async () => {
    const result = await lab!.exec(
      pod.ns,
      [process.execPath, ...detourArgv(['init', '--dry-run'])],
      {
        uid: 65534,
      },
    );
    expect(result.code, result.stderr).to.equal(0);
    expect(result.stdout).to.include('-A OUTPUT -j DETOUR_OUTPUT');
  });
});
