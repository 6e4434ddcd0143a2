import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ValidateFunction } from 'ajv';
import { parse } from 'yaml';
import { CustomResourceDefinition } from 'kubernetes-models/apiextensions.k8s.io/v1';
import {
  HOST_GRANT_API_VERSION,
  HOST_GRANT_GROUP,
  HOST_GRANT_KIND,
  HOST_GRANT_PLURAL,
  parseHostGrant,
} from '../../shared/host-grant.js';
import { REPO_ROOT } from '../support/cli.js';
import { closed, makeAjv, type SchemaNode } from '../support/crd-schema.js';

const crd = parse(readFileSync(join(REPO_ROOT, 'manifests/base/crd-hostgrant.yaml'), 'utf8')) as {
  metadata: { name: string };
  spec: {
    group: string;
    scope: string;
    names: { kind: string; plural: string };
    versions: {
      name: string;
      additionalPrinterColumns?: { name: string; jsonPath: string }[];
      schema: { openAPIV3Schema: SchemaNode };
    }[];
  };
};
const version = crd.spec.versions[0];
const schema = version?.schema.openAPIV3Schema ?? {};

function grant(spec: Record<string, unknown>): Record<string, unknown> {
  return {
    apiVersion: HOST_GRANT_API_VERSION,
    kind: HOST_GRANT_KIND,
    metadata: { name: 'g' },
    spec,
  };
}

const GOOD: Record<string, Record<string, unknown>> = {
  'namespaces and exact hosts': { namespaces: ['shop'], hosts: ['api.example.com', '10.0.0.1'] },
  'a selector with every operator and a wildcard host, in one plane': {
    namespaceSelector: {
      matchLabels: { team: 'web' },
      matchExpressions: [
        { key: 'tier', operator: 'In', values: ['prod'] },
        { key: 'legacy', operator: 'DoesNotExist' },
      ],
    },
    hosts: ['*.partners.example'],
    planes: ['public'],
  },
  'an empty selector (every namespace)': { namespaceSelector: {}, hosts: ['a.example'] },
};

/** Refused by the compiler's schema; the CRD refuses them too (the last one by CEL). */
const BAD: Record<string, Record<string, unknown>> = {
  'no hosts': { namespaces: ['shop'], hosts: [] },
  'a host with a port': { namespaces: ['shop'], hosts: ['a.example:80'] },
  'an upper-case host': { namespaces: ['shop'], hosts: ['A.example'] },
  'a bare *': { namespaces: ['shop'], hosts: ['*'] },
  'a wildcard inside a name': { namespaces: ['shop'], hosts: ['a.*.example'] },
  'an unknown plane': { namespaces: ['shop'], hosts: ['a.example'], planes: ['dmz'] },
  'an unknown operator': {
    namespaceSelector: { matchExpressions: [{ key: 'a', operator: 'Gt' }] },
    hosts: ['a.example'],
  },
  'a namespace name that is not a DNS label': { namespaces: ['Shop'], hosts: ['a.example'] },
};

describe('manifests: the HostGrant CRD', () => {
  let validate: ValidateFunction;
  before(() => {
    validate = makeAjv().compile(closed(schema));
  });

  it('is a valid cluster-scoped CustomResourceDefinition for detour.dev/v1alpha1 HostGrant', () => {
    new CustomResourceDefinition(crd as never).validate();
    expect(crd.metadata.name).to.equal(`${HOST_GRANT_PLURAL}.${HOST_GRANT_GROUP}`);
    expect(crd.spec.scope).to.equal('Cluster');
    expect(crd.spec.names).to.deep.include({ kind: HOST_GRANT_KIND, plural: HOST_GRANT_PLURAL });
    expect(version?.additionalPrinterColumns?.map((c) => c.name)).to.include.members([
      'Hosts',
      'Namespaces',
      'Planes',
      'Age',
    ]);
  });

  for (const [what, spec] of Object.entries(GOOD)) {
    it(`accepts ${what}, as the compiler does`, () => {
      expect(validate(grant(spec)), JSON.stringify(validate.errors)).to.equal(true);
      expect(parseHostGrant(grant(spec)).ok).to.equal(true);
    });
  }

  for (const [what, spec] of Object.entries(BAD)) {
    it(`rejects ${what}, as the compiler does`, () => {
      expect(validate(grant(spec))).to.equal(false);
      expect(parseHostGrant(grant(spec)).ok).to.equal(false);
    });
  }

  it('requires namespaces or namespaceSelector (CEL in the CRD, refine in the compiler)', () => {
    const rules = (schema.properties?.spec?.['x-kubernetes-validations'] ?? []) as {
      rule: string;
    }[];
    expect(rules.map((r) => r.rule)).to.deep.equal([
      'has(self.namespaces) || has(self.namespaceSelector)',
    ]);
    const parsed = parseHostGrant(grant({ hosts: ['a.example'] }));
    expect(parsed.ok).to.equal(false);
    expect(parsed.ok ? '' : parsed.problem).to.contain('set namespaces or namespaceSelector');
  });
});
