import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { INSTALL } from '../../ops/install-names.js';
import { REPO_ROOT } from '../support/cli.js';

interface Doc {
  kind: string;
  metadata: { name: string; namespace?: string };
  spec?: {
    template?: {
      spec?: { containers?: { name: string; env?: { name: string }[] }[] };
    };
  };
}

/** Every object of manifests/base, read from the files (no kustomize needed). */
function baseObjects(): Doc[] {
  const kustomization = parseAllDocuments(
    readFileSync(join(REPO_ROOT, 'manifests/base/kustomization.yaml'), 'utf8'),
  )[0]?.toJS() as { resources: string[] };
  return kustomization.resources.flatMap((file) =>
    parseAllDocuments(readFileSync(join(REPO_ROOT, 'manifests/base', file), 'utf8')).map(
      (d) => d.toJS() as Doc,
    ),
  );
}

describe('detour check looks for the names manifests/base installs', () => {
  const objects = baseObjects();
  const named = (kind: string): string[] =>
    objects.filter((o) => o.kind === kind).map((o) => o.metadata.name);

  it('the CRDs, the Deployment, its webhook container and its image env, the MWC', () => {
    expect(named('CustomResourceDefinition')).to.include.members([...INSTALL.crds]);
    const deployment = objects.find(
      (o) => o.kind === 'Deployment' && o.metadata.name === INSTALL.deployment,
    );
    expect(deployment?.metadata.namespace).to.equal(INSTALL.namespace);
    const webhook = deployment?.spec?.template?.spec?.containers?.find(
      (c) => c.name === INSTALL.webhookContainer,
    );
    expect(webhook?.env?.map((e) => e.name)).to.include(INSTALL.proxyImageEnv);
    expect(named('MutatingWebhookConfiguration')).to.deep.equal([
      INSTALL.mutatingWebhookConfiguration,
    ]);
  });
});
