import { expect } from 'chai';
import { admit } from '../../webhook/admit.js';
import { defaultInjectorConfig } from '../../webhook/injector-config.js';
import { parseJsonBody } from '../../webhook/json-body.js';
import { applyPatch } from '../../webhook/pod-patch.js';
import { formatPath } from '../../webhook/field-path.js';
import { MAX_OBJECT_DEPTH, readPodShape } from '../../webhook/pod-shape.js';
import { decodePatch, podCreateRequest } from '../support/admission.js';

const config = defaultInjectorConfig();

function pod(container: Record<string, unknown> = {}, spec: Record<string, unknown> = {}): object {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'web', namespace: 'shop' },
    spec: { containers: [{ name: 'web', image: 'nginx', ...container }], ...spec },
  };
}

/** The refusal message for `object`, asserting it is a clean 400 refusal. */
function refusal(object: unknown): string {
  const a = admit(podCreateRequest(object), config);
  expect(a.result, a.reason).to.equal('refused');
  expect(a.response.allowed).to.equal(false);
  expect(a.response.status?.code).to.equal(400);
  expect(a.response.status?.reason).to.equal('BadRequest');
  return a.response.status?.message ?? '';
}

function nest(depth: number): unknown {
  let value: unknown = 'leaf';
  for (let i = 0; i < depth; i += 1) value = { x: value };
  return value;
}

describe('pod shape (webhook/pod-shape.ts)', () => {
  for (const [what, object, message] of [
    [
      'an env item whose name is null',
      pod({ env: [{ name: 'A', value: '1' }, { name: null }] }),
      'cannot read the pod: spec.containers[0].env[1].name: expected a string, got null',
    ],
    [
      'an env item that is a string',
      pod({ env: ['A=1'] }),
      'spec.containers[0].env[0]: expected an object, got "A=1"',
    ],
    [
      'containers that are a string',
      { spec: { containers: 'oops' } },
      'cannot read the pod: spec.containers: expected a list, got "oops"',
    ],
    [
      'containers null',
      { spec: { containers: null } },
      'spec.containers: expected a list, got null',
    ],
    [
      'no spec',
      { metadata: { name: 'x' } },
      'cannot read the pod: spec: expected an object, got nothing',
    ],
    ['a pod that is a string', 'oops', 'cannot read the pod: expected an object, got "oops"'],
    [
      'a containerPort that is a string',
      pod({ ports: [{ containerPort: '80' }] }),
      'spec.containers[0].ports[0].containerPort: expected a number, got "80"',
    ],
    [
      'a containerPort out of range',
      pod({ ports: [{ containerPort: 70000 }] }),
      'spec.containers[0].ports[0].containerPort: expected at most 65535, got 70000',
    ],
    [
      'a port protocol Kubernetes does not know',
      pod({ ports: [{ containerPort: 80, protocol: 'tcp' }] }),
      'spec.containers[0].ports[0].protocol: expected one of TCP, UDP, SCTP, got "tcp"',
    ],
    [
      'a probe port that is a boolean',
      pod({ readinessProbe: { httpGet: { port: true } } }),
      'spec.containers[0].readinessProbe.httpGet.port: expected a port number or name, got true',
    ],
    [
      'a probe that is a list',
      pod({ livenessProbe: [] }),
      'spec.containers[0].livenessProbe: expected an object, got a list',
    ],
    [
      'a non-integer runAsUser',
      pod({ securityContext: { runAsUser: 1337.5 } }),
      'spec.containers[0].securityContext.runAsUser: expected an integer, got 1337.5',
    ],
    [
      'hostNetwork as a string',
      pod({}, { hostNetwork: 'yes' }),
      'spec.hostNetwork: expected true or false, got "yes"',
    ],
    [
      'an annotation value that is a number',
      { ...pod(), metadata: { annotations: { 'detour.dev/capture-ports': 80 } } },
      'metadata.annotations["detour.dev/capture-ports"]: expected a string, got 80',
    ],
    [
      'labels that are a list',
      { ...pod(), metadata: { labels: ['a'] } },
      'metadata.labels: expected a map of strings, got a list',
    ],
    [
      'a volume without a name',
      pod({}, { volumes: [{ emptyDir: {} }] }),
      'spec.volumes[0].name: expected a string, got nothing',
    ],
    [
      'an init container that is null',
      pod({}, { initContainers: [null] }),
      'spec.initContainers[0]: expected an object, got null',
    ],
    [
      'resources that are a string',
      pod({ resources: '100m' }),
      'spec.containers[0].resources: expected an object, got "100m"',
    ],
    [
      'a volumeMount without mountPath',
      pod({ volumeMounts: [{ name: 'v' }] }),
      'spec.containers[0].volumeMounts[0].mountPath: expected a string, got nothing',
    ],
  ] as const) {
    it(`refuses ${what}, naming the field`, () => {
      expect(refusal(object)).to.contain(message);
    });
  }

  it('names every malformed field at once, up to ten', () => {
    const message = refusal(
      pod({ env: [{ name: 1 }, { name: 2 }], ports: [{ containerPort: 'x' }] }),
    );
    expect(message).to.contain('env[0].name').and.contain('env[1].name').and.contain('ports[0]');
    const many = refusal(pod({ env: Array.from({ length: 25 }, () => ({ name: null })) }));
    expect(many).to.contain('env[9].name').and.not.contain('env[10].name');
    expect(many).to.match(/; and 15 more$/);
  });

  it('refuses nesting deeper than the limit, naming where, without recursion trouble', () => {
    const deep = pod({ extra: nest(MAX_OBJECT_DEPTH) });
    expect(refusal(deep)).to.match(
      new RegExp(
        `^cannot read the pod: spec\\.containers\\[0\\]\\.extra(\\.x)+: nested deeper than ${MAX_OBJECT_DEPTH} levels$`,
      ),
    );
    const veryDeep = pod({ extra: nest(200_000) });
    const started = Date.now();
    expect(refusal(veryDeep)).to.contain('nested deeper than');
    expect(Date.now() - started, 'bounded time').to.be.below(2000);
    // Just under the limit is a pod like any other (the unknown field passes through).
    const a = admit(podCreateRequest(pod({ extra: nest(MAX_OBJECT_DEPTH - 5) })), config);
    expect(a.result).to.equal('injected');
  });

  it('reads null lists and maps as absent, as the API server decodes them, and keeps untouched nulls', () => {
    const raw = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'web', labels: null, annotations: null },
      spec: {
        containers: [{ name: 'web', image: 'nginx', env: null, ports: null }],
        initContainers: null,
        volumes: null,
        securityContext: null,
      },
    };
    const a = admit(podCreateRequest(raw), config);
    expect(a.result, a.reason).to.equal('injected');
    const out = applyPatch(raw, decodePatch(a.response.patch)) as unknown as {
      metadata: { annotations: Record<string, string> };
      spec: {
        containers: Record<string, unknown>[];
        initContainers: { name: string }[];
        securityContext: unknown;
      };
    };
    expect(out.spec.initContainers.map((c) => c.name)).to.deep.equal([
      'detour-init',
      'detour-proxy',
    ]);
    expect(out.metadata.annotations['detour.dev/status']).to.be.a('string');
    expect(out.spec.containers[0]).to.deep.equal({
      name: 'web',
      image: 'nginx',
      env: null,
      ports: null,
    });
    expect(out.spec.securityContext, 'an untouched null stays as sent').to.equal(null);
  });

  it('keeps a "__proto__" member an ordinary member while dropping nulls around it', () => {
    const raw = JSON.parse(
      '{"metadata":{"name":"p","annotations":null},"spec":{"containers":[{"name":"a"}],"x":{"__proto__":{"polluted":1},"y":null}}}',
    ) as Record<string, unknown>;
    const shape = readPodShape(raw);
    expect(shape).to.have.property('pod');
    const pod = (shape as unknown as { pod: { spec: { x: object } } }).pod;
    expect(Object.getOwnPropertyNames(pod.spec.x)).to.deep.equal(['__proto__']);
    expect(Object.getPrototypeOf(pod.spec.x)).to.equal(Object.prototype);
    expect((pod.spec.x as { polluted?: unknown }).polluted).to.equal(undefined);
    const a = admit(podCreateRequest(raw), config);
    expect(a.result, a.reason).to.equal('injected');
  });

  it('returns the pod itself when it holds no null (no copy for what the API server sends)', () => {
    const clean = pod({ env: [{ name: 'A', value: '1' }] });
    expect((readPodShape(clean) as { pod: unknown }).pod).to.equal(clean);
  });

  it('passes unknown fields through unchanged', () => {
    const withExtras = pod({ futureField: { a: [1, null, 'x'] } }, { futureSpec: 'kept' });
    const a = admit(podCreateRequest(withExtras), config);
    const out = applyPatch(withExtras, decodePatch(a.response.patch)) as {
      spec: { futureSpec: string; containers: { futureField?: unknown }[] };
    };
    expect(out.spec.futureSpec).to.equal('kept');
    expect(out.spec.containers[0]!.futureField).to.deep.equal({ a: [1, null, 'x'] });
  });

  it('accepts quantities given as numbers and ports given by name', () => {
    const a = admit(
      podCreateRequest(
        pod({
          resources: { requests: { cpu: 1, memory: '64Mi' } },
          ports: [{ name: 'http', containerPort: 8080 }],
          readinessProbe: { httpGet: { port: 'http', path: '/' } },
        }),
      ),
      config,
    );
    expect(a.result, a.reason).to.equal('injected');
  });

  it('formats paths as kubectl explains them, quoting keys that are not identifiers', () => {
    expect(formatPath(['spec', 'containers', 0, 'env', 2, 'name'])).to.equal(
      'spec.containers[0].env[2].name',
    );
    expect(formatPath(['metadata', 'annotations', 'detour.dev/capture'])).to.equal(
      'metadata.annotations["detour.dev/capture"]',
    );
    expect(formatPath([])).to.equal('');
    expect(formatPath(['metadata', 'labels', 'x'.repeat(1000)])).to.equal(
      `metadata.labels["${'x'.repeat(80)}…"]`,
    );
  });

  it('gives the path from the object the user wrote (a template inside a Deployment)', () => {
    const shape = readPodShape({ spec: { containers: 'oops' } }, ['spec', 'template']);
    expect(shape).to.deep.equal({
      problems: ['spec.template.spec.containers: expected a list, got "oops"'],
    });
  });
});

describe('annotations and detour.dev/ keys', () => {
  it('names every bad annotation at once', () => {
    const message = refusal({
      ...pod(),
      metadata: {
        annotations: {
          'detour.dev/capture': 'ebpf',
          'detour.dev/dns-capture': 'maybe',
          'detour.dev/log-level': 'loud',
        },
      },
    });
    expect(message)
      .to.contain('annotation detour.dev/capture: invalid value "ebpf"')
      .and.contain('annotation detour.dev/dns-capture: invalid value "maybe"')
      .and.contain('annotation detour.dev/log-level: invalid value "loud"');
  });

  it('names a bad inject value together with the other bad annotations', () => {
    const message = refusal({
      ...pod(),
      metadata: { annotations: { 'detour.dev/inject': 'yes', 'detour.dev/capture': 'ebpf' } },
    });
    expect(message).to.contain('detour.dev/inject').and.contain('detour.dev/capture');
  });

  it('warns about unknown detour.dev/ keys with the nearest known one, also when skipped', () => {
    const typo = {
      ...pod(),
      metadata: {
        labels: { 'detour.dev/injection': 'enabled' },
        annotations: { 'detour.dev/captur': 'none', 'other.io/x': 'y' },
      },
    };
    const a = admit(podCreateRequest(typo), config);
    expect(a.result).to.equal('injected');
    expect(a.response.warnings).to.include(
      'detour: unknown annotation detour.dev/captur is ignored; did you mean detour.dev/capture?',
    );
    expect(a.response.warnings).to.include(
      'detour: unknown label detour.dev/injection is ignored; did you mean detour.dev/inject?',
    );
    expect(a.response.warnings!.join('\n')).to.not.contain('other.io');

    const optedOut = {
      ...pod(),
      metadata: { annotations: { 'detour.dev/inject': 'false', 'detour.dev/zzzzzzzzzzzz': 'x' } },
    };
    const skipped = admit(podCreateRequest(optedOut), config);
    expect(skipped.result).to.equal('skipped');
    expect(skipped.response.warnings).to.deep.equal([
      'detour: unknown annotation detour.dev/zzzzzzzzzzzz is ignored; no such detour setting',
    ]);
  });

  it('keeps warnings short and few, whatever the pod holds', () => {
    const annotations = Object.fromEntries(
      Array.from({ length: 50 }, (_, i) => [`detour.dev/${'k'.repeat(200)}${i}`, 'x']),
    );
    const a = admit(podCreateRequest({ ...pod(), metadata: { annotations } }), config);
    expect(a.response.warnings).to.have.length(10);
    for (const w of a.response.warnings ?? []) expect(w.length).to.be.below(160);
  });
});

describe('JSON request bodies (webhook/json-body.ts)', () => {
  it('refuses nesting over the limit before parsing, counting only brackets outside strings', () => {
    expect(() => parseJsonBody(Buffer.from('['.repeat(5) + ']'.repeat(5)), 4)).to.throw(
      /nests deeper than 4 levels \(at byte 4\)/,
    );
    const inStrings = JSON.stringify({ a: '[[[[[[[[', b: '\\"[[[[[[[[', c: [[1]] });
    expect(parseJsonBody(Buffer.from(inStrings), 3)).to.deep.equal(JSON.parse(inStrings));
  });

  it('refuses 3 MB of brackets quickly', () => {
    const started = Date.now();
    expect(() => parseJsonBody(Buffer.from('['.repeat(3_000_000)))).to.throw(/nests deeper/);
    expect(Date.now() - started).to.be.below(1000);
  });

  it('says what is wrong with an empty or unparsable body', () => {
    expect(() => parseJsonBody(Buffer.alloc(0))).to.throw(/empty request body/);
    expect(() => parseJsonBody(Buffer.from('{"a":'))).to.throw(/not valid JSON/);
  });
});
