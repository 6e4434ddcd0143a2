import { expect } from 'chai';
import { explain, formatExplanation } from '../../sidecar/explain.js';
import { RouteTable } from '../../sidecar/route-table.js';
import { compile } from '../../shared/compile.js';
import { loadPlaneConfig } from '../../shared/plane-config.js';
import { apiKeySecret, routablePod } from '../support/routable-pod.js';
import { privateTable } from '../support/route-tables.js';

const config = loadPlaneConfig('private', {});
const table = RouteTable.fromResources(
  compile(
    {
      pods: [
        routablePod({
          name: 'a1',
          ip: '127.0.0.11',
          hosts: 'my-application.my-namespace',
          paths: '3000:/nodejs 3000:/nodejs/api',
        }),
        routablePod({
          name: 'a2',
          ip: '127.0.0.12',
          hosts: 'my-application.my-namespace bad:1',
          paths: '3000:/nodejs',
        }),
        routablePod({
          name: 'k',
          namespace: 'keyed',
          ip: '127.0.0.13',
          hosts: 'keyed.example',
          paths: '3000:/',
          created: '2020-01-01T00:00:00Z',
        }),
        routablePod({
          name: 'late',
          namespace: 'later',
          ip: '127.0.0.14',
          hosts: 'keyed.example',
          paths: '3000:/',
        }),
        routablePod({
          name: 'typo',
          namespace: 'later',
          ip: '127.0.0.15',
          hosts: 'typo.example:8080',
          paths: '3000:/',
        }),
      ],
      secrets: [apiKeySecret('keyed', { 'private-api-key': 'k' })],
      hostGrants: [
        {
          apiVersion: 'detour.dev/v1alpha1',
          kind: 'HostGrant',
          metadata: { name: 'keyed-example' },
          spec: { namespaces: ['keyed', 'later'], hosts: ['keyed.example'] },
        },
      ],
    },
    config,
  ),
);
const sidecar = {
  mode: 'sidecar',
  apiKeyHeader: 'x-routing-api-key',
  clientMaxBodySize: 1048576,
} as const;
const gateway = { ...sidecar, mode: 'gateway' } as const;

describe('explain', () => {
  it('names the route, the endpoints and the policies of a matched URL', () => {
    const e = explain(table, 'http://My-Application.my-namespace:80/nodejs/hello?x=1', sidecar);
    expect(e.outcome).to.equal('route');
    expect(e.host).to.equal('my-application.my-namespace');
    expect(e.route).to.deep.include({
      id: 'my-application.my-namespace/nodejs',
      namespace: 'my-namespace',
      enforcedAt: 'caller', // the pods' status says nothing about inbound enforcement
    });
    expect(e.route?.endpoints).to.deep.equal([
      { key: '127.0.0.11:3000', pod: 'a1' },
      { key: '127.0.0.12:3000', pod: 'a2' },
    ]);
    expect(e.policies).to.deep.equal({
      apiKey: { required: false, header: 'x-routing-api-key' },
      clientMaxBodySize: 1048576,
    });
    expect(e.reasons.join('\n')).to.contain('path /nodejs/hello matches route /nodejs');
    expect(e.tableVersion).to.equal(table.version);
  });

  it('picks the longest prefix, as the proxy does', () => {
    expect(
      explain(table, 'my-application.my-namespace/nodejs/api/v1', sidecar).route?.path,
    ).to.equal('/nodejs/api');
  });

  it('reports an API key requirement and a cross-namespace conflict', () => {
    const e = explain(table, 'http://keyed.example/', sidecar);
    expect(e.route?.namespace).to.equal('keyed');
    expect(e.policies?.apiKey.required).to.equal(true);
    const text = e.reasons.join('\n');
    expect(text).to.contain('header x-routing-api-key');
    expect(text).to.contain(
      'namespace later also claims keyed.example/; the older claim of keyed wins',
    );
  });

  it('answers 404 for a known host and an unknown path, listing the paths', () => {
    const e = explain(table, 'http://my-application.my-namespace/nodejsfoo', sidecar);
    expect(e).to.deep.include({ outcome: 'unknown-path', status: 404 });
    expect(e.reasons[0]).to.contain('/nodejs /nodejs/api');
  });

  it('passes unknown hosts through in sidecar mode and answers 404 in gateway mode', () => {
    expect(explain(table, 'http://example.org/', sidecar).outcome).to.equal('passthrough');
    expect(explain(table, 'http://example.org/', gateway)).to.deep.include({
      outcome: 'unknown-host',
      status: 404,
    });
  });

  it('points at a skipped entry that mentions the unknown host', () => {
    const e = explain(table, 'http://typo.example/', sidecar);
    expect(e.reasons.join('\n')).to.contain(
      'pod later/typo announced "typo.example:8080" in privateHosts, skipped: a host must not carry a port',
    );
  });

  it('explains a route without endpoints as 503', () => {
    const empty = RouteTable.fromResources([privateTable('ns', [{ host: 'h', path: '/' }])]);
    expect(explain(empty, 'http://h/x', sidecar)).to.deep.include({
      outcome: 'no-endpoint',
      status: 503,
    });
  });

  it('does not throw on a URL it cannot read', () => {
    expect(explain(table, 'http://', sidecar).outcome).to.equal('invalid-url');
    expect(explain(table, 'http://[bad/', sidecar).outcome).to.equal('invalid-url');
  });

  it('formats for people', () => {
    const text = formatExplanation(explain(table, 'http://keyed.example/x', sidecar));
    expect(text.split('\n')[0]).to.equal(
      `http://keyed.example/x (sidecar mode, table v${table.version})`,
    );
    expect(text).to.contain('  -> keyed.example/ in namespace keyed\n');
    expect(text).to.match(/^ {2}- API key required/m);
  });

  it('is JSON-able', () => {
    const e = explain(table, 'http://keyed.example/x', sidecar);
    expect(JSON.parse(JSON.stringify(e))).to.deep.equal(e);
  });
});

describe('explain: ApiPolicy steps and enforcement at the destination', () => {
  const withPolicy = RouteTable.fromResources([
    privateTable('apim', [
      {
        host: 'api.apim',
        path: '/',
        enforcedAt: 'destination',
        endpoints: [{ ip: '127.0.0.2', port: 80, pod: 'api-0' }],
        policy: {
          name: 'apim/gold',
          forwardAuth: {
            url: 'http://auth.apim.svc:8080/check',
            timeoutMs: 200,
            failureMode: 'closed',
            responseHeaders: ['x-consumer-id'],
            cacheSeconds: 5,
          },
          rateLimit: { requests: 100, windowSeconds: 60, key: 'header:x-consumer-id' },
          requestHeaders: { set: { 'x-env': 'prod' }, add: {}, remove: ['x-debug'] },
        },
      },
    ]),
  ]);

  it('lists the policy and each step it would run, in order', () => {
    const e = explain(withPolicy, 'http://api.apim/orders', {
      mode: 'gateway',
      apiKeyHeader: 'x-routing-api-key',
      clientMaxBodySize: 0,
    });
    expect(e.policies?.apiPolicy?.name).to.equal('apim/gold');
    expect(e.policies?.apiPolicy?.steps.map((s) => s.step)).to.deep.equal([
      'forward-auth',
      'rate-limit',
      'request-headers',
    ]);
    const text = formatExplanation(e);
    expect(text).to.contain('ApiPolicy apim/gold applies');
    expect(text).to.contain('GET http://auth.apim.svc:8080/check (timeout 200 ms');
    expect(text).to.contain('at most 100 requests per 60 s per header:x-consumer-id');
    expect(text).to.contain('set x-env: prod; remove x-debug');
    expect(text).to.not.contain('enforced at the destination');
  });

  it('says a sidecar leaves the checks to the destination when it enforces', () => {
    const e = explain(withPolicy, 'http://api.apim/orders', {
      mode: 'sidecar',
      apiKeyHeader: 'x-routing-api-key',
      clientMaxBodySize: 0,
    });
    expect(e.route?.enforcedAt).to.equal('destination');
    expect(e.reasons.join('\n')).to.contain('enforced at the destination');
  });
});
