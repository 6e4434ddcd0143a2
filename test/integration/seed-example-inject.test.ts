import { expect } from 'chai';
import { parseAllDocuments } from 'yaml';
import { runDetour } from '../support/cli.js';
import { find, hasKubectl, render, validateObject, type K8sObject } from '../support/manifests.js';

interface PodSpec {
  initContainers?: { name: string; image: string; restartPolicy?: string }[];
  containers: { name: string }[];
}
const podSpec = (o: K8sObject): PodSpec =>
  (o.spec as { template: { spec: PodSpec } }).template.spec;

/**
 * What `kubectl apply -k manifests/examples/seed` leads to, without a cluster: the
 * example's Deployments through `detour inject` (the webhook's own function) with the
 * image the control plane deploys, still valid Kubernetes objects, sidecar in place.
 */
describe('seed example through `detour inject`', function () {
  this.timeout(120_000);
  let injected: K8sObject[] = [];
  let image = '';

  before(async function () {
    if (!hasKubectl()) {
      console.log('    (skipped: kubectl, which ships kustomize, is not on PATH)');
      this.skip();
    }
    const example = await render('manifests/examples/seed');
    const base = await render('manifests/base');
    const webhook = (
      find(base, 'Deployment', 'detour').spec as {
        template: { spec: { containers: { name: string; image: string }[] } };
      }
    ).template.spec.containers.find((c) => c.name === 'webhook')!;
    image = webhook.image;
    const input = example.map((o) => JSON.stringify(o)).join('\n---\n');
    const r = await runDetour(['inject', '-f', '-', '--image', image], {
      input,
      timeoutMs: 60_000,
    });
    expect(r.code, r.stderr).to.equal(0);
    injected = parseAllDocuments(r.stdout)
      .map((d) => d.toJS() as K8sObject | null)
      .filter((o): o is K8sObject => o !== null);
  });

  it('keeps every object valid against its Kubernetes schema', () => {
    expect(injected.map((o) => o.kind).sort()).to.deep.equal([
      'Deployment',
      'Deployment',
      'HostGrant', // passed through untouched, like the Namespaces
      'Namespace',
      'Namespace',
    ]);
    for (const o of injected) validateObject(o);
  });

  it("gives my-other-application detour-init and the native detour-proxy, on the control plane's image", () => {
    const caller = podSpec(find(injected, 'Deployment', 'my-other-application'));
    const init = caller.initContainers ?? [];
    expect(init.map((c) => c.name).slice(0, 2)).to.deep.equal(['detour-init', 'detour-proxy']);
    expect(init[1]?.restartPolicy).to.equal('Always');
    expect(init.every((c) => c.image === image)).to.equal(true);
    expect(caller.containers.map((c) => c.name)).to.deep.equal(['my-other-application']);
  });
});
