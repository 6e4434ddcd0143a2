import { expect } from 'chai';
import { backendFor, chooseMode, countRules } from '../../sidecar/init/iptables-backend.js';
import { failingLine, restoreError } from '../../sidecar/init/iptables-apply.js';

describe('iptables backend detection', () => {
  it('prefers the back end that already holds rules, else the default', () => {
    expect(chooseMode(12, 0)).to.equal('legacy');
    expect(chooseMode(0, 7)).to.equal('nft');
    expect(chooseMode(0, 0)).to.equal('default');
    expect(chooseMode(null, 0)).to.equal('nft');
    expect(chooseMode(3, null)).to.equal('legacy');
    expect(chooseMode(null, null)).to.equal('default');
  });

  it('counts rules, not chains or comments', () => {
    const save =
      '# Generated\n*nat\n:OUTPUT ACCEPT [0:0]\n-A OUTPUT -j X\n-A X -j RETURN\nCOMMIT\n';
    expect(countRules(save)).to.equal(2);
  });

  it('names the binaries of each back end', () => {
    expect(backendFor('legacy').restoreCommand(4)).to.equal('iptables-legacy-restore');
    expect(backendFor('nft').saveCommand(6)).to.equal('ip6tables-nft-save');
    expect(backendFor('default').restoreCommand(6)).to.equal('ip6tables-restore');
  });
});

describe('iptables-restore failures', () => {
  it('finds the line in both of iptables-restore error formats', () => {
    expect(failingLine('iptables-restore: line 7 failed')).to.equal(7);
    expect(failingLine('Bad argument\n\nError occurred at line: 12\nTry ...')).to.equal(12);
    expect(failingLine('Permission denied (you must be root)')).to.equal(undefined);
  });

  it('quotes the refused rule in the message', () => {
    const err = restoreError('iptables-restore', '*nat\n-A X -j NOPE\nCOMMIT\n', {
      code: 1,
      stdout: '',
      stderr: 'iptables-restore: line 2 failed\n',
    });
    expect(err.code).to.equal('DETOUR_E_IPTABLES');
    expect(err.message).to.equal(
      'iptables-restore --noflush failed (exit 1) at line 2: -A X -j NOPE (iptables-restore: line 2 failed)',
    );
    expect(err.details.rule).to.equal('-A X -j NOPE');
  });
});
