import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ValidateFunction } from 'ajv';
import { parse } from 'yaml';
import { CustomResourceDefinition } from 'kubernetes-models/apiextensions.k8s.io/v1';
import {
  API_POLICY_KIND,
  API_POLICY_PLURAL,
  PROTECTED_HEADERS,
  parseApiPolicy,
} from '../../shared/api-policy.js';
import { ROUTE_TABLE_API_VERSION, ROUTE_TABLE_GROUP } from '../../shared/route-table-resource.js';
import { apiPolicyStatus, type ApiPolicyStatus } from '../../controller/api-policy-status.js';
import { REPO_ROOT } from '../support/cli.js';
import { closed, makeAjv, type SchemaNode } from '../support/crd-schema.js';

interface CrdVersion {
  name: string;
  subresources?: { status?: object };
  additionalPrinterColumns?: { name: string; jsonPath: string }[];
  schema: { openAPIV3Schema: SchemaNode };
}

const crd = parse(readFileSync(join(REPO_ROOT, 'manifests/base/crd-apipolicy.yaml'), 'utf8')) as {
  metadata: { name: string };
  spec: {
    group: string;
    scope: string;
    names: { kind: string; plural: string };
    versions: CrdVersion[];
  };
};
const version = crd.spec.versions[0];
const schema = version?.schema.openAPIV3Schema ?? {};

function policy(spec: Record<string, unknown>, status?: ApiPolicyStatus): Record<string, unknown> {
  return {
    apiVersion: ROUTE_TABLE_API_VERSION,
    kind: API_POLICY_KIND,
    metadata: { name: 'p', namespace: 'my-namespace' },
    spec,
    ...(status === undefined ? {} : { status }),
  };
}

/** DESIGN.md's example, every field set. */
const FULL = {
  hosts: ['my-application.my-namespace'],
  paths: ['/nodejs'],
  planes: ['private', 'public'],
  forwardAuth: {
    url: 'http://api-manager.apim.svc.cluster.local:8080/check',
    timeoutMs: 200,
    failureMode: 'closed',
    requestHeaders: ['authorization'],
    responseHeaders: ['x-consumer-id'],
    cacheSeconds: 0,
  },
  rateLimit: { requests: 100, per: 'minute', key: 'header:x-consumer-id' },
  requestHeaders: { set: { 'x-env': 'prod' }, add: { via: 'detour' }, remove: ['x-debug'] },
  responseHeaders: { set: {}, remove: ['server'] },
};

const GOOD: Record<string, Record<string, unknown>> = {
  'every field': FULL,
  'an empty spec (every route of the namespace, no steps)': {},
  'a host in capitals and an IPv4 host': { hosts: ['My-App.my-namespace', '198.18.0.10'] },
  'each rate-limit key': { rateLimit: { requests: 1, per: 'second', key: 'source-pod' } },
  'an https auth URL with a path and query': {
    forwardAuth: { url: 'https://auth.example:8443/v1/check?tenant=a' },
  },
};

/** Refused by the controller's zod schema; the CRD refuses them too. */
const BAD: Record<string, Record<string, unknown>> = {
  'a host with a port': { hosts: ['my-app.my-namespace:80'] },
  'a wildcard host': { hosts: ['*.my-namespace'] },
  'a relative path': { paths: ['nodejs'] },
  'no planes': { planes: [] },
  'an unknown plane': { planes: ['dmz'] },
  'an auth URL that is not http(s)': { forwardAuth: { url: 'ftp://auth.example/' } },
  'forwardAuth without its url': { forwardAuth: { timeoutMs: 100 } },
  'a timeout of 0': { forwardAuth: { url: 'http://a/', timeoutMs: 0 } },
  'a timeout over a minute': { forwardAuth: { url: 'http://a/', timeoutMs: 60_001 } },
  'an unknown failureMode': { forwardAuth: { url: 'http://a/', failureMode: 'maybe' } },
  'a cache longer than an hour': { forwardAuth: { url: 'http://a/', cacheSeconds: 3601 } },
  'a header name with a space': { forwardAuth: { url: 'http://a/', requestHeaders: ['x y'] } },
  'zero requests': { rateLimit: { requests: 0, per: 'minute' } },
  'a fractional rate': { rateLimit: { requests: 1.5, per: 'minute' } },
  'a rate per day': { rateLimit: { requests: 1, per: 'day' } },
  'a rate without per': { rateLimit: { requests: 1 } },
  'an unknown rate key': { rateLimit: { requests: 1, per: 'second', key: 'cookie:session' } },
  'a header rule value that is not a string': { requestHeaders: { set: { 'x-n': 1 } } },
  'an unknown field': { rateLimits: { requests: 1, per: 'second' } },
};

describe('manifests: the ApiPolicy CRD', () => {
  let validate: ValidateFunction;
  before(() => {
    validate = makeAjv().compile(closed(schema));
  });

  it('is a valid namespaced CustomResourceDefinition with a status subresource', () => {
    new CustomResourceDefinition(crd as never).validate();
    expect(crd.metadata.name).to.equal(`${API_POLICY_PLURAL}.${ROUTE_TABLE_GROUP}`);
    expect(crd.spec.scope).to.equal('Namespaced');
    expect(crd.spec.names).to.deep.include({ kind: API_POLICY_KIND, plural: API_POLICY_PLURAL });
    expect(version?.name).to.equal('v1alpha1');
    expect(version?.subresources).to.deep.equal({ status: {} });
  });

  it('prints hosts, the auth URL, the rate and Accepted from declared fields', () => {
    const columns = version?.additionalPrinterColumns ?? [];
    expect(columns.map((c) => c.name)).to.include.members([
      'Hosts',
      'Auth',
      'Rate',
      'Per',
      'Accepted',
      'Age',
    ]);
    const byName = Object.fromEntries(columns.map((c) => [c.name, c.jsonPath]));
    expect(byName.Auth).to.equal('.spec.forwardAuth.url');
    expect(byName.Accepted).to.equal('.status.conditions[?(@.type=="Accepted")].status');
  });

  for (const [what, spec] of Object.entries(GOOD)) {
    it(`accepts ${what}, as the controller does`, () => {
      expect(validate(policy(spec)), JSON.stringify(validate.errors)).to.equal(true);
      const parsed = parseApiPolicy('my-namespace/p', spec, 'x-routing-api-key');
      expect(parsed.ok, parsed.ok ? '' : parsed.problem).to.equal(true);
    });
  }

  for (const [what, spec] of Object.entries(BAD)) {
    it(`rejects ${what}, as the controller does`, () => {
      expect(validate(policy(spec))).to.equal(false);
      expect(parseApiPolicy('my-namespace/p', spec, 'x-routing-api-key').ok).to.equal(false);
    });
  }

  it('refuses the same hop-by-hop and framing header names by CEL as the controller does', () => {
    const items =
      schema.properties?.spec?.properties?.forwardAuth?.properties?.requestHeaders?.items;
    const [rule] = (items?.['x-kubernetes-validations'] ?? []) as { rule: string }[];
    const listed = [...(rule?.rule ?? '').matchAll(/'([^']+)'/g)].map((m) => m[1]);
    expect(listed.sort()).to.deep.equal([...PROTECTED_HEADERS].sort());
    const parsed = parseApiPolicy(
      'my-namespace/p',
      { requestHeaders: { remove: ['Connection'] } },
      'k',
    );
    expect(parsed.ok ? '' : parsed.problem).to.match(
      /^spec\.requestHeaders\.remove\.0: a hop-by-hop/,
    );
  });

  it('defaults the optional forwardAuth and rateLimit fields as the controller does', () => {
    const fa = schema.properties?.spec?.properties?.forwardAuth?.properties ?? {};
    const rl = schema.properties?.spec?.properties?.rateLimit?.properties ?? {};
    const parsed = parseApiPolicy(
      'my-namespace/p',
      { forwardAuth: { url: 'http://a/' }, rateLimit: { requests: 1, per: 'hour' } },
      'k',
    );
    if (!parsed.ok) throw new Error(parsed.problem);
    expect({
      timeoutMs: fa.timeoutMs?.default,
      failureMode: fa.failureMode?.default,
      cacheSeconds: fa.cacheSeconds?.default,
      key: rl.key?.default,
    }).to.deep.equal({
      timeoutMs: parsed.policy.forwardAuth?.timeoutMs,
      failureMode: parsed.policy.forwardAuth?.failureMode,
      cacheSeconds: parsed.policy.forwardAuth?.cacheSeconds,
      key: parsed.policy.rateLimit?.key,
    });
  });

  it('accepts the status the controller writes (metav1.Condition shape), and refuses a bad one', () => {
    const status = apiPolicyStatus(
      {
        namespace: 'my-namespace',
        name: 'p',
        generation: 2,
        reportedBy: 'private',
        problem: undefined,
        routes: ['my-application.my-namespace/nodejs'],
        lost: [{ route: 'a.my-namespace/', winner: 'my-namespace/q', because: 'it is older' }],
      },
      undefined,
      '2026-11-30T00:00:00Z',
    );
    expect(validate(policy({}, status)), JSON.stringify(validate.errors)).to.equal(true);
    const bad = structuredClone(status);
    (bad.conditions[0] as { status: string }).status = 'Yes';
    expect(validate(policy({}, bad))).to.equal(false);
    const conditions = schema.properties?.status?.properties?.conditions;
    expect(conditions?.['x-kubernetes-list-type']).to.equal('map');
    expect(conditions?.['x-kubernetes-list-map-keys']).to.deep.equal(['type']);
  });
});
