import { expect } from 'chai';
import type { V1ContainerPort } from '@kubernetes/client-node';
import { apiKeyValues } from '../../shared/api-key-hash.js';
import { declaredPorts, ineligibility } from '../../shared/pod-eligibility.js';
import { isIPv4, parseHosts, parsePaths, splitEntries } from '../../shared/routing-annotations.js';
import { apiKeySecret, routablePod } from '../support/routable-pod.js';

const labels = { routable: 'true' };

describe('routing helpers', () => {
  describe('apiKeyValues', () => {
    it('accepts the base64 string and the decoded value', () => {
      const secret = apiKeySecret('ns', { key: 'v' });
      expect(apiKeyValues(secret, 'key')).to.deep.equal(['dg==', 'v']);
    });

    it('accepts only the string when .data is not base64', () => {
      const secret = apiKeySecret('ns', {});
      secret.data = { key: 'not base64!' };
      expect(apiKeyValues(secret, 'key')).to.deep.equal(['not base64!']);
    });

    it('treats an empty value as a key (present, as the seed did) and no Secret as none', () => {
      const secret = apiKeySecret('ns', {});
      secret.data = { key: '' };
      expect(apiKeyValues(secret, 'key')).to.deep.equal(['']);
      expect(apiKeyValues(undefined, 'key')).to.deep.equal([]);
    });

    it('lets stringData win over data, as the API server merges it on write', () => {
      const secret = apiKeySecret('ns', { key: 'new' }, 'stringData');
      secret.data = { key: Buffer.from('old').toString('base64') };
      expect(apiKeyValues(secret, 'key')).to.include('new');
      expect(apiKeyValues(secret, 'key')).not.to.include('old');
    });
  });

  describe('pod eligibility', () => {
    it('says why a pod gets no traffic', () => {
      expect(ineligibility(routablePod(), labels)).to.equal(undefined);
      expect(ineligibility(routablePod({ labels: {} }), labels)).to.equal(
        'label routable=true missing',
      );
      expect(ineligibility(routablePod({ phase: 'Pending' }), labels)).to.equal(
        'phase Pending, not Running',
      );
      expect(ineligibility(routablePod({ ready: false }), labels)).to.equal(
        'condition Ready is not True',
      );
      expect(ineligibility(routablePod({ ip: '' }), labels)).to.equal('no status.podIP');
      expect(ineligibility(routablePod({ deleting: true }), labels)).to.equal(
        'terminating (deletionTimestamp set)',
      );
    });

    it('counts TCP ports of containers and native sidecars only', () => {
      const pod = routablePod({ ports: [80, 81], sidecarPorts: [90], initPorts: [99] });
      const udp: unknown = { containerPort: 53, protocol: 'UDP' };
      pod.spec?.containers[0]?.ports?.push(udp as V1ContainerPort);
      expect([...declaredPorts(pod)].sort()).to.deep.equal([80, 81, 90]);
    });
  });

  describe('annotation parsing', () => {
    it('splits on any whitespace', () => {
      expect(splitEntries(' a\tb\n c  ')).to.deep.equal(['a', 'b', 'c']);
      expect(splitEntries(undefined)).to.deep.equal([]);
    });

    it('tells IPv4 addresses from names', () => {
      expect(isIPv4('127.0.0.1')).to.equal(true);
      expect(isIPv4('255.255.255.255')).to.equal(true);
      expect(isIPv4('1.2.3.256')).to.equal(false);
      expect(isIPv4('1.2.3')).to.equal(false);
      expect(parseHosts('1.2.3.4 a1.b2').hosts).to.deep.equal(['1.2.3.4', 'a1.b2']);
    });

    it('keeps the order of the annotation and drops duplicates', () => {
      expect(parsePaths('3000:/b 3000:/a 3000:/b/', new Set([3000])).paths).to.deep.equal([
        { port: 3000, path: '/b' },
        { port: 3000, path: '/a' },
      ]);
    });
  });
});
