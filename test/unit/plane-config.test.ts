import { expect } from 'chai';
import { loadPlaneConfig, parseEqualitySelector } from '../../shared/plane-config.js';
import { parseByteSize } from '../../shared/byte-size.js';
import { BadKnobError } from '../../shared/errors.js';

describe('plane config (the seed env knobs)', () => {
  it('uses the private plane defaults', () => {
    const c = loadPlaneConfig('private', {});
    expect(c).to.deep.include({
      hostsAnnotation: 'privateHosts',
      pathsAnnotation: 'privatePaths',
      apiKeySecretName: 'routing',
      apiKeySecretField: 'private-api-key',
      apiKeyHeader: 'x-routing-api-key',
      clientMaxBodySize: 0,
      port: 80,
    });
    expect(c.routableLabels).to.deep.equal({ routable: 'true' });
  });

  it('scopes host claims to the cluster domain cluster.local by default', () => {
    const c = loadPlaneConfig('private', {});
    expect(c.hostPolicy).to.equal('scoped');
    expect(c.clusterDomain).to.equal('cluster.local');
  });

  it('takes DETOUR_HOST_POLICY=open and a fully qualified DETOUR_CLUSTER_DOMAIN', () => {
    const c = loadPlaneConfig('public', {
      DETOUR_HOST_POLICY: 'open',
      DETOUR_CLUSTER_DOMAIN: 'corp.example.',
    });
    expect(c.hostPolicy).to.equal('open');
    expect(c.clusterDomain).to.equal('corp.example');
  });

  it('uses the public plane defaults', () => {
    const c = loadPlaneConfig('public', {});
    expect(c.hostsAnnotation).to.equal('publicHosts');
    expect(c.pathsAnnotation).to.equal('publicPaths');
    expect(c.apiKeySecretField).to.equal('public-api-key');
  });

  it('takes every knob from the environment', () => {
    const c = loadPlaneConfig('private', {
      ROUTABLE_LABEL_SELECTOR: 'team=a,routable==yes',
      HOSTS_ANNOTATION: 'routingHosts',
      PATHS_ANNOTATION: 'example.com/paths',
      API_KEY_SECRET_LOCATION: 'keys:api-key',
      API_KEY_HEADER: 'X-Key',
      CLIENT_MAX_BODY_SIZE: '0',
      PORT: '8080',
    });
    expect(c.routableLabels).to.deep.equal({ team: 'a', routable: 'yes' });
    expect(c.hostsAnnotation).to.equal('routingHosts');
    expect(c.pathsAnnotation).to.equal('example.com/paths');
    expect(c.apiKeySecretName).to.equal('keys');
    expect(c.apiKeyHeader).to.equal('x-key');
    expect(c.clientMaxBodySize).to.equal(0);
    expect(c.port).to.equal(8080);
  });

  for (const [knob, value] of [
    ['API_KEY_SECRET_LOCATION', 'routing'],
    ['API_KEY_SECRET_LOCATION', 'a:b:c'],
    ['HOSTS_ANNOTATION', 'bad name'],
    ['PATHS_ANNOTATION', '-x'],
    ['CLIENT_MAX_BODY_SIZE', '1 mb'],
    ['PORT', '70000'],
    ['PORT', 'http'],
    ['ROUTABLE_LABEL_SELECTOR', 'routable in (true)'],
    ['API_KEY_HEADER', 'X Key'],
    ['DETOUR_HOST_POLICY', 'closed'],
    ['DETOUR_CLUSTER_DOMAIN', 'Cluster_Local'],
    ['DETOUR_CLUSTER_DOMAIN', '.local'],
  ] as const) {
    it(`refuses ${knob}=${value} naming the knob`, () => {
      expect(() => loadPlaneConfig('private', { [knob]: value }))
        .to.throw(BadKnobError, knob)
        .with.property('code', 'DETOUR_E_BAD_KNOB');
    });
  }

  it('parses equality selectors', () => {
    expect(parseEqualitySelector('K', 'a=b, c==d')).to.deep.equal({ a: 'b', c: 'd' });
  });
});

describe('byte sizes (nginx syntax)', () => {
  it('parses plain, k and m sizes', () => {
    expect(parseByteSize('0')).to.equal(0);
    expect(parseByteSize('512')).to.equal(512);
    expect(parseByteSize('512k')).to.equal(512 * 1024);
    expect(parseByteSize('1M')).to.equal(1024 * 1024);
    expect(parseByteSize('2g')).to.equal(2 * 1024 ** 3);
  });
  it('refuses other syntax', () => {
    expect(() => parseByteSize('1.5m')).to.throw();
    expect(() => parseByteSize('-1')).to.throw();
  });
});
