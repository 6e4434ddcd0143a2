import { expect } from 'chai';
import { APP_PROBES_ENV, parseAppProbes } from '../../shared/app-probes.js';
import { readInboundStatus } from '../../shared/inbound-status.js';
import { injectPod } from '../../webhook/inject-pod.js';
import { defaultInjectorConfig } from '../../webhook/injector-config.js';
import type { Container, Pod } from '../../webhook/pod-types.js';

const config = defaultInjectorConfig();

function injected(p: Pod): Pod {
  const result = injectPod(p, 'shop', config);
  if ('refused' in result) throw new Error(result.refused);
  return result.pod;
}

function app(extra: Partial<Container> = {}): Container {
  return {
    name: 'web',
    image: 'nginx',
    ports: [{ name: 'http', containerPort: 8080 }],
    livenessProbe: { httpGet: { path: '/healthz', port: 'http' }, periodSeconds: 7 },
    ...extra,
  };
}

function pod(container: Container, annotations?: Record<string, string>): Pod {
  return {
    metadata: { name: 'web', namespace: 'shop', ...(annotations ? { annotations } : {}) },
    spec: { containers: [container] },
  };
}

function proxyEnv(p: Pod, name: string): string | undefined {
  const proxy = p.spec!.initContainers!.find((c) => c.name === 'detour-proxy');
  return proxy?.env?.find((e) => e.name === name)?.value;
}

describe('probe rewriting', () => {
  it('moves a named-port probe to the admin port and keeps the original, port resolved', () => {
    const out = injected(pod(app()));
    expect(out.spec!.containers[0]!.livenessProbe).to.deep.equal({
      httpGet: { path: '/app-health/web/livez', port: 15000, scheme: 'HTTP' },
      periodSeconds: 7,
    });
    expect(parseAppProbes(proxyEnv(out, APP_PROBES_ENV)!)).to.deep.equal({
      'web/livez': { httpGet: { path: '/healthz', port: 8080 } },
    });
  });

  it('restores the original before rewriting again (inject twice == inject once)', () => {
    const once = injected(pod(app()));
    expect(injected(once)).to.deep.equal(once);
  });

  it('keeps a probe the user changed after injection, and drops the stale original', () => {
    const once = injected(pod(app()));
    const edited = structuredClone(once);
    const mine = { httpGet: { path: '/mine', port: 9999 }, periodSeconds: 1 };
    edited.spec!.containers[0]!.livenessProbe = mine;
    const twice = injected(edited);
    expect(twice.spec!.containers[0]!.livenessProbe).to.deep.equal(mine);
    expect(proxyEnv(twice, APP_PROBES_ENV)).to.equal(undefined);
  });

  it('leaves probes alone with inbound off, and with rewrite-probes "false"', () => {
    for (const annotations of [
      { 'detour.dev/inbound': 'off' } as Record<string, string>,
      { 'detour.dev/rewrite-probes': 'false' },
    ]) {
      const out = injected(pod(app(), annotations));
      expect(out.spec!.containers[0]!.livenessProbe).to.deep.equal(app().livenessProbe);
      expect(proxyEnv(out, APP_PROBES_ENV)).to.equal(undefined);
    }
  });

  it('gives the proxy the pod IP from the downward API', () => {
    const proxy = injected(pod(app())).spec!.initContainers!.find((c) => c.name === 'detour-proxy');
    expect(proxy!.env!.find((e) => e.name === 'POD_IP')).to.deep.equal({
      name: 'POD_IP',
      valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'status.podIP' } },
    });
  });
});

describe('the inbound status the controller reads', () => {
  it('says enforce with the captured ports, or off', () => {
    expect(readInboundStatus(injected(pod(app())).metadata!.annotations)).to.deep.equal({
      mode: 'enforce',
      ports: [8080],
    });
    const off = injected(pod(app(), { 'detour.dev/capture': 'none' }));
    expect(readInboundStatus(off.metadata!.annotations)).to.deep.equal({ mode: 'off' });
  });

  it('reads pods injected before inbound existed, and garbage, as off', () => {
    const old = '{"version":1,"initContainers":[],"containers":[],"volumes":[]}';
    for (const status of [old, 'not json', 'null', '{"inbound":{"mode":"enforce"}}']) {
      expect(readInboundStatus({ 'detour.dev/status': status })).to.deep.equal({ mode: 'off' });
    }
    expect(readInboundStatus(undefined)).to.deep.equal({ mode: 'off' });
  });
});

describe('app probes JSON (shared by the webhook and the proxy)', () => {
  for (const bad of [
    '[]',
    '{"web":{"tcpSocket":{"port":80}}}',
    '{"web/livez":{"tcpSocket":{"port":0}}}',
    '{"web/livez":{"exec":{"command":["true"]}}}',
    '{"web/livez":{"httpGet":{"port":80,"scheme":"FTP"}}}',
    '{"web/livez":{"httpGet":{"port":80},"tcpSocket":{"port":80}}}',
    '{"web/livez":{"tcpSocket":{"port":80},"timeoutSeconds":0}}',
  ]) {
    it(`refuses ${bad}`, () => {
      expect(() => parseAppProbes(bad)).to.throw();
    });
  }
});
