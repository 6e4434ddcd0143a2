import { expect } from 'chai';
import fastJsonPatch from 'fast-json-patch';
import { admit } from '../../webhook/admit.js';
import { decideInjection } from '../../webhook/injection-decision.js';
import { injectPod } from '../../webhook/inject-pod.js';
import { defaultInjectorConfig } from '../../webhook/injector-config.js';
import { applyPatch } from '../../webhook/pod-patch.js';
import type { Container, Pod } from '../../webhook/pod-types.js';
import { decodePatch, podCreateRequest } from '../support/admission.js';

const config = defaultInjectorConfig();

function pod(extra: Partial<Pod['spec']> = {}, annotations?: Record<string, string>): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'web', namespace: 'shop', ...(annotations ? { annotations } : {}) },
    spec: { containers: [{ name: 'web', image: 'nginx' }], ...extra },
  };
}

function injected(p: Pod): Pod {
  const result = injectPod(p, 'shop', config);
  if ('refused' in result) throw new Error(result.refused);
  return result.pod;
}

const names = (list: Container[] | undefined): string[] => (list ?? []).map((c) => c.name);

describe('injection rules', () => {
  it('never mutates its input', () => {
    const input = pod();
    const copy = structuredClone(input);
    injected(input);
    expect(input).to.deep.equal(copy);
  });

  it('inject twice == inject once (native and classic)', () => {
    for (const p of [pod(), pod({}, { 'detour.dev/native-sidecar': 'false' })]) {
      const once = injected(p);
      expect(injected(once)).to.deep.equal(once);
    }
  });

  it('keeps another webhook’s containers added between two passes, without duplicates', () => {
    const once = injected(pod({ initContainers: [{ name: 'migrate', image: 'm' }] }));
    // Another mutating webhook prepends a native sidecar and appends a container.
    const between = structuredClone(once);
    between.spec!.initContainers!.unshift({
      name: 'vault-agent',
      image: 'v',
      restartPolicy: 'Always',
    });
    between.spec!.containers.push({ name: 'log-shipper', image: 'l' });
    const twice = injected(between);
    expect(names(twice.spec!.initContainers)).to.deep.equal([
      'detour-init',
      'detour-proxy',
      'vault-agent',
      'migrate',
    ]);
    expect(names(twice.spec!.containers)).to.deep.equal(['web', 'log-shipper']);
    expect(injected(twice)).to.deep.equal(twice);
  });

  it('keeps the classic proxy last after another webhook appended a container', () => {
    const once = injected(pod({}, { 'detour.dev/native-sidecar': 'false' }));
    once.spec!.containers.push({ name: 'log-shipper', image: 'l' });
    const twice = injected(once);
    expect(names(twice.spec!.containers)).to.deep.equal(['web', 'log-shipper', 'detour-proxy']);
    expect(names(twice.spec!.initContainers)).to.deep.equal(['detour-init']);
  });

  it('does not duplicate containers when the status annotation was lost', () => {
    const once = injected(pod());
    delete once.metadata!.annotations!['detour.dev/status'];
    const again = injected(once);
    expect(names(again.spec!.initContainers)).to.deep.equal(['detour-init', 'detour-proxy']);
  });

  it('switching capture mode on re-injection removes the old proxy env', () => {
    const env = injected(pod({}, { 'detour.dev/capture': 'proxy-env' }));
    expect(env.spec!.containers[0]!.env).to.have.length(4);
    env.metadata!.annotations!['detour.dev/capture'] = 'iptables';
    const ipt = injected(env);
    expect(ipt.spec!.containers[0]!.env).to.equal(undefined);
    expect(names(ipt.spec!.initContainers)).to.deep.equal(['detour-init', 'detour-proxy']);
  });

  it('gives dry-run requests the same patch as real ones', () => {
    const real = admit(podCreateRequest(pod(), { uid: 'a' }), config);
    const dry = admit(podCreateRequest(pod(), { uid: 'a', dryRun: true }), config);
    expect(real.result).to.equal('injected');
    expect(dry.response).to.deep.equal(real.response);
  });

  it('produces a patch that applies to a raw pod without initContainers, volumes or annotations', () => {
    const raw = {
      metadata: { name: 'bare' },
      spec: { containers: [{ name: 'app', image: 'busybox' }] },
    };
    const patch = decodePatch(admit(podCreateRequest(raw), config).response.patch);
    // validate() throws if any operation's path does not exist where RFC 6902 needs it.
    expect(fastJsonPatch.validate(patch, raw)).to.equal(undefined);
    const out = applyPatch(raw, patch) as Pod;
    expect(names(out.spec!.initContainers)).to.deep.equal(['detour-init', 'detour-proxy']);
    expect(out.metadata!.annotations!['kubectl.kubernetes.io/default-container']).to.equal('app');
  });

  it('escapes "/" in annotation keys as ~1 in patch paths', () => {
    const withAnnotations = pod({}, { team: 'a' });
    const patch = decodePatch(admit(podCreateRequest(withAnnotations), config).response.patch);
    const paths = patch.map((op) => op.path);
    expect(paths).to.include('/metadata/annotations/detour.dev~1status');
    expect(paths).to.include('/metadata/annotations/kubectl.kubernetes.io~1default-container');
  });

  it('allows non-Pod objects, updates and subresources unchanged', () => {
    const base = podCreateRequest(pod());
    const cases = [
      { ...base, kind: { group: 'apps', version: 'v1', kind: 'Deployment' } },
      { ...base, operation: 'UPDATE' },
      { ...base, subResource: 'ephemeralcontainers' },
    ];
    for (const request of cases) {
      const a = admit(request, config);
      expect(a.result).to.equal('skipped');
      expect(a.response).to.deep.equal({ uid: base.uid, allowed: true });
    }
  });

  it('refuses with allowed:false and a message naming the annotation and value', () => {
    const a = admit(podCreateRequest(pod({}, { 'detour.dev/capture-ports': 'http' })), config);
    expect(a.result).to.equal('refused');
    expect(a.response.allowed).to.equal(false);
    expect(a.response.status?.message).to.contain('detour.dev/capture-ports').and.contain('"http"');
  });

  for (const [what, object] of [
    ['containers not a list', { spec: { containers: { name: 'web' } } }],
    ['a container without a name', { spec: { containers: [{ image: 'x' }] } }],
    ['no spec', { metadata: { name: 'x' } }],
    [
      'annotations that are not strings',
      { metadata: { annotations: { a: 1 } }, spec: { containers: [] } },
    ],
    ['env not a list', { spec: { containers: [{ name: 'a', env: 'X=1' }] } }],
  ] as const) {
    it(`refuses a malformed pod (${what}) as bad input, not an internal error`, () => {
      const a = admit(podCreateRequest(object), config);
      expect(a.result).to.equal('refused');
      expect(a.response.allowed).to.equal(false);
      expect(a.response.status?.message).to.contain('cannot read the pod');
    });
  }

  it('uses the injector config: image, pull policy, UID and default resources', () => {
    const custom = {
      image: 'registry.example/detour:dev',
      imagePullPolicy: 'Never' as const,
      proxyUid: 4242,
      proxyResources: { memoryLimit: '128Mi' },
    };
    const result = injectPod(pod(), 'shop', custom);
    if ('refused' in result) throw new Error(result.refused);
    const [init, proxy] = result.pod.spec!.initContainers!;
    expect(proxy!.image).to.equal('registry.example/detour:dev');
    expect(proxy!.imagePullPolicy).to.equal('Never');
    expect(proxy!.securityContext!.runAsUser).to.equal(4242);
    expect(proxy!.resources).to.deep.equal({ limits: { memory: '128Mi' } });
    expect(init!.args).to.include('4242');
  });
});

describe('injection decision', () => {
  const enabled = { name: 'shop', labels: { 'detour.dev/injection': 'enabled' } };
  const plain = { name: 'shop', labels: {} };
  const withMeta = (
    labels?: Record<string, string>,
    annotations?: Record<string, string>,
  ): Pod => ({
    metadata: { ...(labels ? { labels } : {}), ...(annotations ? { annotations } : {}) },
    spec: { containers: [] },
  });

  it('follows the namespace label when the pod says nothing', () => {
    expect(decideInjection(withMeta(), enabled).inject).to.equal(true);
    expect(decideInjection(withMeta(), plain).inject).to.equal(false);
  });

  it('lets the pod win over the namespace, and its label over its annotation', () => {
    const inject = 'detour.dev/inject';
    expect(decideInjection(withMeta({ [inject]: 'false' }), enabled).inject).to.equal(false);
    expect(decideInjection(withMeta(undefined, { [inject]: 'true' }), plain).inject).to.equal(true);
    expect(
      decideInjection(withMeta({ [inject]: 'false' }, { [inject]: 'true' }), enabled).inject,
    ).to.equal(false);
  });

  it('never injects hostNetwork pods or system namespaces', () => {
    const opted = withMeta({ 'detour.dev/inject': 'true' });
    for (const ns of ['kube-system', 'kube-public', 'kube-node-lease', 'detour-system']) {
      expect(decideInjection(opted, { name: ns }).inject).to.equal(false);
    }
    const host = { ...opted, spec: { containers: [], hostNetwork: true } };
    expect(decideInjection(host, enabled).inject).to.equal(false);
  });
});
