import { expect } from 'chai';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import YAML from 'yaml';
import { Pod, ReplicationController } from 'kubernetes-models/v1';
import { DaemonSet, Deployment, ReplicaSet, StatefulSet } from 'kubernetes-models/apps/v1';
import { CronJob, Job } from 'kubernetes-models/batch/v1';
import { admit } from '../../webhook/admit.js';
import { defaultInjectorConfig } from '../../webhook/injector-config.js';
import { podCreateRequest } from '../support/admission.js';
import { mutatedPod, yamlText } from '../support/arbitraries.js';
import { runDetour } from '../support/cli.js';

const podSpec = { containers: [{ name: 'app', image: 'busybox:1.36' }] };
const template = { metadata: { labels: { app: 'x' } }, spec: podSpec };
const selector = { matchLabels: { app: 'x' } };

const MANIFESTS = [
  '# the whole shop\n' +
    YAML.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec: podSpec }),
  YAML.stringify({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'd' },
    spec: { selector, template },
  }),
  YAML.stringify({
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: { name: 's' },
    spec: { selector, serviceName: 's', template },
  }),
  YAML.stringify({
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    metadata: { name: 'ds' },
    spec: { selector, template },
  }),
  YAML.stringify({
    apiVersion: 'apps/v1',
    kind: 'ReplicaSet',
    metadata: { name: 'rs' },
    spec: { selector, template },
  }),
  YAML.stringify({
    apiVersion: 'v1',
    kind: 'ReplicationController',
    metadata: { name: 'rc' },
    spec: { selector: { app: 'x' }, template },
  }),
  YAML.stringify({
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name: 'j' },
    spec: { template: { spec: { ...podSpec, restartPolicy: 'Never' } } },
  }),
  YAML.stringify({
    apiVersion: 'batch/v1',
    kind: 'CronJob',
    metadata: { name: 'cj' },
    spec: {
      schedule: '0 0 * * *',
      jobTemplate: { spec: { template: { spec: { ...podSpec, restartPolicy: 'Never' } } } },
    },
  }),
  '# a Service stays exactly as written\napiVersion: v1\nkind: Service\nmetadata: {name: web}   # flow style kept\nspec: {ports: [{port: 80}]}\n',
].join('---\n');

const MODELS: Record<string, new (o: never) => { validate(): void }> = {
  Pod,
  Deployment,
  StatefulSet,
  DaemonSet,
  ReplicaSet,
  ReplicationController,
  Job,
  CronJob,
};

type Spec = { initContainers?: { name: string }[] };
type Walkable = { spec: Spec & { template: Walkable; jobTemplate: Walkable } };

function templateSpec(o: Record<string, unknown>): Spec {
  const x = o as unknown as Walkable;
  if (o.kind === 'Pod') return x.spec;
  if (o.kind === 'CronJob') return x.spec.jobTemplate.spec.template.spec;
  return x.spec.template.spec;
}

describe('detour inject', function () {
  this.timeout(60_000);

  it('injects every workload kind of a multi-document YAML from stdin; others pass through', async () => {
    const r = await runDetour(['inject', '-f', '-'], { input: MANIFESTS });
    expect(r.code, r.stderr).to.equal(0);
    const docs = YAML.parseAllDocuments(r.stdout).map((d) => d.toJS() as Record<string, unknown>);
    expect(docs.map((d) => d.kind)).to.deep.equal([...Object.keys(MODELS), 'Service']);
    for (const doc of docs.slice(0, -1)) {
      const spec = templateSpec(doc);
      expect(
        spec.initContainers?.map((c) => c.name),
        String(doc.kind),
      ).to.deep.equal(['detour-init', 'detour-proxy']);
      const Model = MODELS[String(doc.kind)]!;
      new Model(doc as never).validate();
    }
    expect(r.stdout).to.match(/^# the whole shop/);
    expect(r.stdout).to.contain('metadata: {name: web}   # flow style kept\n');
    expect(r.stderr)
      .to.contain('Deployment/d: injected')
      .and.contain('Service/web: passed-through');
  });

  it('is idempotent: injecting its own output changes nothing', async () => {
    const once = await runDetour(['inject', '-f', '-', '--quiet'], { input: MANIFESTS });
    const twice = await runDetour(['inject', '-f', '-'], { input: once.stdout });
    expect(twice.code).to.equal(0);
    expect(twice.stdout).to.equal(once.stdout);
    expect(twice.stderr).to.contain('Pod/p: unchanged (already injected)');
    expect(once.stderr).to.equal('');
  });

  it('handles the items of a List (kubectl get -o yaml) and honours opt-outs', async () => {
    const list = YAML.stringify({
      apiVersion: 'v1',
      kind: 'List',
      items: [
        { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'in' }, spec: podSpec },
        {
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: { name: 'out', annotations: { 'detour.dev/inject': 'false' } },
          spec: podSpec,
        },
      ],
    });
    const r = await runDetour(['inject', '-f', '-', '--image', 'registry.test/detour:dev'], {
      input: list,
    });
    expect(r.code, r.stderr).to.equal(0);
    const out = YAML.parse(r.stdout) as {
      items: { spec: { initContainers?: { image: string }[] } }[];
    };
    expect(out.items[0]!.spec.initContainers![1]!.image).to.equal('registry.test/detour:dev');
    expect(out.items[1]!.spec.initContainers).to.equal(undefined);
  });

  it('fails with the annotation, the value and the object named', async () => {
    const bad = YAML.stringify({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'd' },
      spec: {
        selector,
        template: { metadata: { annotations: { 'detour.dev/capture': 'ebpf' } }, spec: podSpec },
      },
    });
    const r = await runDetour(['inject', '-f', '-'], { input: bad });
    expect(r.code).to.equal(1);
    expect(r.stdout).to.equal('');
    expect(r.stderr)
      .to.contain('DETOUR_E_BAD_ANNOTATION')
      .and.contain('detour.dev/capture')
      .and.contain('"ebpf"');
    expect(r.stderr).to.contain('Deployment/d');
  });

  it('reports unreadable files and YAML errors', async () => {
    const missing = await runDetour(['inject', '-f', '/nonexistent/detour.yaml']);
    expect(missing.code).to.equal(1);
    expect(missing.stderr).to.contain('DETOUR_E_BAD_FLAG');
    const broken = await runDetour(['inject', '-f', '-'], { input: 'kind: Pod\n  bad: [\n' });
    expect(broken.code).to.equal(1);
    expect(broken.stderr).to.contain('DETOUR_E_BAD_INPUT');
  });

  it("refuses a malformed pod with the webhook's own message, and no stack trace", async () => {
    const pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'p' },
      spec: { containers: 'oops' },
    };
    const webhook = admit(podCreateRequest(pod), defaultInjectorConfig()).response.status?.message;
    expect(webhook).to.equal('cannot read the pod: spec.containers: expected a list, got "oops"');
    const r = await runDetour(['inject', '-f', '-'], { input: YAML.stringify(pod) });
    expect(r.code).to.equal(1);
    expect(r.stdout).to.equal('');
    expect(r.stderr).to.equal(`detour: DETOUR_E_BAD_INPUT: ${webhook!} (in Pod/p)\n`);
  });

  it('reports every bad annotation of every object at once', async () => {
    const pod = (name: string, annotations: Record<string, string>): string =>
      YAML.stringify({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name, annotations },
        spec: podSpec,
      });
    const input = [
      pod('a', { 'detour.dev/capture': 'ebpf', 'detour.dev/log-level': 'loud' }),
      pod('b', { 'detour.dev/capture-ports': 'http' }),
    ].join('---\n');
    const r = await runDetour(['inject', '-f', '-'], { input });
    expect(r.code).to.equal(1);
    const lines = r.stderr.trim().split('\n');
    expect(lines).to.have.length(2);
    expect(lines[0]).to.match(
      /^detour: DETOUR_E_BAD_ANNOTATION: annotation detour\.dev\/capture: .*; annotation detour\.dev\/log-level: .* \(in Pod\/a\)$/,
    );
    expect(lines[1]).to.match(
      /^detour: DETOUR_E_BAD_ANNOTATION: annotation detour\.dev\/capture-ports: .* \(in Pod\/b\)$/,
    );
  });

  it('warns on stderr about an unknown detour.dev/ key, and still injects', async () => {
    const input = YAML.stringify({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'p', annotations: { 'detour.dev/captur': 'none' } },
      spec: podSpec,
    });
    const r = await runDetour(['inject', '-f', '-', '--quiet'], { input });
    expect(r.code).to.equal(0);
    expect(r.stderr).to.equal(
      'detour inject: Pod/p: warning: detour: unknown annotation detour.dev/captur is ignored; did you mean detour.dev/capture?\n',
    );
    expect(r.stdout).to.contain('detour-proxy');
  });

  it('reads a file as kubectl does: YAML 1.1 octal and booleans kept, comments kept; bad YAML named FILE:LINE', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'detour-inject-'));
    try {
      const file = path.join(dir, 'pod.yaml');
      fs.writeFileSync(
        file,
        '# mine\napiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - name: a\n    image: x\n    tty: yes\n  volumes:\n  - name: s\n    secret: {secretName: s, defaultMode: 0400}\n',
      );
      const r = await runDetour(['inject', '-f', file, '--quiet']);
      expect(r.code, r.stderr).to.equal(0);
      expect(r.stdout).to.match(/^# mine\n/);
      expect(r.stdout)
        .to.contain('secret: {secretName: s, defaultMode: 0400}')
        .and.contain('tty: yes');
      const out = YAML.parse(r.stdout, { version: '1.1' }) as {
        spec: { volumes: { secret: { defaultMode: number } }[] };
      };
      expect(out.spec.volumes[0]!.secret.defaultMode).to.equal(256);

      fs.writeFileSync(file, 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: a: b\n');
      const bad = await runDetour(['inject', '-f', file]);
      expect(bad.code).to.equal(1);
      expect(bad.stderr).to.match(
        new RegExp(`^detour: DETOUR_E_BAD_INPUT: ${file.replace(/[.]/g, '\\.')}:4:\\d+: `),
      );
      expect(bad.stderr).to.not.match(/\n\s+at /);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('any YAML: exit 0 with output, or exit 1 with one-line errors and no stack trace (property)', async () => {
    const input = fc.oneof(
      yamlText,
      mutatedPod.map((m) => YAML.stringify(m.pod)),
    );
    await fc.assert(
      fc.asyncProperty(input, async (text) => {
        const r = await runDetour(['inject', '-f', '-', '--quiet'], { input: text });
        expect([0, 1], r.stderr).to.include(r.code);
        if (r.code === 1) {
          expect(r.stdout).to.equal('');
          expect(r.stderr).to.match(/^detour: DETOUR_E_[A-Z_]+: /);
          expect(r.stderr).to.not.match(/\n\s+at /);
        }
      }),
      { numRuns: 8 },
    );
  });
});
