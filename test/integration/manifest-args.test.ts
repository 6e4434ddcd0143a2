import { expect } from 'chai';
import { runDetour } from '../support/cli.js';
import {
  CONTROL_PLANE_KUSTOMIZATIONS,
  hasKubectl,
  ofKind,
  render,
  type K8sObject,
} from '../support/manifests.js';

interface Container {
  name: string;
  args?: string[];
}

function containers(o: K8sObject): Container[] {
  return (o.spec as { template: { spec: { containers: Container[] } } }).template.spec.containers;
}

/**
 * The manifests start detour with `args` only (the image's ENTRYPOINT is `detour`), so a
 * flag renamed in the code but not in the manifests would crash-loop in a cluster and
 * nowhere else. Every command and flag the rendered manifests pass must be one that
 * `detour <command> --help` documents.
 */
describe('manifests: container args are real detour commands and flags', function () {
  this.timeout(120_000);
  before(function () {
    if (!hasKubectl()) {
      console.log('    (skipped: kubectl, which ships kustomize, is not on PATH)');
      this.skip();
    }
  });

  it('every workload of every control-plane kustomization', async () => {
    const used = new Map<string, Set<string>>();
    for (const kustomization of CONTROL_PLANE_KUSTOMIZATIONS) {
      const objects = await render(kustomization);
      for (const w of [...ofKind(objects, 'Deployment'), ...ofKind(objects, 'DaemonSet')]) {
        for (const c of containers(w)) {
          const [command, ...rest] = c.args ?? [];
          expect(command, `${kustomization}: ${w.metadata.name}/${c.name}`).to.be.a('string');
          const flags = used.get(command!) ?? new Set<string>();
          for (const arg of rest.filter((a) => a.startsWith('--'))) flags.add(arg);
          used.set(command!, flags);
        }
      }
    }
    expect([...used.keys()].sort()).to.deep.equal(['controller', 'proxy', 'webhook']);
    for (const [command, flags] of used) {
      const help = await runDetour([command, '--help']);
      expect(help.code, `detour ${command} --help: ${help.stderr}`).to.equal(0);
      for (const flag of flags) {
        expect(help.stdout, `detour ${command} documents ${flag}`).to.match(
          new RegExp(`${flag}[\\s=\\]]`),
        );
      }
    }
  });

  it('the webhook patches the MutatingWebhookConfiguration the manifests create', async () => {
    const objects = await render('manifests/base');
    const [mwc] = ofKind(objects, 'MutatingWebhookConfiguration');
    const help = await runDetour(['webhook', '--help']);
    expect(help.stdout).to.contain(`--mwc-name ${mwc!.metadata.name}`);
  });
});
