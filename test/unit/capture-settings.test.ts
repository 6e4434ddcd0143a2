import { expect } from 'chai';
import {
  parsePortList,
  formatPortList,
  parseCidrList,
  parseCaptureMode,
  parseBoolean,
  toInitArgs,
  defaultCaptureSettings,
} from '../../shared/capture-settings.js';

describe('capture settings', () => {
  it('parses ports, ranges and the wildcard', () => {
    expect(parsePortList('80, 8000-8100,443')).to.deep.equal([
      { from: 80, to: 80 },
      { from: 8000, to: 8100 },
      { from: 443, to: 443 },
    ]);
    expect(parsePortList('*')).to.deep.equal([{ from: 1, to: 65535 }]);
    expect(parsePortList('')).to.deep.equal([]);
    expect(formatPortList(parsePortList('80,8000-8100'))).to.equal('80,8000-8100');
  });

  for (const bad of ['0', '65536', '90-80', 'http', '80;443', '1-2-3']) {
    it(`refuses port list ${JSON.stringify(bad)}`, () => {
      expect(() => parsePortList(bad)).to.throw(Error);
    });
  }

  it('normalises CIDRs and bare addresses', () => {
    expect(parseCidrList('198.18.0.0/15, 198.19.1.1,FD00::/8')).to.deep.equal([
      '198.18.0.0/15',
      '198.19.1.1/32',
      'fd00::/8',
    ]);
  });

  for (const bad of ['198.18.0.0/33', 'example.com/8', '1.2.3.4/8/9', '::/129', '1.2.3.4/x']) {
    it(`refuses CIDR ${JSON.stringify(bad)}`, () => {
      expect(() => parseCidrList(bad)).to.throw(Error);
    });
  }

  it('parses modes and booleans strictly', () => {
    expect(parseCaptureMode('proxy-env')).to.equal('proxy-env');
    expect(() => parseCaptureMode('ebpf')).to.throw('iptables, proxy-env, none');
    expect(parseBoolean('FALSE')).to.equal(false);
    expect(() => parseBoolean('yes')).to.throw();
  });

  it('renders init flags', () => {
    const s = { ...defaultCaptureSettings(), excludeOutboundPorts: parsePortList('22') };
    expect(toInitArgs(s)).to.deep.equal([
      'init',
      '--capture-ports',
      '80',
      '--exclude-outbound-ports',
      '22',
      '--dns-capture',
      'true',
      '--proxy-uid',
      '1337',
      '--vip-cidr',
      '240.240.0.0/16',
      '--outbound-port',
      '15001',
      '--dns-port',
      '15053',
    ]);
  });
});
