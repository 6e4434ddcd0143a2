import { expect } from 'chai';
import { parseQuantity } from '../../webhook/quantity.js';
import { defaultInjectorConfig, loadInjectorConfig } from '../../webhook/injector-config.js';

describe('Kubernetes quantities', () => {
  const good: [string, number][] = [
    ['100m', 0.1],
    ['0.5', 0.5],
    ['1', 1],
    ['64Mi', 64 * 2 ** 20],
    ['1G', 1e9],
    ['2e3', 2000],
    ['.5Ki', 512],
    ['+1k', 1000],
  ];
  for (const [text, value] of good) {
    it(`parses ${text}`, () => {
      expect(parseQuantity(text)).to.be.closeTo(value, 1e-9);
    });
  }
  for (const bad of ['', '-1', '1Gib', '64MB', '1 Gi', 'm', '1..2', '0x10']) {
    it(`refuses ${JSON.stringify(bad)}`, () => {
      expect(() => parseQuantity(bad)).to.throw('Kubernetes quantity');
    });
  }
});

describe('injector config knobs', () => {
  it('has documented defaults', () => {
    expect(loadInjectorConfig({})).to.deep.equal(defaultInjectorConfig());
    expect(defaultInjectorConfig().image).to.equal('ghcr.io/detour-dev/detour:0.1.0');
  });

  it('reads the env, an empty value clears a default resource', () => {
    const c = loadInjectorConfig({
      DETOUR_PROXY_IMAGE: 'r/detour:1',
      DETOUR_PROXY_UID: '2000',
      DETOUR_PROXY_CPU: '',
      DETOUR_PROXY_MEMORY_LIMIT: '256Mi',
      DETOUR_PROXY_IMAGE_PULL_POLICY: 'IfNotPresent',
    });
    expect(c.image).to.equal('r/detour:1');
    expect(c.proxyUid).to.equal(2000);
    expect(c.imagePullPolicy).to.equal('IfNotPresent');
    expect(c.proxyResources).to.deep.equal({ memory: '128Mi', memoryLimit: '256Mi' });
  });

  for (const [knob, value] of [
    ['DETOUR_PROXY_UID', '0'],
    ['DETOUR_PROXY_UID', 'root'],
    ['DETOUR_PROXY_MEMORY', '64MB'],
    // Below the minimum limit (webhook/proxy-memory.ts): the proxy would be OOM-killed.
    ['DETOUR_PROXY_MEMORY_LIMIT', '128Mi'],
    ['DETOUR_PROXY_IMAGE_PULL_POLICY', 'Sometimes'],
  ] as const) {
    it(`refuses ${knob}=${value} naming the knob`, () => {
      expect(() => loadInjectorConfig({ [knob]: value })).to.throw(knob);
    });
  }
});
