import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parse, parseAllDocuments, stringify } from 'yaml';
import { DEFAULT_PROXY_IMAGE } from '../../webhook/injector-config.js';
import { REPO_ROOT } from '../support/cli.js';
import { hostClaimPolicy } from '../../shared/compile/host-claims.js';
import { loadPlaneConfig } from '../../shared/plane-config.js';
import { parseClusterYaml } from '../../sidecar/sources/cluster-yaml.js';
import {
  CONTROL_PLANE_KUSTOMIZATIONS,
  KUSTOMIZATIONS,
  find,
  hasKubectl,
  ofKind,
  render,
  validateObject,
  type K8sObject,
} from '../support/manifests.js';

const exec = promisify(execFile);

interface Container {
  name: string;
  image?: string;
  args?: string[];
  command?: string[];
  env?: { name: string; value?: string }[];
  ports?: { name?: string; containerPort: number }[];
}

function podSpec(workload: K8sObject): { containers: Container[] } {
  return (workload.spec as { template: { spec: { containers: Container[] } } }).template.spec;
}

describe('manifests: every kustomization renders offline and validates', function () {
  this.timeout(120_000);
  before(function () {
    if (!hasKubectl()) {
      console.log('    (skipped: kubectl, which ships kustomize, is not on PATH)');
      this.skip();
    }
  });

  for (const kustomization of KUSTOMIZATIONS) {
    it(`${kustomization}: every object validates against its kind's OpenAPI schema`, async () => {
      const objects = await render(kustomization);
      expect(objects.length).to.be.greaterThan(2);
      for (const o of objects) validateObject(o);
    });
  }

  it('`kubectl apply -k manifests/` installs exactly manifests/base', async () => {
    expect(await render('manifests')).to.deep.equal(await render('manifests/base'));
  });

  it('has no two objects with the same kind, namespace and name', async () => {
    for (const kustomization of KUSTOMIZATIONS) {
      const keys = (await render(kustomization)).map(
        (o) => `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`,
      );
      expect(new Set(keys).size, kustomization).to.equal(keys.length);
    }
  });

  it('the webhook injects the very image the control plane runs', async () => {
    for (const kustomization of CONTROL_PLANE_KUSTOMIZATIONS) {
      const objects = await render(kustomization);
      const webhook = podSpec(find(objects, 'Deployment', 'detour')).containers.find(
        (c) => c.name === 'webhook',
      )!;
      const injected = webhook.env?.find((e) => e.name === 'DETOUR_PROXY_IMAGE')?.value;
      expect(injected, kustomization).to.equal(webhook.image);
      // Every detour container in every workload runs that same image.
      for (const workload of [...ofKind(objects, 'Deployment'), ...ofKind(objects, 'DaemonSet')]) {
        for (const c of podSpec(workload).containers) {
          expect(c.image, `${workload.metadata.name}/${c.name}`).to.equal(webhook.image);
        }
      }
    }
  });

  it('deploys the image `detour inject` injects by default', async () => {
    const objects = await render('manifests/base');
    const images = podSpec(find(objects, 'Deployment', 'detour')).containers.map((c) => c.image);
    expect(images).to.deep.equal([DEFAULT_PROXY_IMAGE, DEFAULT_PROXY_IMAGE]);
  });

  it('`kustomize edit set image` on the base changes the injected image too', async () => {
    const copy = await mkdtemp(join(tmpdir(), 'detour-kustomize-'));
    try {
      await cp(join(REPO_ROOT, 'manifests/base'), copy, { recursive: true });
      const file = join(copy, 'kustomization.yaml');
      const k = parse(await readFile(file, 'utf8')) as { images: Record<string, string>[] };
      k.images = [
        { name: 'ghcr.io/detour-dev/detour', newName: 'registry.test/detour', newTag: 'dev' },
      ];
      await writeFile(file, stringify(k));
      const { stdout } = await exec('kubectl', ['kustomize', copy], { timeout: 60_000 });
      const deployment = parseAllDocuments(stdout)
        .map((d) => d.toJS() as K8sObject)
        .find((o) => o.kind === 'Deployment')!;
      const images = podSpec(deployment).containers.map((c) => c.image);
      expect(images).to.deep.equal(['registry.test/detour:dev', 'registry.test/detour:dev']);
      const webhook = podSpec(deployment).containers.find((c) => c.name === 'webhook')!;
      expect(webhook.env?.find((e) => e.name === 'DETOUR_PROXY_IMAGE')?.value).to.equal(
        'registry.test/detour:dev',
      );
    } finally {
      await rm(copy, { recursive: true, force: true });
    }
  });
});

describe('manifests: the seed example', function () {
  this.timeout(120_000);
  let objects: K8sObject[] = [];
  before(async function () {
    if (!hasKubectl()) {
      console.log('    (skipped: kubectl, which ships kustomize, is not on PATH)');
      this.skip();
    }
    objects = await render('manifests/examples/seed');
  });

  it('labels only the caller namespace for injection', () => {
    expect(find(objects, 'Namespace', 'my-other-namespace').metadata.labels).to.deep.include({
      'detour.dev/injection': 'enabled',
    });
    expect(find(objects, 'Namespace', 'my-namespace').metadata.labels?.['detour.dev/injection']).to
      .be.undefined;
  });

  it("announces my-application's routes the seed's way, on a declared containerPort", () => {
    const app = find(objects, 'Deployment', 'my-application');
    expect(app.metadata.namespace).to.equal('my-namespace');
    const spec = app.spec as {
      replicas: number;
      template: {
        metadata: { labels: Record<string, string>; annotations: Record<string, string> };
      };
    };
    expect(spec.replicas).to.equal(2);
    expect(spec.template.metadata.labels).to.deep.include({ routable: 'true' });
    const annotations = spec.template.metadata.annotations;
    expect(annotations).to.deep.include({
      privateHosts: 'my-application.my-namespace',
      privatePaths: '3000:/nodejs',
    });
    expect(annotations.publicHosts).to.be.a('string').and.not.equal('');
    expect(annotations.publicPaths).to.equal('3000:/nodejs');
    const ports = podSpec(app).containers.flatMap((c) => c.ports ?? []);
    expect(ports.map((p) => p.containerPort)).to.include(3000);
  });

  it('calls my-application by plain hostname, with no proxy Service and no Service at all', () => {
    const caller = find(objects, 'Deployment', 'my-other-application');
    expect(caller.metadata.namespace).to.equal('my-other-namespace');
    const command = podSpec(caller)
      .containers.flatMap((c) => c.command ?? [])
      .join('\n');
    expect(command).to.contain("'http://my-application.my-namespace/nodejs");
    expect(ofKind(objects, 'Service')).to.deep.equal([]);
    // Nothing in the caller knows about detour or a proxy.
    expect(JSON.stringify(caller)).to.not.match(/proxy|detour/i);
  });

  it('ships the HostGrants its hosts need under scoped host claims, as cluster.yaml does', () => {
    const app = find(objects, 'Deployment', 'my-application');
    const annotations = (
      app.spec as { template: { metadata: { annotations: Record<string, string> } } }
    ).template.metadata.annotations;
    const grants = ofKind(objects, 'HostGrant');
    const twin = parseClusterYaml(
      readFileSync(join(REPO_ROOT, 'manifests/examples/seed/cluster.yaml'), 'utf8'),
      'cluster.yaml',
    );
    expect(twin.hostGrants).to.deep.equal(grants);
    for (const plane of ['private', 'public'] as const) {
      const config = loadPlaneConfig(plane, {});
      const policy = hostClaimPolicy({ hostGrants: grants, namespaces: [] }, config);
      for (const host of (annotations[config.hostsAnnotation] ?? '').split(/\s+/)) {
        expect(policy.refusal('my-namespace', host), `${plane}: ${host}`).to.equal(undefined);
      }
    }
  });

  it('leaves cluster.yaml (the file-source twin of the example) out of the kustomization', () => {
    const k = parse(
      readFileSync(join(REPO_ROOT, 'manifests/examples/seed/kustomization.yaml'), 'utf8'),
    ) as { resources: string[] };
    expect(k.resources).to.not.include('cluster.yaml');
    expect(objects.every((o) => o.status === undefined)).to.equal(true);
  });
});
