import { expect } from 'chai';
import { readFileSync, readdirSync } from 'node:fs';
import { Ajv, type ValidateFunction } from 'ajv';
import { parse } from 'yaml';
import { compile } from '../../shared/compile.js';
import { loadPlaneConfig } from '../../shared/plane-config.js';
import type { RouteTableResource } from '../../shared/route-table-resource.js';
import { parseClusterYaml } from '../../sidecar/sources/cluster-yaml.js';
import { RouteTable } from '../../sidecar/route-table.js';
import { apiKeySecret, routablePod } from '../support/routable-pod.js';

/**
 * Whatever the annotations say, the compiler's output must be accepted by the API
 * server (manifests/base/crd.yaml), and a table read back must route as compiled.
 * The fuzz is seeded, so a failure reproduces.
 */
const CRD = new URL('../../manifests/base/crd.yaml', import.meta.url);
const TESTDATA = new URL('../testdata/compile/', import.meta.url);
const SEED = new URL('../../manifests/examples/seed/cluster.yaml', import.meta.url);

function validator(): ValidateFunction {
  const crd = parse(readFileSync(CRD, 'utf8')) as {
    spec: { versions: { schema: { openAPIV3Schema: object } }[] };
  };
  const ajv = new Ajv({ allErrors: true, strict: false });
  ajv.addFormat('date-time', /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/);
  const schema = crd.spec.versions[0]?.schema.openAPIV3Schema;
  if (schema === undefined) throw new Error('no schema in the CRD');
  return ajv.compile(schema);
}

/** mulberry32: a tiny seeded PRNG. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const PIECES = [
  'a',
  'B',
  'x1',
  '-',
  '.',
  '..',
  '/',
  '//',
  ':',
  '3000',
  '80',
  '*',
  '_',
  '%2f',
  '%41',
  '%',
  '?',
  '#',
  '~',
  '1.2.3.4',
  '256',
  '[',
  ']',
  'ns',
  '/api',
  '/./',
  '/../',
  ' ',
  '\t',
  'é',
];

function garbage(next: () => number, length: number): string {
  let text = '';
  for (let i = 0; i < length; i++) text += PIECES[Math.floor(next() * PIECES.length)] ?? '';
  return text;
}

describe('compile output vs the RouteTable CRD', () => {
  let validate: ValidateFunction;
  before(() => {
    validate = validator();
  });

  const check = (tables: RouteTableResource[]): void => {
    for (const t of tables) {
      expect(validate(t), `${t.metadata.namespace}: ${JSON.stringify(validate.errors)}`).to.equal(
        true,
      );
    }
  };

  it('validates the golden inputs and the seed example, both planes', () => {
    const files = [
      SEED,
      ...readdirSync(TESTDATA)
        .filter((f) => f.endsWith('.yaml') && !/\.(routetables|apipolicies)\.yaml$/.test(f))
        .map((f) => new URL(f, TESTDATA)),
    ];
    for (const file of files) {
      const objects = parseClusterYaml(readFileSync(file, 'utf8'), file.pathname);
      for (const plane of ['private', 'public'] as const) {
        check(compile(objects, loadPlaneConfig(plane, {})));
      }
    }
  });

  it('validates tables compiled from 300 pods of random annotations, which route as compiled', () => {
    const next = random(20240101);
    // Open host policy: the fuzz wants namespaces colliding on hosts like h1.ns.
    const config = loadPlaneConfig('private', { DETOUR_HOST_POLICY: 'open' });
    const pods = Array.from({ length: 300 }, (_, i) => {
      const hosts = Array.from({ length: 3 }, () =>
        next() < 0.5 ? `h${Math.floor(next() * 5)}.ns` : garbage(next, 1 + Math.floor(next() * 4)),
      ).join(' ');
      const paths = Array.from({ length: 3 }, () =>
        next() < 0.5
          ? `3000:/p${Math.floor(next() * 5)}${garbage(next, Math.floor(next() * 3))}`
          : garbage(next, 1 + Math.floor(next() * 5)),
      ).join(' ');
      return routablePod({
        name: `pod-${i}`,
        namespace: `ns-${i % 7}`,
        ip: `127.0.${i % 250}.${(i % 200) + 1}`,
        hosts,
        paths,
        created: new Date(Date.UTC(2024, 0, 1 + (i % 30))),
      });
    });
    const tables = compile(
      { pods, secrets: [apiKeySecret('ns-1', { 'private-api-key': garbage(next, 5) })] },
      config,
    );
    expect(tables.flatMap((t) => t.spec.routes).length).to.be.greaterThan(10);
    expect(tables.flatMap((t) => t.status?.skipped ?? []).length).to.be.greaterThan(10);
    check(tables);

    // Every compiled route is what the table matches for its own host and path.
    const table = RouteTable.fromResources(tables);
    for (const t of tables) {
      for (const route of t.spec.routes) {
        const m = table.match(route.host, route.path);
        expect(m.kind === 'route' && m.route.namespace, `${route.host}${route.path}`).to.equal(
          t.metadata.namespace,
        );
      }
    }
    // Conflicts were resolved once, in the compiler: merging adds none.
    expect(table.conflicts.length).to.equal(
      new Set(tables.flatMap((t) => (t.status?.conflicts ?? []).map((c) => JSON.stringify(c))))
        .size,
    );
  });
});
