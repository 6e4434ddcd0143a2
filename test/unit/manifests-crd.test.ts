import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ValidateFunction } from 'ajv';
import { parse } from 'yaml';
import { CustomResourceDefinition } from 'kubernetes-models/apiextensions.k8s.io/v1';
import {
  ROUTE_TABLE_API_VERSION,
  ROUTE_TABLE_GROUP,
  ROUTE_TABLE_KIND,
  ROUTE_TABLE_PLURAL,
  ROUTE_TABLE_VERSION,
  routeTableName,
  type RouteTableResource,
} from '../../shared/route-table-resource.js';
import { PLANE_LABEL } from '../../shared/labels.js';
import { REPO_ROOT } from '../support/cli.js';
import { closed, makeAjv, type SchemaNode } from '../support/crd-schema.js';

interface CrdVersion {
  name: string;
  served: boolean;
  storage: boolean;
  subresources?: { status?: object };
  additionalPrinterColumns?: { name: string; type: string; jsonPath: string }[];
  schema: { openAPIV3Schema: SchemaNode };
}

// Read straight from the file (no kubectl needed): the base adds nothing to the CRD.
const crd = parse(readFileSync(join(REPO_ROOT, 'manifests/base/crd.yaml'), 'utf8')) as {
  apiVersion: string;
  kind: string;
  metadata: { name: string };
  spec: {
    group: string;
    scope: string;
    names: { kind: string; plural: string };
    versions: CrdVersion[];
  };
};
const version = crd.spec.versions[0]!;
const schema = version.schema.openAPIV3Schema;

/** Every property path a schema declares: `.spec.routes[].host`, ... */
function schemaPaths(node: SchemaNode, path = ''): string[] {
  const own = path === '' ? [] : [path];
  if (path === '.metadata') return own;
  const fromProps = Object.entries(node.properties ?? {}).flatMap(([k, v]) =>
    schemaPaths(v, `${path}.${k}`),
  );
  const fromItems =
    node.items === undefined
      ? []
      : schemaPaths(node.items, `${path}[]`).filter((p) => p !== `${path}[]`);
  return [...own, ...fromProps, ...fromItems];
}

/** Every property path present in a value (arrays: the union over their items). */
function valuePaths(value: unknown, path = ''): string[] {
  const own = path === '' ? [] : [path];
  if (path === '.metadata') return own;
  if (Array.isArray(value)) {
    return [
      ...own,
      ...value.flatMap((item) => valuePaths(item, `${path}[]`).filter((p) => p !== `${path}[]`)),
    ];
  }
  if (typeof value === 'object' && value !== null) {
    return [...own, ...Object.entries(value).flatMap(([k, v]) => valuePaths(v, `${path}.${k}`))];
  }
  return own;
}

/** A table with every optional field filled; typed, so it is what the code produces. */
function sample(): RouteTableResource {
  return {
    apiVersion: ROUTE_TABLE_API_VERSION,
    kind: ROUTE_TABLE_KIND,
    metadata: {
      name: routeTableName('private'),
      namespace: 'my-namespace',
      labels: { [PLANE_LABEL]: 'private' },
      resourceVersion: '42',
      creationTimestamp: '2026-11-26T09:00:00Z',
      uid: '6f1c2a4e-0000-4000-8000-000000000001',
    },
    spec: {
      plane: 'private',
      apiKeyHashes: [
        {
          algorithm: 'scrypt',
          n: 16384,
          r: 8,
          p: 1,
          salt: 'kdOLLdKgvYkVapu7KmBikA==',
          hash: 'ikcZ9XOyL4cocVx6XrjJAGTkHG5UN1hmibb2/WeiDmo=',
        },
      ],
      apiKeySha256: ['0'.repeat(64)],
      routes: [
        {
          host: 'my-application.my-namespace',
          path: '/nodejs',
          claimedAt: '2026-11-26T08:59:00Z',
          endpoints: [
            { ip: '198.18.0.10', port: 3000, pod: 'my-application-7d9f-abcde' },
            { ip: '2001:db8::10', port: 3000, pod: 'my-application-7d9f-fghij' },
          ],
          // Maps are empty here: their keys are data, not fields (BAD checks the values).
          policy: {
            name: 'my-namespace/consumers',
            forwardAuth: {
              url: 'http://api-manager.apim.svc.cluster.local:8080/check',
              timeoutMs: 200,
              failureMode: 'open',
              requestHeaders: ['authorization'],
              responseHeaders: ['x-consumer-id'],
              cacheSeconds: 30,
            },
            rateLimit: { requests: 100, windowSeconds: 60, key: 'header:x-consumer-id' },
            requestHeaders: { set: {}, add: {}, remove: ['x-debug'] },
            responseHeaders: { set: {}, add: {}, remove: ['server'] },
          },
          enforcedAt: 'destination',
        },
        {
          host: '198.18.0.20',
          path: '/',
          claimedAt: '2026-11-26T08:59:00.123+01:00',
          endpoints: [],
        },
      ],
    },
    status: {
      skipped: [
        {
          namespace: 'my-namespace',
          pod: 'my-application-7d9f-abcde',
          annotation: 'privatePaths',
          value: '9999:/x',
          reason: 'PORT is not a declared containerPort of the pod',
        },
      ],
      conflicts: [
        { host: 'shared.example', path: '/api', winner: 'my-namespace', loser: 'late-namespace' },
      ],
      hosts: ['198.18.0.20', 'my-application.my-namespace'],
      routeCount: 2,
      conflictCount: 1,
    },
  };
}

type Mutation = (t: RouteTableResource) => void;

const BAD: Record<string, Mutation> = {
  'an upper-case host': (t) => (t.spec.routes[0]!.host = 'My-Application.my-namespace'),
  'a host with a port': (t) => (t.spec.routes[0]!.host = 'my-application.my-namespace:80'),
  'a wildcard host': (t) => (t.spec.routes[0]!.host = '*.my-namespace'),
  'a path without a leading /': (t) => (t.spec.routes[0]!.path = 'nodejs'),
  'a path with a trailing /': (t) => (t.spec.routes[0]!.path = '/nodejs/'),
  'a path with a query': (t) => (t.spec.routes[0]!.path = '/nodejs?x=1'),
  'a path with an empty segment': (t) => (t.spec.routes[0]!.path = '/a//b'),
  'port 0': (t) => (t.spec.routes[0]!.endpoints[0]!.port = 0),
  'port 65536': (t) => (t.spec.routes[0]!.endpoints[0]!.port = 65536),
  'a fractional port': (t) => (t.spec.routes[0]!.endpoints[0]!.port = 80.5),
  'an unknown plane': (t) => ((t.spec as { plane: string }).plane = 'dmz'),
  'a spec without routes': (t) => delete (t.spec as Partial<typeof t.spec>).routes,
  'a route without endpoints': (t) =>
    delete (t.spec.routes[0] as Partial<(typeof t.spec.routes)[0]>).endpoints,
  'an API-key digest that is not hex SHA-256': (t) => (t.spec.apiKeySha256 = ['not-a-digest']),
  'an API-key hash of another algorithm': (t) =>
    ((t.spec.apiKeyHashes![0] as { algorithm: string }).algorithm = 'sha256'),
  'an API-key hash with n above 2^17': (t) => (t.spec.apiKeyHashes![0]!.n = 2 ** 18),
  'an API-key hash without its salt': (t) =>
    delete (t.spec.apiKeyHashes![0] as { salt?: string }).salt,
  'an unknown enforcedAt': (t) =>
    ((t.spec.routes[0] as { enforcedAt: string }).enforcedAt = 'nowhere'),
  'a claimedAt that is not RFC 3339': (t) => (t.spec.routes[0]!.claimedAt = 'yesterday'),
  'a conflict without its loser': (t) =>
    delete (t.status!.conflicts[0] as Partial<(typeof t.status & object)['conflicts'][0]>).loser,
  'a negative route count': (t) => (t.status!.routeCount = -1),
  'a policy without its name': (t) => delete (t.spec.routes[0]!.policy as { name?: string }).name,
  'a policy with an unknown failureMode': (t) =>
    ((t.spec.routes[0]!.policy!.forwardAuth as { failureMode: string }).failureMode = 'maybe'),
  'a policy calling a non-HTTP auth URL': (t) =>
    (t.spec.routes[0]!.policy!.forwardAuth!.url = 'ftp://auth.example/'),
  'a policy with a zero rate window': (t) =>
    (t.spec.routes[0]!.policy!.rateLimit!.windowSeconds = 0),
  'a policy keyed by an unknown rate key': (t) =>
    ((t.spec.routes[0]!.policy!.rateLimit as { key: string }).key = 'cookie'),
  'a header rule setting a non-string value': (t) =>
    ((t.spec.routes[0]!.policy!.requestHeaders!.set as Record<string, unknown>)['x-n'] = 1),
};

describe('manifests: the RouteTable CRD', () => {
  let validate: ValidateFunction;
  let validateClosed: ValidateFunction;
  before(() => {
    validate = makeAjv().compile(schema);
    validateClosed = makeAjv().compile(closed(schema));
  });

  it('is a valid CustomResourceDefinition for detour.dev/v1alpha1 RouteTable', () => {
    new CustomResourceDefinition(crd).validate();
    expect(crd.metadata.name).to.equal(`${ROUTE_TABLE_PLURAL}.${ROUTE_TABLE_GROUP}`);
    expect(crd.spec.group).to.equal(ROUTE_TABLE_GROUP);
    expect(crd.spec.scope).to.equal('Namespaced');
    expect(crd.spec.names).to.deep.include({ kind: ROUTE_TABLE_KIND, plural: ROUTE_TABLE_PLURAL });
    expect(crd.spec.versions.map((v) => v.name)).to.deep.equal([ROUTE_TABLE_VERSION]);
    expect(version).to.deep.include({ served: true, storage: true });
    expect(version.subresources).to.deep.equal({ status: {} });
  });

  it('has a structural schema: every node typed, nothing left unknown', () => {
    // https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/custom-resource-definitions/#specifying-a-structural-schema
    const visit = (node: SchemaNode, path: string): void => {
      expect(node.type, `${path || '(root)'} has a type`).to.be.a('string');
      expect(node, path).to.not.have.any.keys('$ref', 'x-kubernetes-preserve-unknown-fields');
      // A map (header rules) is typed by its values' schema; `true`/`false` is not structural.
      if (node.additionalProperties !== undefined) {
        expect(node.additionalProperties, `${path} values`).to.be.an('object');
        expect(node.properties, `${path}: a map or an object, not both`).to.equal(undefined);
        visit(node.additionalProperties as SchemaNode, `${path}{}`);
      }
      for (const [k, v] of Object.entries(node.properties ?? {})) visit(v, `${path}.${k}`);
      if (node.items !== undefined) visit(node.items, `${path}[]`);
      if (node.type === 'array') expect(node.items, `${path} items`).to.not.equal(undefined);
    };
    visit(schema, '');
    expect(schema.properties?.metadata).to.deep.equal({ type: 'object' });
  });

  it('declares exactly the fields of shared/route-table-resource.ts', () => {
    // sample() sets every optional field and TypeScript forbids extra ones, so its paths
    // are the type's paths.
    const fromType = valuePaths(sample()).filter((p) => !p.startsWith('.metadata.'));
    expect(schemaPaths(schema).sort()).to.deep.equal([...new Set(fromType)].sort());
  });

  it('accepts a table built from the TypeScript types (and one with no optional fields)', () => {
    for (const v of [validate, validateClosed]) {
      expect(v(sample()), JSON.stringify(v.errors)).to.equal(true);
    }
    const minimal: RouteTableResource = {
      apiVersion: ROUTE_TABLE_API_VERSION,
      kind: ROUTE_TABLE_KIND,
      metadata: { name: routeTableName('public'), namespace: 'ns' },
      spec: { plane: 'public', routes: [] },
    };
    expect(validateClosed(minimal), JSON.stringify(validateClosed.errors)).to.equal(true);
  });

  for (const [what, mutate] of Object.entries(BAD)) {
    it(`rejects ${what}`, () => {
      const table = sample();
      mutate(table);
      expect(validate(table)).to.equal(false);
    });
  }

  it('prints Hosts, Routes and Age columns from fields the schema declares', () => {
    const columns = version.additionalPrinterColumns ?? [];
    expect(columns.map((c) => c.name)).to.include.members(['Hosts', 'Routes', 'Age']);
    const declared = new Set(schemaPaths(schema));
    for (const c of columns) {
      if (c.jsonPath === '.metadata.creationTimestamp') continue;
      expect(declared.has(c.jsonPath), c.jsonPath).to.equal(true);
    }
    expect(columns.find((c) => c.name === 'Age')).to.deep.include({
      type: 'date',
      jsonPath: '.metadata.creationTimestamp',
    });
  });
});
