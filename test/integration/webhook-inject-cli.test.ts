import { expect } from 'chai';
import YAML from 'yaml';
import { Pod, ReplicationController } from 'kubernetes-models/v1';
import { DaemonSet, Deployment, ReplicaSet, StatefulSet } from 'kubernetes-models/apps/v1';
import { CronJob, Job } from 'kubernetes-models/batch/v1';
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
});
