import { expect } from 'chai';
import YAML from 'yaml';
import { DetourError } from '../../shared/errors.js';
import { admit } from '../../webhook/admit.js';
import { injectManifests, type ManifestReport } from '../../webhook/inject-manifests.js';
import { defaultInjectorConfig } from '../../webhook/injector-config.js';
import { podCreateRequest } from '../support/admission.js';

const config = defaultInjectorConfig();

function inject(text: string): { output: string; report: ManifestReport } {
  return injectManifests(text, config, { defaultNamespace: 'default', file: 'app.yaml' });
}

/** The error `detour inject` throws for `text`, asserting it is one of ours. */
function failure(text: string): DetourError {
  try {
    inject(text);
  } catch (err) {
    if (err instanceof DetourError) return err;
    throw err;
  }
  throw new Error('expected injectManifests to throw');
}

// kubectl-style YAML: sequences not indented under their key, YAML 1.1 scalars.
const POD = `# the app, as its owners wrote it
apiVersion: v1
kind: Pod
metadata:
  name: web # keep me
  labels: {app: web}
spec:
  # the app container
  containers:
  - name: web
    image: nginx:1.27
    tty: yes
    stdin: on
    env:
    - name: FEATURE
      value: "yes"
    - name: MODE
      value: '0400'
    volumeMounts:
    - {name: creds, mountPath: /creds}
  volumes:
  - name: creds
    secret:
      secretName: creds
      defaultMode: 0400   # octal: r-- for the owner
`;

describe('detour inject reads and writes YAML as kubectl does', () => {
  const { output, report } = inject(POD);
  // Read back as kubectl would, with YAML 1.1 scalars.
  const out = YAML.parse(output, { version: '1.1' }) as {
    metadata: { labels: Record<string, string>; annotations: Record<string, string> };
    spec: {
      initContainers: { name: string }[];
      containers: { tty: unknown; stdin: unknown; env: { value: unknown }[] }[];
      volumes: { secret: { defaultMode: unknown } }[];
    };
  };

  it('injects the pod', () => {
    expect(report.objects).to.deep.equal([{ ref: 'Pod/web', result: 'injected', warnings: [] }]);
    expect(out.spec.initContainers.map((c) => c.name)).to.deep.equal([
      'detour-init',
      'detour-proxy',
    ]);
  });

  it('keeps an octal mode octal: 0400 is 256 in YAML 1.1 and is printed as 0400', () => {
    expect(output).to.contain('defaultMode: 0400 # octal: r-- for the owner');
    expect(out.spec.volumes[0]!.secret.defaultMode).to.equal(0o400);
  });

  it('keeps YAML 1.1 booleans as written and quoted strings as strings', () => {
    expect(output).to.contain('tty: yes').and.contain('stdin: on');
    expect(out.spec.containers[0]!.tty).to.equal(true);
    expect(out.spec.containers[0]!.stdin).to.equal(true);
    expect(output).to.contain('value: "yes"').and.contain("value: '0400'");
    expect(out.spec.containers[0]!.env.map((e) => e.value)).to.deep.equal(['yes', '0400']);
  });

  it('keeps comments, flow style and the sequence indentation of the source', () => {
    expect(output).to.match(/^# the app, as its owners wrote it\n/);
    expect(output).to.contain('name: web # keep me');
    expect(output).to.contain('  # the app container\n  containers:\n  - name: web\n');
    expect(output).to.contain('labels: {app: web}');
    expect(output).to.contain('- {name: creds, mountPath: /creds}');
  });

  it('quotes what it adds so that YAML 1.1 reads it back as strings', () => {
    // The init container's flags include "true" and port numbers; unquoted, a YAML 1.1
    // reader would take them for a boolean and numbers.
    expect(output).to.contain('- "true"').and.contain('- "15001"');
  });

  it('is idempotent on its own output, byte for byte', () => {
    const again = inject(output);
    expect(again.output).to.equal(output);
    expect(again.report.objects[0]!.result).to.equal('unchanged');
  });
});

describe('detour inject streams', () => {
  it('leaves documents it does not inject byte for byte', () => {
    const service =
      '# svc\napiVersion: v1\nkind: Service\nmetadata: {name: web}   # flow\nspec:\n    ports: [ {port: 80} ]\n';
    const optedOut =
      'apiVersion: v1\nkind: Pod\nmetadata:\n  name: out\n  annotations: {detour.dev/inject: "false"}\nspec:\n  containers: [{name: a, image: x, tty: yes}]\n';
    const text = `${service}---\n${POD}---\n${optedOut}...\n# trailing comment\n`;
    const { output, report } = inject(text);
    expect(output.startsWith(`${service}---\n`)).to.equal(true);
    expect(output.endsWith(`---\n${optedOut}...\n# trailing comment\n`)).to.equal(true);
    expect(report.objects.map((o) => o.result)).to.deep.equal([
      'passed-through',
      'injected',
      'skipped',
    ]);
  });

  it('does not inject an opted-out pod through an anchor it shares with an injected one', () => {
    const text = `apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Pod
  metadata: {name: in}
  spec: &spec
    containers: [{name: app, image: x}]
- apiVersion: v1
  kind: Pod
  metadata: {name: out, annotations: {detour.dev/inject: "false"}}
  spec: *spec
`;
    const out = YAML.parse(inject(text).output, { version: '1.1' }) as {
      items: { spec: { initContainers?: unknown[] } }[];
    };
    expect(out.items[0]!.spec.initContainers).to.have.length(2);
    expect(out.items[1]!.spec.initContainers).to.equal(undefined);
  });

  it('reads empty values (null) as absent, as the API server does, and keeps them elsewhere', () => {
    const text =
      'apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  annotations:\nspec:\n  initContainers:\n  containers:\n  - name: a\n    image: x\n    env:\n';
    const { output, report } = inject(text);
    expect(report.objects[0]!.result).to.equal('injected');
    expect(output).to.contain('    env:\n');
    const out = YAML.parse(output, { version: '1.1' }) as {
      spec: { initContainers: { name: string }[] };
    };
    expect(out.spec.initContainers.map((c) => c.name)).to.deep.equal([
      'detour-init',
      'detour-proxy',
    ]);
  });

  it('says where YAML is invalid: FILE:LINE:COLUMN', () => {
    const err = failure('apiVersion: v1\nkind: Pod\nmetadata:\n  name: a: b\n');
    expect(err.code).to.equal('DETOUR_E_BAD_INPUT');
    expect(err.message).to.match(/^app\.yaml:4:\d+: /);
    // Lines count from the top of the file, not of the document.
    const second = failure('kind: Service\n---\nkind: Pod\nmetadata:\n  name: a: b\n');
    expect(second.message).to.match(/^app\.yaml:5:\d+: /);
  });

  it('refuses YAML nested too deep, saying where, without exhausting the stack', () => {
    const err = failure(`kind: Pod\nspec: ${'['.repeat(100_000)}${']'.repeat(100_000)}\n`);
    expect(err.message).to.match(/^app\.yaml:2:\d+: nested deeper than 64 levels$/);
  });

  it('refuses an alias bomb', () => {
    const lines = ['a: &a [x, x, x, x, x, x, x, x, x, x]'];
    for (let i = 0; i < 9; i += 1) {
      lines.push(
        `${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [${Array(10)
          .fill(`*${String.fromCharCode(97 + i)}`)
          .join(', ')}]`,
      );
    }
    expect(failure(lines.join('\n')).code).to.equal('DETOUR_E_BAD_INPUT');
  });
});

describe('detour inject agrees with the webhook', () => {
  for (const [what, pod] of [
    ['containers not a list', { spec: { containers: 'oops' } }],
    ['env with a null name', { spec: { containers: [{ name: 'a', env: [{ name: null }] }] } }],
    [
      'a probe port of the wrong type',
      { spec: { containers: [{ name: 'a', livenessProbe: { tcpSocket: { port: [] } } }] } },
    ],
    [
      'two bad annotations',
      {
        metadata: {
          name: 'p',
          annotations: { 'detour.dev/capture': 'ebpf', 'detour.dev/proxy-cpu': 'lots' },
        },
        spec: { containers: [{ name: 'a' }] },
      },
    ],
  ] as const) {
    it(`refuses a pod with ${what} with the webhook's message`, () => {
      const object = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, ...pod };
      const webhook = admit(podCreateRequest(object), config).response.status?.message;
      expect(webhook).to.be.a('string');
      const { report } = inject(YAML.stringify(object));
      expect(report.refusals.map((e) => e.message)).to.deep.equal([`${webhook!} (in Pod/p)`]);
    });
  }

  it('names the template path inside a workload, and every refusal of the stream', () => {
    const deployment = YAML.stringify({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'd' },
      spec: {
        template: { spec: { containers: [{ name: 'a', ports: [{ containerPort: '80' }] }] } },
      },
    });
    const cronJob = YAML.stringify({
      apiVersion: 'batch/v1',
      kind: 'CronJob',
      metadata: { name: 'c' },
      spec: { jobTemplate: { spec: 'oops' } },
    });
    const { report } = inject(`${deployment}---\n${cronJob}`);
    expect(report.refusals.map((e) => e.message)).to.deep.equal([
      'cannot read the pod template: spec.template.spec.containers[0].ports[0].containerPort: expected a number, got "80" (in Deployment/d)',
      'cannot read the pod template: spec.jobTemplate.spec: expected an object, got "oops" (in CronJob/c)',
    ]);
    expect(report.refusals.map((e) => e.code)).to.deep.equal([
      'DETOUR_E_BAD_INPUT',
      'DETOUR_E_BAD_INPUT',
    ]);
  });

  it('passes a workload without a pod template through', () => {
    const { output, report } = inject(
      'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\n',
    );
    expect(output).to.equal('apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\n');
    expect(report.objects[0]).to.include({ result: 'passed-through', reason: 'no pod template' });
  });

  it("warns about detour.dev/ keys on a workload's own metadata, which pods do not inherit", () => {
    const { report } = inject(
      'apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d\n  annotations: {detour.dev/capture: none}\nspec:\n  template:\n    spec:\n      containers: [{name: a}]\n',
    );
    expect(report.objects[0]).to.deep.include({ result: 'injected' });
    expect(report.objects[0]!.warnings).to.deep.equal([
      "detour: detour.dev/capture in metadata.annotations of the Deployment is ignored; detour reads the pod template's (spec.template.metadata.annotations)",
    ]);
  });

  it('warns about unknown detour.dev/ keys, as the webhook does', () => {
    const { report } = inject(
      'apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  annotations: {detour.dev/dns-captur: "false"}\nspec:\n  containers: [{name: a}]\n',
    );
    expect(report.objects[0]!.warnings).to.deep.equal([
      'detour: unknown annotation detour.dev/dns-captur is ignored; did you mean detour.dev/dns-capture?',
    ]);
  });
});
